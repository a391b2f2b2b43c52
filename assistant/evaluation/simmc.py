"""SIMMC 2.1 dialogues through the whole dialogue layer: the act classifier and the session state together, turn by
turn, as the pipeline runs them (assistant/pipeline.py: classify with what is on screen, then update_context).

    from assistant.evaluation.simmc import evaluate_simmc
    evaluate_simmc(classifier, "../shared/data")   # {"acts": {...}, "slots": {...}}

Why a second SIMMC measure beside assistant/evaluation/dialogue.py: that one scores the classifier on each message
alone; a shop never sees a message alone. Search against refine, in particular, is the state's call (is the message
about the products on screen and their kind of product?), and a bare "the grey one" is a pick only because products
are on screen.

The showroom as a catalog: SIMMC's mini split has no item metadata, so its ontology (every type, colour, brand,
pattern and size its annotations name, the way DSTC hands trackers an ontology) becomes a small catalog, one
product per (type, brand, colour) round; the vocabulary is read from it exactly as from a shop's catalog. The objects
a system turn refers to are what is on screen next, as products of the type the system turn talks about.

Slot F1 compares, on the turns the pipeline treats as a search or refinement, the constraints the search runs under
after the turn (carried ones included: SIMMC's slot values are the shopper's standing request, "What else can you
show me?" is annotated type=jeans) with the turn's gold slot values; on other turns (a pick, a question, a cart
request) nothing is applied, so nothing is predicted. Names: type -> category, color -> colour, brand, size, price
(an amount within 1%; "cheap", "affordable" -> prefer cheaper; "expensive" -> prefer pricier), customerReview "good"
-> a minimum rating, pattern -> a feature word. Slots we do not model (sleeveLength, availableSizes) count as misses
in "all slots" and are left out of "modelled slots"; both are reported.
"""
from __future__ import annotations

import json
from collections import Counter
from itertools import cycle
from pathlib import Path

from assistant.dialogue.acts import ActClassifier
from assistant.dialogue.constraints import Constraints
from assistant.dialogue.context import SessionState, update_context
from assistant.dialogue.train_acts import ActDataError
from assistant.dialogue.vocabulary import Vocabulary
from catalog.schema import Product

SIMMC = "simmc2.1-mini/simmc2.1_dials_dstc11_mini.json"
SIMMC_ACTS = {"REQUEST:GET": "search", "INFORM:REFINE": "refine", "ASK:GET": "ask_product",
              "REQUEST:COMPARE": "compare", "REQUEST:ADD_TO_CART": "cart", "INFORM:GET": "refine",
              "INFORM:DISAMBIGUATE": "ask_product"}
MODELLED = ("type", "color", "brand", "size", "price", "customerReview", "pattern")
CHEAP_WORDS = {"cheap", "affordable", "inexpensive", "budget"}
NOT_FEATURE_KEYS = {"price_target", "prefer_cheaper", "prefer_pricier", "avoid_colour"}


def load_dialogues(data_dir: str | Path) -> list[dict]:
    path = Path(data_dir) / SIMMC
    if not path.is_file():
        raise ActDataError(f"{path} not found")
    return json.loads(path.read_text(encoding="utf-8"))["dialogue_data"]


def _slot_values(annotated: dict) -> dict[str, object]:
    """A turn's own slot values (a system turn's per-object values, "Object ID: 36": {...}, are facts, not slots)."""
    return {k: v for k, v in annotated.get("act_attributes", {}).get("slot_values", {}).items()
            if not k.startswith("Object ID")}


def showroom_catalog(dialogues: list[dict]) -> list[Product]:
    """The ontology of every annotated turn (user and system) as products; see the module docstring."""
    seen: dict[str, Counter] = {k: Counter() for k in ("type", "color", "brand", "pattern", "size")}
    for d in dialogues:
        for turn in d["dialogue"]:
            for annotated in (turn["transcript_annotated"], turn.get("system_transcript_annotated", {})):
                for key, value in _slot_values(annotated).items():
                    values = value if isinstance(value, list) else [value]
                    if key == "availableSizes":
                        key = "size"
                    if key in seen:
                        seen[key].update(str(v) for v in values)
    types = sorted(seen["type"])
    brands, colours = cycle(sorted(seen["brand"]) or [""]), cycle(sorted(seen["color"]) or [""])
    patterns, sizes = cycle(sorted(seen["pattern"]) or [""]), cycle(sorted(seen["size"]) or [""])
    rounds = max(len(seen["brand"]), len(seen["color"]), len(seen["pattern"]), len(seen["size"]), 1)
    products = []
    for _ in range(rounds):
        for t in types:
            colour, pattern = next(colours), next(patterns)
            products.append(Product(id=f"s{len(products)}", title=f"{pattern} {colour} {t}".strip(), category=t.title(),
                                    brand=next(brands), price=50.0, attributes={"colour": colour, "size": next(sizes)},
                                    tags=[pattern] if pattern else []))
    return products


