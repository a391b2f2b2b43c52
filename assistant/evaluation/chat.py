"""Scripted multi-turn shoppers: does the assistant carry context and respect what the shopper asked for?

    python -m assistant.evaluate chat                                   # demo catalog + ../shared/data/amazon-scientific
    python -m assistant.evaluate chat --data ../shared/data/amazon-scientific --shoppers 300 --json

Each shopper has a target product and reveals it over three turns in one session: its category ("I'm looking
for duct tape"), then its brand ("from 3M, please"), then a distinguishing detail from its title ("the one with
heavy-duty"). After each turn we record hit@4 (the target among the products shown) and whether every product
shown satisfies the constraints stated so far (the target's category after turn 1; category and brand after
turns 2 and 3; the detail is a preference, not a constraint). Replies come from the template backend: this
measures understanding, retrieval and ranking, not the wording.
"""
from __future__ import annotations

import argparse
import os
import re
import time
from collections import Counter, defaultdict
from functools import partial
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from assistant.dialogue.acts import ActClassifier
from assistant.evaluation.report import report
from assistant.evaluation.scenarios import SCENARIOS, run_scenarios
from assistant.pipeline import Assistant
from assistant.recsys.features import split_item_text
from assistant.reply.template import TemplateBackend
from catalog.clean import clean_row
from catalog.config import CatalogConfig
from catalog.demo import generate_products
from catalog.index import ProductIndex
from catalog.schema import Product

WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
STOP = {"a", "an", "and", "the", "for", "with", "of", "in", "to", "by", "on", "x", "pack", "pcs", "set", "inch", "new"}
DEFAULT_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "amazon-scientific"


class ChatDataError(Exception):
    pass


# ----------------------------------------------------------------------------- catalogs

def demo_products(n: int = 1200) -> list[Product]:
    return generate_products(n)


def recbole_products(folder: str) -> list[Product]:
    """Products of a RecBole-style folder (<Name>.text: "<title>. <category words>. <brand>.")."""
    texts = sorted(Path(folder).glob("*.text")) if os.path.isdir(folder) else []
    if not texts:
        raise ChatDataError(f"no <Name>.text file in {folder}")
    products = []
    with texts[0].open(encoding="utf-8") as f:
        next(f, None)
        for line in f:
            item, _, text = line.rstrip("\n").partition("\t")
            title, category, brand = split_item_text(text)
            product, _, _ = clean_row({"id": item, "title": title, "category": category, "brand": brand})
            if product is not None:
                products.append(product)
    return products


# ----------------------------------------------------------------------------- shoppers

def category_phrase(category: str, all_categories: set[str]) -> str:
    """What a shopper calls the category: the leaf of a "A > B" path; for a flat path of words (Amazon's), the
    shortest ending of two or more words that no other category ends with."""
    if ">" in category:
        return category.split(">")[-1].strip().lower()
    words = category.split()
    for n in range(2, len(words) + 1):
        ending = " ".join(words[-n:])
        if not any(c != category and c.endswith(ending) for c in all_categories):
            return ending.lower()
    return category.lower()


def _title_words(p: Product) -> list[str]:
    brand = {w.lower() for w in WORD.findall(p.brand)}
    return [w.lower() for w in WORD.findall(p.title) if w.lower() not in STOP and w.lower() not in brand and len(w) > 1]


def make_shoppers(products: list[Product], n: int, seed: int = 0) -> list[dict]:
    """Targets with a brand and a category, sampled at random; the detail is the target's title word that is
    rarest among the products sharing its category and brand (what would tell them apart)."""
    groups: dict[tuple[str, str], list[Product]] = defaultdict(list)
    for p in products:
        groups[(p.category, p.brand.lower())].append(p)
    categories = {p.category for p in products if p.category}
    eligible = [p for p in products if p.brand and p.category and _title_words(p)]
    if not eligible:
        raise ChatDataError("no product has a brand, a category and title words: nothing to script")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(eligible), size=min(n, len(eligible)), replace=False)
    shoppers = []
    for i in picked:
        target = eligible[int(i)]
        peers = groups[(target.category, target.brand.lower())]
        df = Counter(w for p in peers for w in set(_title_words(p)))
        cat_words = {w.lower() for w in WORD.findall(target.category)}
        words = [w for w in _title_words(target) if w not in cat_words] or _title_words(target)
        detail = min(words, key=lambda w: (df[w], -len(w)))
        shoppers.append({"target": target.id, "category": target.category, "brand": target.brand,
                         "turns": [f"I'm looking for {category_phrase(target.category, categories)}",
                                   f"from {target.brand}, please", f"the one with {detail}"]})
    return shoppers


def satisfies(p: Product, shopper: dict, turn: int) -> bool:
    ok = p.category == shopper["category"]
    if turn >= 1:  # "Shop-Vac" and "Shop Vac" are one brand spelled two ways in the same catalog
        ok = ok and _brand_key(p.brand) == _brand_key(shopper["brand"])
    return ok


def _brand_key(brand: str) -> str:
    return re.sub(r"[^a-z0-9]", "", brand.lower())


# ----------------------------------------------------------------------------- running them

