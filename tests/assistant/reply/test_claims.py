"""The unsupported-claim checks (assistant/reply/claims.py) on small cases, and the whole verifier
(assistant/reply/grounding.verify) on the judged corpus: sentences the default reply model (SmolLM2-135M) generated
on the demo shop, each judged supported or not by its facts (bench/make_claims_corpus.py wrote them; a person labelled
them). The corpus test prints the verifier's precision and recall at catching unsupported sentences."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.reply.claims import check_claims
from assistant.reply.facts import ProductFact, ReplyFacts
from assistant.reply.grounding import verify

CORPUS = Path(__file__).with_name("claims_corpus.json")
POLICY = {"id": "payment", "title": "Payment", "text": "We accept Visa, Mastercard and PayPal. Orders ship within 2 "
          "business days. Email help@shop.example or call 0800 123 4567, Monday to Friday, 9am to 5pm."}


def _facts(kind: str = "search", policies=(), **product) -> ReplyFacts:
    fact = ProductFact(id="p1", title=product.get("title", "Trail Rain Jacket"), brand="Northpeak", price=89.0)
    return ReplyFacts(products=[fact], kind=kind, policy_snippets=list(policies))


@pytest.mark.parametrize("sentence", [
    "You can also find it on Amazon or at Best Buy.",
    "Other stores may have it cheaper.",
    "Email us at support@example.com for help.",
    "Call 555-123-4567 any time.",
    "Visit www.example.com for more.",
    "We only accept credit cards.",
    "Prices may vary based on availability.",
    "There is a small restocking fee.",
    "We are open Monday to Saturday, 10am to 6pm.",
    "I have processed your refund.",
    "I did provide a refund for your tent.",
    "Tomorrow will be sunny with 10-20 degrees.",
    "In my opinion it is the best jacket.",
])
def test_claims_the_facts_do_not_make_are_flagged(sentence):
    assert check_claims(sentence, _facts()), sentence


@pytest.mark.parametrize("sentence", [
    "We accept Visa, Mastercard and PayPal.",
    "Write to help@shop.example or call 0800 123 4567.",
    "Our team answers Monday to Friday, 9am to 5pm.",
    "The Trail Rain Jacket by Northpeak costs $89.00.",
    "It is a great choice for rainy hikes.",  # "rain" is in the product's own name
    "Let me know if you need anything else.",
])
def test_claims_the_facts_make_pass(sentence):
    assert not check_claims(sentence, _facts("service", [POLICY])), sentence


def test_sizes_and_model_numbers_are_not_phone_numbers():
    facts = ReplyFacts(products=[ProductFact(id="p", title="Boot sizes 38 40 42 44", brand="X", price=10.0)])
    assert not check_claims("It comes in sizes 38 40 42 44.", facts)


def _corpus_facts(facts: dict) -> ReplyFacts:
    products = [ProductFact(**p) for p in facts["products"]]
    return ReplyFacts(**{**facts, "products": products})


def test_the_verifier_on_the_judged_corpus(capsys):
    from catalog.demo import generate_products

    replies = json.loads(CORPUS.read_text(encoding="utf-8"))["replies"]
    brands = sorted({p.brand for p in generate_products()})  # the shop the sentences were generated in
    tp = fp = fn = tn = shown_invented = 0
    for reply in replies:
        facts = _corpus_facts(reply["facts"])
        flags = []
        for sentence in reply["sentences"]:
            flagged = not verify(sentence["text"], facts, brands).ok
            unsupported = not sentence["supported"]
            flags.append(flagged)
            tp, fp = tp + (flagged and unsupported), fp + (flagged and not unsupported)
            fn, tn = fn + (not flagged and unsupported), tn + (not flagged and not unsupported)
        # The pipeline shows a model reply only when every sentence passes (else the template answers).
        shown_invented += not any(flags) and not all(s["supported"] for s in reply["sentences"])
    n = tp + fp + fn + tn
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    with capsys.disabled():
        print(f"\nclaims corpus: {n} sentences, {tp + fn} unsupported; verifier precision {precision:.3f}, "
              f"recall {recall:.3f} (caught {tp}, missed {fn}, false alarms {fp}); replies that would reach the "
              f"shopper with an unsupported sentence: {shown_invented} of {len(replies)}")
    assert n >= 200
    # Measured 2026-11-30: precision 0.873, recall 0.894, 7 of 72 replies; floors a few sentences below.
    assert precision >= 0.85 and recall >= 0.87 and shown_invented <= 9
