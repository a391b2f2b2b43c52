from __future__ import annotations

import json

from assistant.evaluation.chat import category_phrase, demo_products, make_shoppers, satisfies
from assistant.evaluation.cli import main
from catalog.schema import Product


def test_category_phrase_is_the_leaf_or_the_shortest_unique_ending():
    flat = {"Industrial & Scientific Tapes Duct Tape", "Industrial & Scientific Tapes Electrical Tape"}
    assert category_phrase("Outdoor > Jackets", set()) == "jackets"
    assert category_phrase("Industrial & Scientific Tapes Duct Tape", flat) == "duct tape"


def test_shoppers_are_deterministic_and_reveal_category_brand_detail():
    products = demo_products(300)
    a, b = make_shoppers(products, 20, seed=1), make_shoppers(products, 20, seed=1)
    assert a == b and len(a) == 20
    target = next(p for p in products if p.id == a[0]["target"])
    assert a[0]["turns"][1] == f"from {target.brand}, please"
    assert a[0]["turns"][2].split()[-1] in target.title.lower()


def test_satisfies_checks_category_then_brand_spelled_loosely():
    shopper = {"category": "Tools > Vacuums", "brand": "Shop-Vac"}
    p = Product("x", "Wet dry vac", category="Tools > Vacuums", brand="Shop Vac")
    assert satisfies(p, shopper, 0) and satisfies(p, shopper, 1)
    assert not satisfies(Product("y", "Vac", category="Tools > Vacuums", brand="Dyson"), shopper, 1)


def test_chat_evaluation_on_a_small_demo_catalog(tmp_path, monkeypatch):
    import assistant.evaluation.chat as eval_chat

    monkeypatch.setattr(eval_chat, "demo_products", lambda n=1200: demo_products(200))
    result = eval_chat.evaluate_chat([], demo=True, shoppers=12, cache_dir=str(tmp_path), progress=False, log=lambda s: None)
    demo = result["catalogs"]["demo"]
    assert demo["shoppers"] == 12 and demo["products"] == 200
    hits = [demo["hit@4"][f"turn{t}"] for t in (1, 2, 3)]
    assert hits[2] >= hits[0]  # context carried: more revealed, more found
    assert hits[2] >= 0.5
    # Category and brand become filters on the demo catalog: everything shown satisfies them.
    assert demo["constraints_satisfied"]["turn2"] == 1.0
    # The dialogue scenarios, written from this catalog; each checked on what the shop did.
    scenarios = demo["scenarios"]
    assert all(scenarios[name]["n"] == 12 for name in ("topic_change", "reference", "cart", "typo", "more"))
    assert scenarios["negation"]["n"] > 0 and scenarios["colour_family"]["n"] > 0  # categories with 2+ brands
    assert scenarios["cart"]["ok"] == 1.0, scenarios
    assert scenarios["reference"]["ok"] >= 0.8, scenarios  # a first search in a 200-product shop may show one product
    assert min(scenarios[name]["ok"] for name in ("topic_change", "negation", "colour_family")) >= 0.9, scenarios
    assert scenarios["typo"]["ok"] >= 0.6, scenarios
    assert scenarios["more"]["ok"] >= 0.9, scenarios  # nothing repeated, or "that was everything"
    json.dumps(result)  # what --json prints


def test_scenarios_are_written_from_the_catalog_and_skip_what_it_cannot_script():
    from assistant.evaluation.scenarios import _typo, scripts

    unpriced = [Product(f"p{i}", f"Thing {i}", category=f"Group {i % 3}", brand=f"B{i % 2}") for i in range(12)]
    out = scripts(unpriced, str.lower, 5, seed=0)
    assert not out["topic_change"] and not out["colour_family"]  # no prices, no colours
    assert len(out["typo"]) == len(out["reference"]) == len(out["cart"]) == 5
    assert all("under" not in messages[0] for messages, _ in out["typo"])
    import numpy as np

    assert _typo("duct tape", np.random.default_rng(0)) == _typo("duct tape", np.random.default_rng(0))
    assert len(_typo("running shoes", np.random.default_rng(1))) == len("running shoes") - 1


def test_chat_cli_reports_a_bad_folder_clearly(tmp_path, capsys):
    code = main(["chat", "--no-demo", "--shoppers", "5", "--cache", str(tmp_path), "--data", str(tmp_path / "missing")])
    assert code == 2 and "no <Name>.text" in capsys.readouterr().err
