"""The shape of the code, checked: layers import downwards only, serving never imports training or evaluation, no
import cycles (function-level imports included), no module over 500 lines, no function over 80 lines.

    serving -> pipeline (ranking, events) -> dialogue / reply / recsys -> catalog
"""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("assistant", "catalog")
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 500, 80
TRAINING = {"assistant.recsys.train", "assistant.recsys.train_sequence", "assistant.train", "assistant.dialogue.train_acts"}
# What each part may import from the project (besides itself). reply may use dialogue's guards for untrusted text.
ALLOWED = {
    "catalog": {"catalog"},
    "assistant.dialogue": {"assistant.dialogue", "catalog"},
    "assistant.reply": {"assistant.reply", "assistant.dialogue", "catalog"},
    "assistant.recsys": {"assistant.recsys", "catalog"},
    "assistant.events": {"catalog"},
    "assistant.ranking": {"assistant.events", "assistant.dialogue", "assistant.recsys", "assistant.reply", "catalog"},
    "assistant.sessions": {"assistant.dialogue", "catalog"},
    "assistant.pipeline": {"assistant.events", "assistant.ranking", "assistant.dialogue", "assistant.reply",
                           "assistant.sessions", "catalog"},
    "assistant.serving": {"assistant.serving", "assistant.pipeline", "assistant.ranking", "assistant.events",
                          "assistant.sessions",
                          "assistant.dialogue", "assistant.reply", "assistant.recsys", "catalog"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(p for p in parts if p != "__init__")] = path
    return out


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.split(".")[0] in PACKAGES}


def _owner(module: str) -> str | None:
    return max((part for part in ALLOWED if module == part or module.startswith(part + ".")), key=len, default=None)


MODULES = _modules()
IMPORTS = {name: {i for i in _imports(path) if i in MODULES} for name, path in MODULES.items()}


def test_layers_import_downwards_only():
    wrong = []
    for module, imported in IMPORTS.items():
        owner = _owner(module)
        if owner is None:  # the command lines (assistant.train, assistant.evaluate) and evaluation may use anything
            continue
        for target in imported:
            if not any(target == a or target.startswith(a + ".") for a in ALLOWED[owner]):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_nothing_but_the_command_lines_imports_training_or_evaluation():
    wrong = [f"{m} imports {t}" for m, ts in IMPORTS.items() for t in ts
             if (t in TRAINING or t.startswith("assistant.evaluation")) and m not in TRAINING
             and not m.startswith("assistant.evaluation") and m not in ("assistant.evaluate",)]
    assert wrong == []


def test_no_import_cycles():
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(IMPORTS.get(node, ())):
            if state.get(nxt) == 1:
                cycle.extend(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, stack + [nxt]):
                return True
        state[node] = 2
        return False

    for module in sorted(IMPORTS):
        if state.get(module) is None and visit(module, [module]):
            break
    assert cycle == []


def test_modules_and_functions_stay_small():
    long_modules = [f"{n}: {len(p.read_text().splitlines())} lines" for n, p in MODULES.items()
                    if len(p.read_text().splitlines()) > MAX_MODULE_LINES]
    long_functions = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name}: {length} lines")
    assert long_modules == [] and long_functions == []


def test_every_package_says_what_it_owns_and_may_import():
    for package in ("assistant", "assistant.serving", "assistant.dialogue", "assistant.reply", "assistant.recsys",
                    "assistant.evaluation", "catalog"):
        doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8")))
        assert doc and "import" in doc, package
