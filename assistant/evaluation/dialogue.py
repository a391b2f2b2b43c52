"""Dialogue acts (assistant/dialogue/acts.py) on held-out real and written data, and on SIMMC 2.1 dialogues.

    python -m assistant.evaluate dialogue --data ../shared/data [--json]
    python -m assistant.evaluate dialogue --data ../shared/data --head assistant/dialogue/acts_head.npz

By default a head is trained on the training parts only (train_acts(holdout=True): 80% of Bitext, CLINC train,
half of the ESCI queries, 80% of our own utterances) and measured on the held-out parts. `--head` measures a given
head instead: the shipped one was trained on the held-out parts too, so only its SIMMC numbers are unseen data.
SIMMC 2.1 (CC-BY-NC-SA) is evaluation only: no head is ever trained on it. Its target row runs each turn through the
session state as the pipeline does (assistant/evaluation/simmc.py, which also measures slot F1); the classifier on
each message alone is reported beside it.

Measures: accuracy and macro-F1 (over the acts present in the gold labels) per set; service recall on held-out Bitext;
"no product cards" on CLINC val rows whose mapped act is not a card act (out-of-scope, other domains, small talk);
"still products" (search or refine) on held-out ESCI queries; SIMMC per-turn act accuracy. Fresh messages are scored
with shown=False and the target metrics also with shown=True (the same message mid-conversation). Our own held-out
utterances are scored with shown=True: every act is possible then, so the prior cannot give the answer away.

SIMMC user acts -> ours: REQUEST:GET search, INFORM:REFINE refine, ASK:GET ask_product, REQUEST:COMPARE compare,
REQUEST:ADD_TO_CART cart; INFORM:GET ("something like the grey coat but with good reviews") refine: a request for
items like the shown ones with changed attributes; INFORM:DISAMBIGUATE ("the grey one on the hanging rack", the
answer to "which one do you mean?") ask_product: a bare pick of a shown product, which the assistant answers by
describing it (the SIMMC turn it resolves may also be an add-to-cart; the act alone cannot say). A turn has products
on screen (shown=True) once an earlier system turn referred to objects, an approximation: SIMMC shoppers stand in a
showroom, so things are always "on screen" in a looser sense.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from assistant.dialogue.acts import ACTS, CARD_ACTS, ActClassifier, posterior
from assistant.dialogue.train_acts import ActDataError, cached_embeddings, load_sources, train_acts
from assistant.dialogue.vocabulary import Vocabulary
from assistant.evaluation.in_shop import shop_kinds
from assistant.evaluation.report import report
from assistant.evaluation.retrieval import load_esci
from assistant.evaluation.simmc import SIMMC_ACTS, evaluate_simmc, load_dialogues
from catalog.demo import DEMO_CATEGORY_SYNONYMS, generate_products

TARGETS = {"bitext": ("service recall", 0.95), "clinc": ("no cards (oos + other domains)", 0.90),
           "esci": ("still products (search|refine)", 0.98), "simmc": ("act accuracy", 0.90)}


def load_simmc(data_dir: str | Path) -> list[tuple[str, str, bool]]:
    """(user text, our act, products on screen) for every user turn of the SIMMC mini split."""
    turns = []
    for dialogue in load_dialogues(data_dir):
        shown = False
        for turn in dialogue["dialogue"]:
            turns.append((turn["transcript"], SIMMC_ACTS[turn["transcript_annotated"]["act"]], shown))
            # The system's answer to this turn: from the next turn on, what it referred to is on screen.
            shown = shown or bool(turn.get("system_transcript_annotated", {}).get("act_attributes", {}).get("objects"))
    return turns


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    """Mean F1 over the acts in the gold labels (an act never expected adds no row)."""
    scores = []
    for act in sorted(set(gold)):
        tp = sum(g == p == act for g, p in zip(gold, predicted))
        fp = sum(p == act != g for g, p in zip(gold, predicted))
        fn = sum(g == act != p for g, p in zip(gold, predicted))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def _predict(classifier: ActClassifier, texts: list[str], shown, cache_dir) -> list[str]:
    vectors = cached_embeddings(texts, classifier.embedder, cache_dir)
    p = posterior(classifier.probabilities(vectors, texts), shown)
    return [ACTS[i] for i in np.argmax(p, axis=1)]


def _share(values: list[str], hit) -> float:
    return round(float(np.mean([hit(v) for v in values])), 4) if values else 0.0


_SHOPS: dict[str, dict[str, Vocabulary]] = {}


def shops(data_dir: str | Path) -> dict[str, Vocabulary]:
    """The catalogs messages are read against (see assistant/evaluation/in_shop.py)."""
    key = str(data_dir)
    if key not in _SHOPS:
        esci, _ = load_esci(str(Path(data_dir) / "esci-shopping-queries"))
        _SHOPS[key] = {"ESCI": Vocabulary.from_products(esci),
                       "demo": Vocabulary.from_products(generate_products(), synonyms=DEMO_CATEGORY_SYNONYMS)}
    return _SHOPS[key]


def _scores(gold: list[str], predicted: list[str]) -> dict:
    per_act = {a: round(float(np.mean([p == a for g, p in zip(gold, predicted) if g == a])), 4)
               for a in ACTS if a in gold}
    return {"n": len(gold), "accuracy": round(float(np.mean([g == p for g, p in zip(gold, predicted)])), 4),
            "macro_f1": round(macro_f1(gold, predicted), 4), "recall_per_act": per_act}


def _target(texts, gold, classifier, cache_dir, hit, rows=None) -> dict:
    """The share of `rows` (default: all) whose prediction passes `hit`, at shown=False and shown=True."""
    rows = range(len(texts)) if rows is None else rows
    texts, gold = [texts[i] for i in rows], [gold[i] for i in rows]
    out = {"n": len(texts)}
    for shown in (False, True):
        predicted = _predict(classifier, texts, shown, cache_dir)
        out[f"shown={shown}"] = round(float(np.mean([hit(p) for p in predicted])), 4) if texts else 0.0
    return out


def measure(classifier: ActClassifier, data_dir: str | Path, seed: int = 0, cache_dir=None, log=print) -> dict:
    """Every measure of the module docstring for one head (held-out parts fixed by `seed`)."""
    sets = {}
    for source in load_sources(data_dir, seed, templates=None):  # generated messages are never held out
        if not source.heldout.any():  # queries cut from titles: training only
            continue
        texts, gold = source.part(True)
        shown = source.name == "shop"  # our own utterances: mid-conversation (see the module docstring)
        sets[source.name] = {**_scores(gold, _predict(classifier, texts, shown, cache_dir)), "shown": shown}
        if source.name == "bitext":
            sets["bitext"]["target"] = _target(texts, gold, classifier, cache_dir, lambda p: p == "service")
        elif source.name == "clinc":
            rows = [i for i, g in enumerate(gold) if g not in CARD_ACTS]
            sets["clinc"]["target"] = _target(texts, gold, classifier, cache_dir, lambda p: p not in CARD_ACTS, rows)
            no_cards = [texts[i] for i in rows]
            acts = _predict(classifier, no_cards, False, cache_dir)  # one reading, checked against each shop
            sets["clinc"]["target"].update({f"in {name} shop": _share(
                shop_kinds(no_cards, acts, vocab), lambda k: k not in CARD_ACTS)
                for name, vocab in shops(data_dir).items()})
        elif source.name == "esci":
            sets["esci"]["target"] = _target(texts, gold, classifier, cache_dir, lambda p: p in ("search", "refine"))
            sets["esci"]["target"]["in its own shop"] = _share(
                shop_kinds(texts, _predict(classifier, texts, False, cache_dir), shops(data_dir)["ESCI"]),
                lambda k: k in ("search", "refine"))
        log(f"{source.name}: {sets[source.name]['n']} held-out messages scored")
    turns = load_simmc(data_dir)
    texts, gold, shown = [t for t, _, _ in turns], [a for _, a, _ in turns], [s for _, _, s in turns]
    predicted = _predict(classifier, texts, shown, cache_dir)
    sets["simmc"] = {**_scores(gold, predicted), "shown": "after the first system turn that showed items",
                     "errors": [[t, g, p] for t, g, p in zip(texts, gold, predicted) if g != p]}
    state = evaluate_simmc(classifier, data_dir)  # the same turns through the session state, as the pipeline runs
    sets["simmc_state"] = {"n": state["acts"]["n"], "accuracy": state["acts"]["accuracy"],
                           "recall_per_act": state["acts"]["recall_per_act"], "errors": state["acts"]["errors"],
                           "slots": state["slots"]}
    sets["simmc"]["target"] = {"n": len(texts), "context": state["acts"]["accuracy"],
                               "message alone": sets["simmc"]["accuracy"]}
    return sets


def _speed(classifier: ActClassifier, messages: int = 30) -> float:
    """Milliseconds per single-message predict (encoder included), after one warm-up call."""
    classifier.predict("warm up", shown=True)
    t0 = time.perf_counter()
    for n in range(messages):
        classifier.predict(f"is the number {n} one waterproof?", shown=True)
    return round((time.perf_counter() - t0) * 1000 / messages, 2)


def evaluate_dialogue(data_dir: str, head: str | None = None, seed: int = 0, cache_dir=None, log=print) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        training = None
        if head is None:  # a head that never saw the held-out parts
            head = str(Path(tmp) / "acts_train_only.npz")
            training = train_acts(data_dir, head, seed=seed, holdout=True, cache_dir=cache_dir, log=log)
        classifier = ActClassifier.load(head)
        sets = measure(classifier, data_dir, seed, cache_dir, log)
    targets = {name: {"metric": metric, "target": bound, **sets[name]["target"]}
               for name, (metric, bound) in TARGETS.items()}
    return {"data": data_dir, "head": "trained on the training parts only" if training else head, "seed": seed,
            "training": training, "sets": sets, "targets": targets, "ms_per_message": _speed(classifier)}


def format_table(result: dict) -> str:
    sets, targets = result["sets"], result["targets"]
    names = {"bitext": "Bitext held-out", "clinc": "CLINC val", "esci": "ESCI held-out queries",
             "shop": "own held-out (shown)", "simmc": "SIMMC 2.1 mini turns"}
    lines = [f"dialogue acts, head: {result['head']} (seed {result['seed']}); SIMMC never trained on",
             f"{'set':<24} {'n':>5} {'acc':>7} {'macroF1':>8}"]
    for name, label in names.items():
        s = sets[name]
        lines.append(f"{label:<24} {s['n']:>5} {s['accuracy']:>7.4f} {s['macro_f1']:>8.4f}")
    labels = {name: f"{names[name]}: {t['metric']}" for name, t in targets.items()}
    width = max(len(label) for label in labels.values())
    lines += ["", f"{'target':<{width}} {'n':>5} {'fresh':>7} {'shown':>7} {'goal':>6}"]
    for name, t in targets.items():
        fresh, shown = t.get("shown=False", t.get("context")), t.get("shown=True")
        lines.append(f"{labels[name]:<{width}} {t['n']:>5} {fresh:>7.4f} "
                     f"{'' if shown is None else f'{shown:.4f}':>7} {t['target']:>6.2f}")
    lines.append("(fresh: shown=False; SIMMC: each turn through the session state, as the pipeline runs it; "
                 f"the classifier alone, on screen from its dialogue context: {targets['simmc']['message alone']:.4f})")
    shop = ", ".join(f"{k[3:]} {v:.4f}" for k, v in targets["clinc"].items() if k.startswith("in "))
    lines.append(f"as the shop decides (classifier + catalog, first message): ESCI held-out in its own shop "
                 f"{targets['esci']['in its own shop']:.4f}; CLINC no cards in {shop}")
    slots = sets["simmc_state"]["slots"]
    lines.append(f"SIMMC slot F1 (constraints after each search/refine turn): all slots {slots['all']['f1']:.4f} "
                 f"(P {slots['all']['precision']:.2f} R {slots['all']['recall']:.2f}, {slots['all']['gold']} gold), "
                 f"modelled slots {slots['modelled']['f1']:.4f}; per slot: "
                 + ", ".join(f"{k} {v['f1']:.2f}" for k, v in slots["per_slot"].items()))
    recall = sets["shop"]["recall_per_act"]
    lines.append("own held-out recall per act: " + ", ".join(f"{a} {v:.2f}" for a, v in recall.items()))
    lines.append(f"predict: {result['ms_per_message']} ms per message on this machine (encoder included)")
    return "\n".join(lines)


def run_dialogue(args: argparse.Namespace) -> int:
    return report(args, lambda log: evaluate_dialogue(args.data, args.head, args.seed, args.cache, log=log),
                  format_table, (ActDataError,))


def add_dialogue_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("dialogue", help="dialogue-act accuracy on held-out Bitext, CLINC, ESCI, own and SIMMC")
    p.add_argument("--data", required=True, help="the shared data folder (customer-service-intents/, clinc150/, ...)")
    p.add_argument("--head", default=None, help="a trained head to measure (default: train one without the held-out parts)")
    p.add_argument("--seed", type=int, default=0, help="fixes the held-out parts (as in training)")
    p.add_argument("--cache", default=None, help="embedding cache dir (default ~/.cache/shop-assistant/dialogue-acts)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the table")
    p.set_defaults(func=run_dialogue)
