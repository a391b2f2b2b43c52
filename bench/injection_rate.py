"""Prompt-injection detector: catch rate per attack group and false positives on ordinary shopping text.

    python bench/injection_rate.py              # the corpus of tests/assistant/dialogue/injection_corpus.py + ../shared/data
    python bench/injection_rate.py --misses     # also list every missed attack and every false positive

Attacks and benign messages come from tests/assistant/dialogue/injection_corpus.py. False positives are also counted on the
real shopping queries of ../shared/data (ESCI) and, when present, on the customer-service requests (Bitext) and the
CLINC150 utterances, which the detector was never tuned on. Prints per-message time as well.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.dialogue.injection import detect_injection, injection_reason  # noqa: E402
from tests.assistant.dialogue.injection_corpus import ATTACKS, BENIGN, esci_queries  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"


def extra_benign_sets() -> dict[str, list[str]]:
    """Real text nobody on the team wrote, when ../shared/data has it."""
    sets: dict[str, list[str]] = {}
    bitext = SHARED_DATA / "customer-service-intents" / "bitext_customer_service_8k.csv"
    if bitext.exists():
        with open(bitext, newline="", encoding="utf-8") as f:
            sets["bitext customer service"] = [row["utterance"] for row in csv.DictReader(f)]
    clinc = SHARED_DATA / "clinc150" / "clinc150_train_val.json"
    if clinc.exists():
        data = json.loads(clinc.read_text(encoding="utf-8"))
        sets["clinc150 (all splits)"] = [text for rows in data.values() for text, _ in rows]
    return sets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--misses", action="store_true", help="list missed attacks and false positives")
    args = parser.parse_args(argv)

    caught: dict[str, list[bool]] = defaultdict(list)
    misses = []
    for group, text in ATTACKS:
        hit = detect_injection(text)
        caught[group].append(hit)
        if not hit:
            misses.append((group, text))
    print(f"{'group':<14} {'caught':>9} {'rate':>7}")
    for group, hits in caught.items():
        print(f"{group:<14} {sum(hits):>4}/{len(hits):<4} {sum(hits) / len(hits):>7.1%}")
    total = sum(sum(h) for h in caught.values())
    print(f"{'all':<14} {total:>4}/{len(ATTACKS):<4} {total / len(ATTACKS):>7.1%}")

    print(f"\n{'benign set':<26} {'flagged':>12}")
    sets = {"shop messages (corpus)": BENIGN, "ESCI queries": esci_queries(SHARED_DATA), **extra_benign_sets()}
    false_positives = []
    for name, texts in sets.items():
        if not texts:
            print(f"{name:<26} {'absent':>12}")
            continue
        flagged = [(name, injection_reason(t), t) for t in texts if detect_injection(t)]
        false_positives += flagged
        print(f"{name:<26} {len(flagged):>5}/{len(texts):<6}")

    messages = BENIGN + [text for _, text in ATTACKS]
    start = time.perf_counter()
    for _ in range(5):
        for message in messages:
            detect_injection(message)
    per_message = (time.perf_counter() - start) / (5 * len(messages))
    print(f"\nmean time per message: {per_message * 1e3:.3f} ms ({len(messages)} messages)")

    if args.misses:
        for group, text in misses:
            print(f"MISSED [{group}] {text!r}")
        for name, reason, text in false_positives:
            print(f"FALSE POSITIVE [{name}, {reason}] {text!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
