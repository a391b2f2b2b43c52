"""Every regular expression that reads user text runs in linear time (the server once froze on one message: an
e-mail pattern rescanned a long run of letters from every start, quadratic in the message length).

The patterns are collected from the modules rather than listed by hand, so a new one is checked without anyone
remembering to: every compiled pattern at module level in assistant/ and catalog/, inside lists, tuples and
dicts too, and the patterns the dialogue layer builds from a catalog's vocabulary. Each runs (finditer, the way
the code uses them) over adversarial texts made of the characters patterns like to repeat; the time for a text
four times longer must grow about four times, not sixteen.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
import time

import pytest

SHORT, LONG = 1_000, 4_000  # the dialogue layer reads at most 1,000 characters; chat input is capped at 2,000
PIECES = ["a", "1", " ", "a ", "1 ", "a1", "1,", "1.", ".a", "a@", "@a", "$1", "$", "-", "--", "#", "<", "<a", "|",
          "ab cd ", "the ", "not ", "ignore ", "i g n o r e ", "under $1 ", "1-", "a-", "x" * 7 + " ", "ab.", "'", "\n",
          "\n#", ":", "(1", "1)", "&", "&amp;", "and ", "or ", "size ", "us 1", "star ", "4 stars ", "cheap ", "one ",
          "first ", "it ", "that one ", "more like ", "+1 ", "00", "1 1", "a.b@c.", "system: ", "<|", "[INST]", "~"]


def _modules() -> list:
    names = []
    for package in ("assistant", "catalog"):
        pkg = importlib.import_module(package)
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=package + ".") if not m.ispkg]
    skip = ("__main__",)
    return [importlib.import_module(n) for n in names if not n.endswith(skip)]


def _patterns_in(value, depth: int = 0):
    if isinstance(value, re.Pattern):
        yield value
    elif depth < 3 and isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from _patterns_in(v, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for v in value.values():
            yield from _patterns_in(v, depth + 1)


def collect_patterns() -> dict[str, re.Pattern]:
    found: dict[str, re.Pattern] = {}
    for module in _modules():
        for name, value in vars(module).items():
            for n, pattern in enumerate(_patterns_in(value)):
                found.setdefault(f"{module.__name__}.{name}[{n}]", pattern)
    return found


def _vocabulary_patterns() -> dict[str, re.Pattern]:
    """The patterns built from a catalog (brands, features, sizes ...), for a demo-sized catalog."""
    from assistant.dialogue.vocabulary import Vocabulary
    from catalog.demo import generate_products

    vocab = Vocabulary.from_products(generate_products(300, seed=1))
    return {f"Vocabulary.{k}": v for k, v in vars(vocab).items() if isinstance(v, re.Pattern)}


def _elapsed(pattern: re.Pattern, text: str) -> float:
    best = float("inf")  # the best of three: another process on the machine only ever adds time
    for _ in range(3):
        start = time.perf_counter()
        for _ in pattern.finditer(text):
            pass
        best = min(best, time.perf_counter() - start)
    return best


def _texts(n: int) -> list[str]:
    return [(piece * (n // len(piece) + 1))[:n] for piece in PIECES] + [(p + "b") * (n // (len(p) + 1)) for p in ("a", "1")]


def worst_growth(pattern: re.Pattern) -> tuple[float, str, float]:
    """The largest time ratio long/short over the adversarial texts, the piece that caused it and its time."""
    worst = (0.0, "", 0.0)
    for short, long_ in zip(_texts(SHORT), _texts(LONG)):
        t_short, t_long = _elapsed(pattern, short), _elapsed(pattern, long_)
        ratio = t_long / max(t_short, 5e-4)  # below 0.5 ms, noise decides the ratio
        if ratio > worst[0]:
            worst = (ratio, short[:12], t_long)
    return worst


ALL = {**collect_patterns(), **_vocabulary_patterns()}


def test_the_patterns_are_found():
    assert len(ALL) > 150
    assert any("serving.chatlog.EMAIL" in name for name in ALL) and any("Vocabulary.brand_re" in name for name in ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_pattern_runs_in_linear_time(name):
    ratio, piece, t_long = worst_growth(ALL[name])
    # Linear: x4. Quadratic: x16. The bound leaves room for a busy machine, and a pattern that takes under
    # 30 ms on the long text cannot stall the server whatever its ratio.
    assert ratio < 9 or t_long < 0.03, f"{name}: {ratio:.1f}x slower on 4x the text {piece!r}... ({t_long * 1000:.0f} ms)"
