"""Scripted shoppers for the dialogue layer: topic changes, negation, references, cart requests, typos and colour
families, each written from the catalog under test (never from a fixed list of the demo's words) and each checked on
what the shop did, not on the reply's wording.

    from assistant.evaluation.scenarios import run_scenarios
    run_scenarios(assistant, products, n=100, seed=0)   # {"topic_change": {"n": 100, "ok": 0.97, ...}, ...}

The scenarios (a scenario a catalog cannot script, e.g. budgets without prices or colour families without colours,
is skipped and reported with n = 0):
- topic_change: "I'm looking for <A> under $B", then "actually, show me <C> instead": every product shown is a C,
  and the budget still holds (a goal survives a change of product).
- negation: "<A>", then "not <the first shown product's brand>": that brand is gone and the products are still As.
- reference: "<A>", then "tell me more about the second one": the turn is a question about exactly that product.
- cart: "<A>", then "add the first one to my cart": the shop's cart received exactly that product.
- typo: "<A with one letter dropped> undr <B> dolars": every product shown is an A within the budget.
- colour_family: "<A> in <family>" where the catalog has a shade of that family ("Sky Blue" for "blue"): every
  product shown has a colour of the family.
- more: "<A>", then "any other suggestions?" (or "show me more", "what else do you have?"): no product shown first
  is shown again as a match, every match is an A, or the reply says that was everything.
The assistant must have its act classifier (the pipeline's own); cart requests are recorded by `on_cart`.
"""
from __future__ import annotations

import math
from collections import defaultdict
from functools import partial
from typing import Callable

import numpy as np

from assistant.dialogue.vocabulary import colour_families
from catalog.schema import Product

SCENARIOS = ("topic_change", "negation", "reference", "cart", "typo", "colour_family", "more")
MORE = ("any other suggestions?", "show me more", "what else do you have?")
Script = tuple[list[str], Callable[[list], bool]]  # the messages, and the check on the list of turns


def _typo(phrase: str, rng: np.random.Generator) -> str:
    """One interior letter dropped from the phrase's longest word (of five letters or more)."""
    words = phrase.split()
    i = max(range(len(words)), key=lambda k: len(words[k]))
    word = words[i]
    if len(word) < 5:
        return phrase
    cut = int(rng.integers(1, len(word) - 1))
    words[i] = word[:cut] + word[cut + 1:]
    return " ".join(words)


def _budget(*products: Product) -> int:
    return int(math.ceil(max(p.price for p in products) * 1.25))


def scripts(products: list[Product], phrase: Callable[[str], str], n: int, seed: int) -> dict[str, list[Script]]:
    """Up to n scripts per scenario, drawn from the catalog with a seeded generator."""
    rng = np.random.default_rng(seed)
    by_category: dict[str, list[Product]] = defaultdict(list)
    for p in products:
        if p.category:
            by_category[p.category].append(p)
    categories = sorted(c for c, ps in by_category.items() if len(ps) >= 4)
    out: dict[str, list[Script]] = {name: [] for name in SCENARIOS}
    if len(categories) < 2:
        return out
    priced = any(p.price for p in products)
    for _ in range(n):
        a, c = (categories[int(i)] for i in rng.choice(len(categories), 2, replace=False))
        pa, pc = by_category[a][int(rng.integers(len(by_category[a])))], by_category[c][int(rng.integers(len(by_category[c])))]
        if priced and pa.price and pc.price:
            budget = _budget(pa, pc)
            out["topic_change"].append(([f"I'm looking for {phrase(a)} under ${budget}",
                                         f"actually, show me {phrase(c)} instead"], partial(_within, 1, c, budget)))
            budget_a = _budget(pa)
            out["typo"].append(([f"{_typo(phrase(a), rng)} undr {budget_a} dolars"], partial(_within, 0, a, budget_a)))
        elif not priced:
            out["typo"].append(([f"I'm looking for {_typo(phrase(a), rng)}"], partial(_within, 0, a, None)))
        if len({p.brand for p in by_category[a] if p.brand}) >= 2:
            out["negation"].append(([f"I'm looking for {phrase(a)}", "{brand0}"], _negation(a)))
        out["reference"].append(([f"I'm looking for {phrase(a)}", "tell me more about the second one"], _reference))
        out["cart"].append(([f"I'm looking for {phrase(a)}", "add the first one to my cart"], _cart))
        out["more"].append(([f"I'm looking for {phrase(a)}", MORE[int(rng.integers(len(MORE)))]], partial(_more, a)))
    shades = [(p, fam) for p in products for fam in sorted(colour_families(str(p.attributes.get("colour") or "")))
              if str(p.attributes.get("colour")).lower() != fam and p.category]
    for i in rng.permutation(len(shades))[:n] if shades else []:
        p, family = shades[int(i)]
        out["colour_family"].append(([f"{phrase(p.category)} in {family}"], partial(_in_family, family)))
    return out


def _all(turn, check: Callable[[Product], bool]) -> bool:
    shown = [r.product for r in turn.products]
    return bool(shown) and all(check(p) for p in shown)


def _within(turn: int, category: str, budget: float | None, t) -> bool:
    """Every product shown at `turn` is in the category and (when a budget was said) within it."""
    return _all(t[turn], lambda p: p.category == category and (
        budget is None or p.price is None or p.price <= budget + 0.005))


def _in_family(family: str, t) -> bool:
    return _all(t[0], lambda p: family in colour_families(str(p.attributes.get("colour") or "")))


def _negation(category: str):
    def check(t) -> bool:
        first = [r.product for r in t[0].products]
        return bool(first) and _all(t[1], lambda p: p.category == category and p.brand != first[0].brand)
    return check


def _reference(t) -> bool:
    first = [r.product for r in t[0].products]
    return len(first) > 1 and t[1].kind == "ask_product" and [r.product.id for r in t[1].products] == [first[1].id]


def _cart(t) -> bool:
    first = [r.product for r in t[0].products]
    added = [a.get("product_id") for a in t[1].actions if a.get("type") == "add_to_cart" and a.get("ok")]
    return bool(first) and t[1].kind == "cart" and added == [first[0].id]


def _more(category: str, t) -> bool:
    first = {r.product.id for r in t[0].products}
    if "everything I have" in t[1].reply:  # nothing more matches: said so (the list on screen may stay)
        return bool(first)
    again = [r.product for r in t[1].products if r.matches]
    return bool(first and again) and all(p.id not in first and p.category == category for p in again)


def run_scenarios(assistant, products: list[Product], phrase: Callable[[str], str], n: int = 100,
                  seed: int = 0) -> dict:
    """Every scenario's scripts through `assistant` (one session each); the share whose check passes."""
    result = {}
    for name, items in scripts(products, phrase, n, seed).items():
        passed, failures = 0, []
        for k, (messages, check) in enumerate(items):
            session, turns = f"scenario-{name}-{k}", []
            for message in messages:
                if message == "{brand0}":  # the brand is the one the shopper just saw first
                    shown = turns[-1].products if turns else []
                    message = f"not {shown[0].product.brand}" if shown and shown[0].product.brand else "not that brand"
                turns.append(assistant.chat(session, message))
            ok = check(turns)
            passed += ok
            if not ok and len(failures) < 3:
                failures.append([[m, t.kind, [r.product.title[:40] for r in t.products][:2]]
                                 for m, t in zip(messages, turns)])
            assistant.reset(session)
        result[name] = {"n": len(items), "ok": round(passed / len(items), 4) if items else None, "failures": failures}
    return result
