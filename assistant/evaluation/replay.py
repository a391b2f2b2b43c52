"""Real messages nobody here wrote, replayed through the whole shop (Shop.chat: dialogue, retrieval, policies, the
reply model and its verifier) as shoppers would send them; every final reply, what a shopper would read, is checked
for invented facts by a checker written apart from the verifier, so the verifier does not grade itself.

    python -m assistant.evaluate replay --data ../shared/data                      # the default model, SmolLM2
    python -m assistant.evaluate replay --data ../shared/data --backend template --per-set 50 --json

Sets, on the demo shop (its 1,200 products and 10 policies, built once in --cache): the SIMMC 2.1 mini dialogues
(each one session, the user turns in order), and --per-set single-message sessions each of Bitext service requests,
CLINC150 val out-of-scope requests and ESCI shopping queries (a fixed random sample, --seed).

What counts as invented (the facts are what the shop showed or quoted for that turn, plus the shopper's message):
- price: a money amount in the reply ("$12.99", "12 dollars", "USD 12") that is no shown product's price (to the
  cent) and appears in no quoted policy, constraint text, notice or the message;
- store: a retailer's name (the list below) not in the facts;
- contact: an e-mail address, phone number or web address not in the facts;
- product: one of the catalog's brands named in the reply that no shown product has and the message does not say.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
from pathlib import Path

from assistant.evaluation.report import report
from assistant.evaluation.simmc import load_dialogues

STORES = ("amazon", "walmart", "ebay", "best buy", "bestbuy", "target", "costco", "sears", "home depot", "ikea", "etsy",
          "aliexpress", "alibaba", "kohl's", "macy's", "newegg", "wayfair", "zappos", "rei", "decathlon", "argos",
          "currys", "lowe's", "staples", "temu", "shein")
MONEY = re.compile(r"(?:[$€£]\s?(\d{1,7}(?:,\d{3})*(?:\.\d{1,2})?))|(?:\b(\d{1,7}(?:\.\d{1,2})?)\s?(?:dollars|usd|euros?|pounds)\b)"
                   r"|(?:\b(?:usd|eur|gbp)\s?(\d{1,7}(?:\.\d{1,2})?))", re.I)
EMAIL = re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,6}\b")
PHONE = re.compile(r"(?<![\w$.])\+?\d[\d\s().-]{6,18}\d(?![\w%])")
URL = re.compile(r"\b(?:https?://|www\.)\S{1,200}|\b[a-z0-9-]{2,63}\.(?:com|net|org|io|co|shop|store)\b", re.I)


class ReplayDataError(ValueError):
    pass


def _amounts(text: str) -> set[float]:
    return {round(float(next(g for g in m.groups() if g).replace(",", "")), 2) for m in MONEY.finditer(text)}


def invented(reply: str, facts: str, prices: set[float], brands: list[str], shown_brands: set[str]) -> dict[str, list]:
    """What the reply says that the facts do not (see the module docstring); facts is every fact text in one."""
    low_reply, low_facts = reply.lower(), facts.lower()
    out = {"price": sorted(a for a in _amounts(reply) if a not in prices and a not in _amounts(facts)),
           "store": [s for s in STORES if re.search(rf"\b{re.escape(s)}\b", low_reply) and s not in low_facts],
           "contact": [m.group(0) for pattern in (EMAIL, PHONE, URL) for m in pattern.finditer(reply)
                       if m.group(0).lower() not in low_facts and sum(c.isdigit() for c in m.group(0)) != 4],
           "product": [b for b in brands if b not in shown_brands and len(b) > 3
                       and re.search(rf"\b{re.escape(b.lower())}\b", low_reply) and b.lower() not in low_facts]}
    out["contact"] = [c for c in out["contact"] if not _amounts(c)]  # "$1,299.99" is a price, not a phone
    return {k: v for k, v in out.items() if v}


def _sets(data_dir: Path, per_set: int, seed: int) -> dict[str, list[list[str]]]:
    """set name -> sessions, each a list of the shopper's messages in order."""
    from assistant.evaluation.retrieval import load_esci

    rng = random.Random(seed)
    need = [data_dir / "customer-service-intents" / "bitext_customer_service_8k.csv",
            data_dir / "clinc150" / "clinc150_train_val.json", data_dir / "esci-shopping-queries"]
    if missing := [str(p) for p in need if not p.exists()]:
        raise ReplayDataError(f"not found: {', '.join(missing)}")
    sets = {"simmc dialogues": [[t["transcript"] for t in d["dialogue"]] for d in load_dialogues(data_dir)]}
    with open(need[0], encoding="utf-8") as f:
        bitext = [r["utterance"] for r in csv.DictReader(f) if r.get("utterance")]
    oos = [t for t, _ in json.loads(need[1].read_text(encoding="utf-8"))["oos_val"]]
    _, judged = load_esci(str(need[2]))
    queries = sorted({q for q, _, _ in judged})
    for name, texts in (("bitext service", bitext), ("clinc out-of-scope", oos), ("esci queries", queries)):
        # Bitext keeps {{Order Number}}-style placeholders: a shopper would have written something there.
        sets[name] = [[re.sub(r"\{\{[^}]*\}\}", "it", t)] for t in rng.sample(texts, min(per_set, len(texts)))]
    return sets


