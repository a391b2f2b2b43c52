"""Sentences for the judged claims corpus (tests/assistant/reply/claims_corpus.jsonl): the default reply model
(packaged SmolLM2-135M-Instruct) answers scripted shopper sessions on the demo shop, and every sentence it generates
is written out with the facts it was generated from, unlabelled. A person then judges each sentence: is everything
it states supported by the facts (products, policies, constraints, the shop's contact)?

    python bench/make_claims_corpus.py --out /tmp/claims_raw.jsonl            # ~5 min on 2 CPU cores

The model's whole output is recorded before the pipeline's verifier sees it (the verifier stops a reply at its first
failing sentence; the corpus needs the sentences after it too).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

SESSIONS = [
    ["waterproof hiking jacket under $100", "cheaper?", "tell me more about the second one", "is it good for rain?",
     "compare the first two"],
    ["wireless headphones", "do they have noise cancelling?", "which one has the best rating?",
     "is it cheaper on Amazon?"],
    ["how long until I get my refund?", "can I pay with PayPal?", "is there a restocking fee?",
     "what's your phone number?"],
    ["can I return a used tent?", "do you ship to Canada?", "what are your opening hours?"],
    ["my headphones stopped charging after 3 months, what can I do?", "how do I start a warranty claim?"],
    ["gift for my dad who loves coffee, around $50", "he already has a coffee maker", "what do you think of the first one?"],
    ["running shoes for women size 8 under $60", "are these in stock?", "can I get them by Friday?"],
    ["a tent for 4 people", "do you price match?", "will the price go down next week?"],
    ["yoga mat", "the cheapest one", "is it non-slip?"],
    ["non-stick frying pan", "do you have a store in London?", "what's the delivery cost?"],
    ["kids backpack", "more like the first one", "which is lighter?"],
    ["do you offer gift wrapping?", "can I change my delivery address?", "where is my order?"],
    ["espresso machine under $200", "other brands", "how long is the warranty on it?"],
    ["bluetooth speaker", "is it waterproof?", "what colours does it come in?"],
    ["sleeping bag for winter camping", "cheaper?", "can I return it if it's too small?"],
    ["trail running shoes", "which one is the lightest?", "do you have a discount code?"],
    ["desk lamp for my home office", "is the first one dimmable?", "when will it arrive if I order today?"],
    ["moisturiser for dry skin", "the best rated one", "can I cancel my order?"],
    ["cat tree", "in grey", "is it easy to assemble?"],
    ["electric kettle under $40", "what's it made of?", "do you sell it cheaper elsewhere?"],
    ["hiking backpack 40 litres", "compare the first two", "how do I track my parcel?"],
    ["noise cancelling headphones for travel", "which has the longest battery?", "can I pay in instalments?"],
    ["a gift for a 10 year old who likes science", "something cheaper", "do you deliver on weekends?"],
]


class Recording:
    """A backend that records the inner backend's whole output for each call, then streams it."""

    def __init__(self, inner):
        self.inner, self.name, self.supports_prefix = inner, "recording", inner.supports_prefix
        self.records: list[dict] = []

    def stream(self, messages, facts=None, prefix=""):
        text = "".join(self.inner.stream(messages, facts, prefix=prefix))
        self.records.append({"facts": asdict(facts), "prefix": prefix, "text": text, "message": messages[-1]["content"]})
        yield text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--start", type=int, default=0, help="skip the first N sessions (to extend a corpus)")
    parser.add_argument("--data-dir", default=os.path.join(os.path.expanduser("~"), ".cache", "shop-assistant", "claims-shop"))
    args = parser.parse_args()

    from assistant.dialogue.acts import ActClassifier
    from assistant.pipeline import Assistant
    from assistant.reply.backends import LocalLMBackend
    from catalog.build import build_demo_catalog
    from catalog.config import CatalogConfig
    from catalog.index import ProductIndex
    from catalog.policies import PolicyIndex, split_sentences

    config = CatalogConfig(data_dir=args.data_dir, chroma_url=None)
    index = ProductIndex(config)
    if index.count() == 0:
        build_demo_catalog(config, index=index)
    backend = Recording(LocalLMBackend())
    assistant = Assistant(index, backend=backend, policies=PolicyIndex(index.client, index.embedder),
                          acts=ActClassifier.load(embedder=index.embedder), on_cart=lambda *_: True)
    rows = 0
    with open(args.out, "w", encoding="utf-8") as out:
        for n, session in enumerate(SESSIONS[args.start:], start=args.start):
            for message in session:
                before = len(backend.records)
                assistant.chat(f"claims-{n}", message)
                for record in backend.records[before:]:
                    for sentence in split_sentences(record["text"]):
                        out.write(json.dumps({"sentence": sentence, "message": message, "facts": record["facts"],
                                              "prefix": record["prefix"]}) + "\n")
                        rows += 1
                print(f"{rows:4d} sentences after {message!r}", flush=True)


if __name__ == "__main__":
    main()
