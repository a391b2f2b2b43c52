"""Service answers (catalog.policies.PolicyIndex.answer) on real customer-service requests nobody here wrote.

    python -m assistant.evaluate policies --data ../shared/data [--json]

The Bitext requests whose intent one of the demo shop's policies answers are mapped to that policy (below); the
requests about things no demo policy covers (accounts, passwords, newsletters, reviews) must get no policy at all,
so the reply can hand over to a person instead of quoting something beside the point. Placeholders such as
{{Order Number}} are replaced by "it". Measures, at the shipped threshold and over a range of thresholds:
- right policy: share of covered requests answered from their policy;
- abstained: share of uncovered requests answered from no policy;
and the same for the whole-document score alone (the retrieval score before re-scoring), as the baseline.
ANSWER_MIN_SCORE was chosen on these requests, so this is the in-sample number for the demo's policies; another
shop's policies are untouched by it.
"""
from __future__ import annotations

import argparse
import csv
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from assistant.evaluation.report import report
from catalog import policies as policy_module
from catalog.demo import policy_documents

BITEXT = "customer-service-intents/bitext_customer_service_8k.csv"
COVERED = {"check_invoice": "payment", "get_invoice": "payment", "payment_issue": "payment",
           "check_payment_methods": "payment", "track_refund": "returns", "get_refund": "returns",
           "check_refund_policy": "returns", "cancel_order": "order-tracking", "change_order": "order-tracking",
           "track_order": "order-tracking", "change_shipping_address": "order-tracking",
           "delivery_options": "shipping", "delivery_period": "shipping", "contact_customer_service": "contact",
           "contact_human_agent": "contact", "delete_account": "privacy"}
UNCOVERED = {"create_account", "recover_password", "registration_problems", "newsletter_subscription",
             "edit_account", "switch_account", "set_up_shipping_address", "review"}
THRESHOLDS = (0.25, 0.3, 0.33, 0.35, 0.4)
_PLACEHOLDER = re.compile(r"\{\{[^{}]{0,80}\}\}")


class PolicyDataError(ValueError):
    pass


def load_requests(data_dir: str | Path, limit: int | None, seed: int) -> list[tuple[str, str | None]]:
    """(request, the demo policy that answers it or None) for the mapped Bitext intents, shuffled by seed."""
    path = Path(data_dir) / BITEXT
    if not path.is_file():
        raise PolicyDataError(f"{path} not found")
    with path.open(encoding="utf-8", newline="") as f:
        rows = [(_PLACEHOLDER.sub("it", r["utterance"]), COVERED.get(r["intent"])) for r in csv.DictReader(f)
                if r["intent"] in COVERED or r["intent"] in UNCOVERED]
    order = np.random.default_rng(seed).permutation(len(rows))
    return [rows[i] for i in order[:limit]]


def evaluate_policies(data_dir: str | Path, limit: int | None = None, seed: int = 0, log=print) -> dict:
    import chromadb

    from catalog.embed import get_embedder

    requests = load_requests(data_dir, limit, seed)
    embedder = get_embedder(device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        index = policy_module.PolicyIndex(chromadb.PersistentClient(path=tmp), embedder)
        index.upsert(policy_documents())
        log(f"answering {len(requests)} Bitext requests against the demo's {index.count()} policies ...")
        start = time.perf_counter()
        answers, baseline = [], []
        for text, _ in requests:
            answers.append(_scored(index, text))
            top = index.search(text, k=1)[0]
            baseline.append((top["id"], top["score"]))
        seconds = time.perf_counter() - start
    gold = [g for _, g in requests]
    return {"data": str(data_dir), "requests": len(requests), "covered": sum(g is not None for g in gold),
            "threshold": policy_module.ANSWER_MIN_SCORE,
            "answer": _curve(answers, gold), "document score alone": _curve(baseline, gold),
            "ms_per_request": round(1000 * seconds / max(1, len(requests)), 1)}


def _scored(index: policy_module.PolicyIndex, text: str) -> tuple[str, float]:
    """The best policy and its score with the threshold switched off, so one pass gives the whole curve."""
    saved, policy_module.ANSWER_MIN_SCORE = policy_module.ANSWER_MIN_SCORE, -1.0
    try:
        found = index.answer(text)
    finally:
        policy_module.ANSWER_MIN_SCORE = saved
    return (found["id"], found["score"]) if found else ("", -1.0)


def _curve(scored: list[tuple[str, float]], gold: list[str | None]) -> dict[str, dict[str, float]]:
    covered = [(s, g) for s, g in zip(scored, gold) if g is not None]
    uncovered = [s for s, g in zip(scored, gold) if g is None]
    out = {}
    for t in sorted({*THRESHOLDS, policy_module.ANSWER_MIN_SCORE}):
        right = sum(score >= t and pid == g for (pid, score), g in covered) / max(1, len(covered))
        abstained = sum(score < t for _, score in uncovered) / max(1, len(uncovered))
        out[f"{t:.2f}"] = {"right policy": round(right, 4), "abstained": round(abstained, 4)}
    return out


def format_table(result: dict) -> str:
    lines = [f"service answers: {result['requests']} Bitext requests ({result['covered']} covered by a demo policy), "
             f"shipped threshold {result['threshold']:.2f}",
             f"{'threshold':>9}  {'right policy':>12} {'abstained':>9}   {'doc-only right':>14} {'abstained':>9}"]
    for t, row in result["answer"].items():
        base = result["document score alone"][t]
        mark = " <- shipped" if float(t) == result["threshold"] else ""
        lines.append(f"{t:>9}  {row['right policy']:>12.4f} {row['abstained']:>9.4f}   "
                     f"{base['right policy']:>14.4f} {base['abstained']:>9.4f}{mark}")
    lines.append(f"{result['ms_per_request']} ms per request on this machine (both methods, encoder included)")
    return "\n".join(lines)


def run_policies(args: argparse.Namespace) -> int:
    return report(args, lambda log: evaluate_policies(args.data, args.limit, args.seed, log=log), format_table,
                  (PolicyDataError,))


def add_policies_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("policies", help="service answers from the demo's policies on Bitext requests")
    p.add_argument("--data", required=True, help="the shared data folder (customer-service-intents/ inside)")
    p.add_argument("--limit", type=int, default=None, help="measure only this many requests (shuffled by --seed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the table")
    p.set_defaults(func=run_policies)
