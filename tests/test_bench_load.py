"""bench/bench_load.py's helpers on fabricated responses (no server): the leak check, the shoppers' distinct
budgets, the adversarial messages and the percentiles."""
from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_load", Path(__file__).resolve().parents[1] / "bench" / "bench_load.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def shopper(budget=137, excluded=None, own=()):
    return {"i": 0, "noun": "padded daypack", "budget": budget, "own_amounts": {float(budget), *own}, "excluded": excluded}


def response(constraints="", prices=(), brand="Northpeak", no_match=False):
    return {"constraints": constraints, "no_match": no_match,
            "products": [{"id": f"P{k}", "brand": brand, "price": p} for k, p in enumerate(prices)]}


def test_a_clean_turn_has_no_leak():
    me = shopper(excluded="Ridgeway", own=(64.98,))
    resp = response("daypacks, under $64.98, not Ridgeway", prices=[40.0, 64.98])
    assert bench.check_turn(me, resp, {138, 65}, {"Northpeak"}) == []


def test_another_shoppers_budget_or_brand_in_the_constraints_is_a_leak():
    assert bench.check_turn(shopper(), response("under $138"), {138}, set())
    assert bench.check_turn(shopper(), response("under $1,138"), {1138}, set())
    assert bench.check_turn(shopper(), response("under $137, not Northpeak"), {138}, {"Northpeak"})
    # an amount no shopper used, or the shopper's own "cheaper" amount that happens to equal another's budget: no leak
    assert bench.check_turn(shopper(), response("under $139"), {138}, set()) == []
    assert bench.check_turn(shopper(own=(65.0,)), response("under $65"), {65}, set()) == []


def test_products_breaking_the_shoppers_own_constraints_are_a_leak_unless_called_alternatives():
    assert bench.check_turn(shopper(), response("under $137", prices=[150.0]), set(), set())
    assert bench.check_turn(shopper(), response("under $137", prices=[150.0], no_match=True), set(), set()) == []
    assert bench.check_turn(shopper(excluded="Northpeak"), response(prices=[20.0]), set(), set())
    assert bench.check_turn(shopper(excluded="Ridgeway"), response(prices=[20.0]), set(), set()) == []


def test_shoppers_get_distinct_budgets_even_from_one_product():
    catalog = [{"title": "Northpeak Cirrus 570 II Padded Daypack, Durable – Red", "price": 127.49}]
    for products in (catalog, []):
        shoppers = bench.make_shoppers(60, products)
        assert len({s["budget"] for s in shoppers}) == 60
    assert shoppers[0]["noun"] and bench.make_shoppers(1, catalog)[0]["noun"] == "padded daypack"


def test_adversarial_messages_are_exactly_the_limit_and_percentiles():
    assert [len(m) for m in bench.adversarial(2000)] == [2000] * 4
    p = bench.pct([0.001 * k for k in range(1, 101)])
    assert (p["p50"], p["p95"], p["max"], p["n"]) == (50.0, 95.0, 100.0, 100)
    assert bench.pct([])["n"] == 0