def _gold_slots(values: dict[str, object], modelled_only: bool) -> set[tuple[str, str]]:
    out = set()
    for key, value in values.items():
        if modelled_only and key not in MODELLED:
            continue
        for v in value if isinstance(value, list) else [value]:
            out.add((key, str(v).lower()))
    return out


def _state_slots(c: Constraints, gold: dict[str, object]) -> set[tuple[str, str]]:
    """The constraints a search runs under after the turn, in SIMMC's slot names (a price matched to the gold
    amount within 1%, else written out)."""
    out = set()
    if c.category:
        out.add(("type", c.category.lower()))
    if c.colour:
        out.add(("color", c.colour.lower()))
    out |= {("brand", b.lower()) for b in c.brands}
    if c.size:
        out.add(("size", c.size.lower()))
    wanted = str(gold.get("price", "")).lower()
    amounts = [a for a in (c.soft.get("price_target"), c.max_price, c.min_price) if isinstance(a, float)]
    if amounts:
        a = amounts[0]
        try:
            close = abs(float(wanted) - a) <= 0.01 * a
        except ValueError:
            close = False
        out.add(("price", wanted if close else f"{a:g}"))
    elif "prefer_cheaper" in c.soft:
        out.add(("price", wanted if wanted in CHEAP_WORDS else "cheaper"))
    elif "prefer_pricier" in c.soft:
        out.add(("price", wanted if wanted == "expensive" else "pricier"))
    if c.min_rating is not None:
        out.add(("customerReview", "good"))
    out |= {("pattern", k.lower()) for k in c.soft if k not in NOT_FEATURE_KEYS}
    return out


def _f1(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "gold": tp + fn}


def evaluate_simmc(classifier: ActClassifier, data_dir: str | Path) -> dict:
    """Per-turn act accuracy with the session state, and slot F1 (see the module docstring)."""
    dialogues = load_dialogues(data_dir)
    vocab = Vocabulary.from_products(showroom_catalog(dialogues))
    hits, rows, slot_rows = Counter(), [], []
    counts = {name: Counter() for name in ("all", "modelled")}
    per_slot: dict[str, Counter] = {}
    for d in dialogues:
        state = SessionState()
        system_type = None
        for turn in d["dialogue"]:
            text, gold_act = turn["transcript"], SIMMC_ACTS[turn["transcript_annotated"]["act"]]
            gold = _slot_values(turn["transcript_annotated"])
            act = classifier.predict(text, shown=bool(state.shown)).act
            ctx = update_context(state, text, vocab, act=act)
            kind = ctx.kind
            hits[gold_act, kind == gold_act] += 1
            if kind != gold_act:
                rows.append([text, gold_act, kind])
            # The pipeline applies a message's constraints only to a search or refinement; "the grey one" is a pick.
            predicted = _state_slots(ctx.constraints, gold) if kind in ("search", "refine") else set()
            every, modelled = _gold_slots(gold, False), _gold_slots(gold, True)
            if predicted != modelled:
                slot_rows.append([text, sorted(every), sorted(predicted)])
            for name, g in (("all", every), ("modelled", modelled)):
                counts[name].update(tp=len(g & predicted), fp=len(predicted - g), fn=len(g - predicted))
            for key, value in every | predicted:
                c = per_slot.setdefault(key, Counter())
                c["tp" if (key, value) in predicted and (key, value) in every else
                  "fp" if (key, value) in predicted else "fn"] += 1
            system = turn.get("system_transcript_annotated", {})
            system_type = str(_slot_values(system).get("type", system_type or "item"))
            objects = system.get("act_attributes", {}).get("objects") or []
            if objects:  # what the system's answer points at is on screen for the next turn
                state.record_shown([Product(id=f"o{o}", title=f"{system_type} {o}", category=system_type.title())
                                    for o in objects])
    n = sum(hits.values())
    per_act = {a: round(hits[a, True] / (hits[a, True] + hits[a, False]), 4)
               for a in sorted({a for a, _ in hits})}
    return {"acts": {"n": n, "accuracy": round(sum(v for (a, ok), v in hits.items() if ok) / n, 4),
                     "recall_per_act": per_act, "errors": rows},
            "slots": {"all": _f1(**counts["all"]), "modelled": _f1(**counts["modelled"]),
                      "errors": slot_rows, "per_slot": {k: _f1(c["tp"], c["fp"], c["fn"]) for k, c in sorted(per_slot.items())}}}