def run_shoppers(assistant, shoppers: list[dict], progress: bool = True) -> dict:
    turns = len(shoppers[0]["turns"]) if shoppers else 3
    hits = np.zeros((len(shoppers), turns))
    compliant = np.zeros((len(shoppers), turns))
    latencies, words, replaced = [], [], []
    for n, shopper in enumerate(tqdm(shoppers, desc="shoppers", disable=not progress, mininterval=2)):
        session = f"eval-{n}"
        for t, message in enumerate(shopper["turns"]):
            t0 = time.perf_counter()
            turn = assistant.chat(session, message)
            shown = [r.product for r in turn.products]
            latencies.append(time.perf_counter() - t0)
            words.append(len(turn.reply.split()))
            replaced.append(not turn.grounded)  # the model's reply failed the verifier: the template answered
            hits[n, t] = any(p.id == shopper["target"] for p in shown)
            compliant[n, t] = bool(shown) and all(satisfies(p, shopper, t) for p in shown)
        assistant.reset(session)
    return {"shoppers": len(shoppers),
            "hit@4": {f"turn{t + 1}": round(float(hits[:, t].mean()), 4) for t in range(turns)},
            "constraints_satisfied": {f"turn{t + 1}": round(float(compliant[:, t].mean()), 4) for t in range(turns)},
            "constraints_satisfied_all_turns": round(float(compliant.mean()), 4),
            "turn_p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1) if latencies else None,
            "reply_words": {"median": float(np.median(words)), "p95": float(np.percentile(words, 95))} if words else None,
            "replaced_by_template": round(float(np.mean(replaced)), 4) if replaced else None,
            "examples": [s["turns"] for s in shoppers[:3]]}


def open_index(name: str, products: list[Product], cache_dir: str, log=print):
    """An index of the catalog in cache_dir/<name>, re-used across runs (unchanged products are not re-embedded)."""
    index = ProductIndex(CatalogConfig(data_dir=os.path.join(cache_dir, name), chroma_url=None))
    stats = index.upsert(products, delete_missing=True, progress=False)
    log(f"{name}: {len(products)} products, {stats.added + stats.updated} embedded ({stats.embed_seconds:.0f}s)")
    return index


def evaluate_chat(data: list[str], demo: bool = True, shoppers: int = 200, seed: int = 0, cache_dir: str | None = None,
                  progress: bool = True, log=print, backend=None) -> dict:
    cache_dir = cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "shop-assistant", "chat-eval")
    catalogs = [("demo", demo_products)] if demo else []
    catalogs += [(os.path.basename(os.path.normpath(d)), lambda d=d: recbole_products(d)) for d in data]
    if not catalogs:
        raise ChatDataError("nothing to evaluate: give --data or keep the demo catalog")
    result = {"seed": seed, "backend": (backend or TemplateBackend()).name, "catalogs": {}}
    acts = ActClassifier.load()
    for name, load in catalogs:
        products = load()
        index = open_index(name, products, cache_dir, log)
        # As the app runs it: the act classifier reads every message; cart requests always succeed here.
        assistant = Assistant(index, backend=backend or TemplateBackend(), acts=acts, on_cart=lambda *_: True)
        t0 = time.perf_counter()
        result["catalogs"][name] = run_shoppers(assistant, make_shoppers(products, shoppers, seed), progress)
        categories = {p.category for p in products if p.category}
        result["catalogs"][name]["scenarios"] = run_scenarios(
            assistant, products, partial(category_phrase, all_categories=categories), shoppers, seed)
        result["catalogs"][name]["products"] = len(products)
        result["catalogs"][name]["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def format_table(result: dict) -> str:
    lines = [f"replies: {result.get('backend', 'template')}",
             f"{'catalog':<12} {'shoppers':>8}   hit@4 t1 / t2 / t3     constraints ok t1 / t2 / t3   "
             f"reply words median/p95   replaced by template"]
    for name, r in result["catalogs"].items():
        h, c, w = r["hit@4"], r["constraints_satisfied"], r["reply_words"] or {"median": 0, "p95": 0}
        lines.append(f"{name:<12} {r['shoppers']:>8}   {h['turn1']:.3f} / {h['turn2']:.3f} / {h['turn3']:.3f}"
                     f"    {c['turn1']:.3f} / {c['turn2']:.3f} / {c['turn3']:.3f}"
                     f"       {w['median']:>5.0f} / {w['p95']:<5.0f}          {r['replaced_by_template'] or 0:.3f}")
    lines += ["", f"{'scenario':<14} " + " ".join(f"{name:>16}" for name in result["catalogs"])]
    for scenario in SCENARIOS:
        cells = []
        for r in result["catalogs"].values():
            s = r["scenarios"][scenario]
            cells.append(f"{s['ok']:.3f} (n={s['n']})" if s["n"] else "n/a")
        lines.append(f"{scenario:<14} " + " ".join(f"{c:>16}" for c in cells))
    return "\n".join(lines)


def run_chat(args: argparse.Namespace) -> int:
    data = args.data if args.data is not None else ([str(DEFAULT_SHARED)] if DEFAULT_SHARED.is_dir() else [])
    def run(log):
        backend = None
        if args.backend == "local":
            from assistant.reply.backends import LocalLMBackend  # lazy: loads torch and the model

            backend = LocalLMBackend(args.llm_model)
        return evaluate_chat(data, demo=not args.no_demo, shoppers=args.shoppers, seed=args.seed,
                             cache_dir=args.cache, progress=not args.json, log=log, backend=backend)

    return report(args, run, format_table, (ChatDataError,))


def add_chat_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("chat", help="scripted three-turn shoppers: hit@4 per turn and constraint compliance")
    p.add_argument("--data", action="append", default=None, metavar="DIR",
                   help="a RecBole-style catalog folder (repeatable; default: ../shared/data/amazon-scientific if present)")
    p.add_argument("--no-demo", action="store_true", help="skip the built-in demo catalog")
    p.add_argument("--shoppers", type=int, default=200, help="scripted shoppers per catalog")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default=None, help="where the evaluation indexes are kept between runs")
    p.add_argument("--backend", choices=("template", "local"), default="template",
                   help="who writes the replies: the template (default) or the local model (slow on CPU)")
    p.add_argument("--llm-model", default=None, help="with --backend local: HF id or path (default: packaged SmolLM2)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the table")
    p.set_defaults(func=run_chat)
