"""The replay's checker of invented facts (assistant/evaluation/replay.py), on replies written to contain each kind,
and the whole replay on a tiny sample when the shared data is present."""
from __future__ import annotations

from assistant.evaluation.replay import invented

FACTS = "Trailhaven Arc Jacket Trailhaven waterproof\nFrom our Returns policy: refunds within 5 business days."
BRANDS = ["Trailhaven", "Northpeak", "Ridgeway"]


def test_a_grounded_reply_invents_nothing():
    reply = "The Trailhaven Arc Jacket costs $52.49 and is waterproof. Refunds come within 5 business days."
    assert invented(reply, FACTS, {52.49}, BRANDS, {"Trailhaven"}) == {}


def test_each_kind_of_invention_is_caught():
    reply = ("It is $39.99 at Amazon or Best Buy; call 1-800-555-0199, write to help@shop.example or see "
             "www.deals.com. Northpeak makes a similar one.")
    found = invented(reply, FACTS, {52.49}, BRANDS, {"Trailhaven"})
    assert found["price"] == [39.99] and found["store"] == ["amazon", "best buy"]
    assert any("help@shop.example" in c for c in found["contact"]) and any("555" in c for c in found["contact"])
    assert any("www.deals.com" in c for c in found["contact"]) and found["product"] == ["Northpeak"]


def test_amounts_years_and_sizes_are_not_contacts_or_prices():
    reply = "The 2024 model of the Trailhaven Arc Jacket, $52.49, fits a 38-42 chest."
    assert invented(reply, FACTS, {52.49}, BRANDS, {"Trailhaven"}) == {}