def replay(data_dir: str, backend_kind: str = "local", per_set: int = 30, seed: int = 0, cache_dir: str | None = None,
           llm_model: str | None = None, log=print) -> dict:
    from assistant.recsys.train import ensure_fast_predictor
    from assistant.reply.backends import make_backend
    from assistant.serving.shop import load_shop
    from catalog.config import CatalogConfig

    sets = _sets(Path(data_dir), per_set, seed)
    cache = cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "shop-assistant", "replay-shop")
    backend = make_backend(backend_kind, **({"model": llm_model} if backend_kind == "local" else {}))
    shop = load_shop(CatalogConfig(data_dir=cache), backend=backend, log=log, prepare=ensure_fast_predictor)
    brands = list(shop.assistant.vocab.brands)
    result = {"backend": backend.name, "seed": seed, "sets": {}}
    for name, sessions in sets.items():
        turns, replaced, words, found = 0, 0, [], {"price": [], "store": [], "contact": [], "product": []}
        for n, messages in enumerate(sessions):
            session = f"replay-{seed}-{name}-{n}"
            for message in messages:
                turn = shop.chat(session, message)
                products = [r.product for r in turn.products]
                facts = "\n".join([message, turn.constraints, *turn.notices, *(s["text"] for s in turn.policy_snippets),
                                   *(f"{p.title} {p.brand} {p.description}" for p in products)])
                prices = {round(p.price, 2) for p in products if p.price is not None}
                for kind, values in invented(turn.reply, facts, prices, brands, {p.brand for p in products}).items():
                    found[kind].append({"message": message, "reply": turn.reply, kind: values})
                turns += 1
                replaced += not turn.grounded
                words.append(len(turn.reply.split()))
            log(f"{name}: {n + 1}/{len(sessions)} sessions")
        result["sets"][name] = {"sessions": len(sessions), "turns": turns,
                                "replaced_by_template": round(replaced / max(turns, 1), 4),
                                "reply_words_median": sorted(words)[len(words) // 2] if words else 0,
                                **{f"invented_{k}": len(v) for k, v in found.items()},
                                "examples": {k: v[:3] for k, v in found.items() if v}}
    return result


def format_table(result: dict) -> str:
    lines = [f"replies: {result['backend']} (every final reply checked; invented = turns with at least one)",
             f"{'set':<20} {'turns':>5} {'replaced':>9} {'words':>6} {'price':>6} {'store':>6} {'contact':>8} "
             f"{'product':>8}"]
    for name, r in result["sets"].items():
        lines.append(f"{name:<20} {r['turns']:>5} {r['replaced_by_template']:>9.3f} {r['reply_words_median']:>6} "
                     f"{r['invented_price']:>6} {r['invented_store']:>6} {r['invented_contact']:>8} "
                     f"{r['invented_product']:>8}")
    for name, r in result["sets"].items():
        for kind, examples in r["examples"].items():
            for e in examples[:2]:
                lines.append(f"  {name} {kind}: {e[kind]} in {e['reply'][:160]!r} (to {e['message'][:60]!r})")
    return "\n".join(lines)


def add_replay_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("replay", help="real messages through the whole shop; invented prices, stores, "
                                             "contacts and products in the final replies")
    p.add_argument("--data", default="../shared/data", help="the shared data folder")
    p.add_argument("--backend", choices=("local", "template"), default="local")
    p.add_argument("--llm-model", default=None, help="with --backend local: HF id or path (default: packaged SmolLM2)")
    p.add_argument("--per-set", type=int, default=30, help="single-message sessions per Bitext, CLINC and ESCI set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default=None, help="where the demo shop is built once and kept")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the table")
    p.set_defaults(func=lambda args: report(args, lambda log: replay(
        args.data, args.backend, args.per_set, args.seed, args.cache, args.llm_model, log), format_table,
        (ReplayDataError,)))
