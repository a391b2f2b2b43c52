"""Catalog-aware slots (issue 11): typos corrected against the loaded catalog's words, audiences, colour families,
materials, feature words and prices with currency words, each read on three catalogs that share nothing: the demo
shop, Amazon's Scientific products (flat categories, brands in titles, no colours, no prices) and a small
hand-written knitwear shop whose products say who they are for only in a `gender` attribute. Pure Python, no models.
"""
from __future__ import annotations

import time

import pytest

from assistant.dialogue.context import SessionState, update_context
from assistant.dialogue.spelling import numbers_to_digits
from assistant.dialogue.vocabulary import Vocabulary, colour_families, fits_audience, product_audiences
from catalog.demo import DEMO_CATEGORY_SYNONYMS, generate_products
from catalog.schema import Product
from tests.conftest import SHARED_DATA

SCIENTIFIC = SHARED_DATA / "amazon-scientific"


def _knit(pid: str, title: str, category: str, colour: str, material: str, **attributes: str) -> Product:
    return Product(id=pid, title=title, category=f"Knitwear > {category}", brand="Fjellstrikk", price=60.0,
                   attributes={"colour": colour, "material": material, **attributes})


KNITWEAR = [
    _knit("K1", "Aurora Cardigan", "Cardigans", "Cobalt", "Merino Wool", gender="Female", size="M"),
    _knit("K2", "Aurora Cardigan", "Cardigans", "Burgundy", "Merino Wool", gender="Female", size="L"),
    _knit("K3", "Harbour Cable Jumper", "Jumpers", "Maroon", "Lambswool", gender="Male", size="L"),
    _knit("K4", "Harbour Cable Jumper", "Jumpers", "Charcoal", "Lambswool", gender="Male", size="XL"),
    _knit("K5", "Fjord Beanie, Windproof Lining", "Hats", "Sky Blue", "Cotton", gender="Unisex"),
    _knit("K6", "Puffin Mittens", "Gloves", "Navy", "Acrylic", age_group="Kids"),
    _knit("K7", "Ember Scarf", "Scarves", "Olive", "Alpaca"),
]


@pytest.fixture(scope="module")
def demo() -> Vocabulary:
    return Vocabulary.from_products(generate_products(1200), synonyms=DEMO_CATEGORY_SYNONYMS)


@pytest.fixture(scope="module")
def scientific() -> Vocabulary:
    if not SCIENTIFIC.exists():
        pytest.skip(f"shared data not found at {SCIENTIFIC}")
    from assistant.evaluation.chat import recbole_products

    return Vocabulary.from_products(recbole_products(str(SCIENTIFIC)))


@pytest.fixture(scope="module")
def knitwear() -> Vocabulary:
    return Vocabulary.from_products(KNITWEAR)


def _c(vocab: Vocabulary, message: str, state: SessionState | None = None):
    return update_context(state or SessionState(), message, vocab).constraints


# ---- typos -----------------------------------------------------------------------------------------------------------

def test_the_misspelt_running_shoe_request(demo):
    c = _c(demo, "chep runing shoos for wemen size 8 undr 60 dolars")
    assert (c.category, c.max_price, c.audience, c.size) == ("Running Shoes", 60.0, "women", "US 8")
    assert c.soft.get("prefer_cheaper") == 1.0 and c.min_price is None


@pytest.mark.parametrize("message,fixed", [
    ("chep runing shoos undr 60 dolars", "cheap running shoes under 60 dollars"),
    ("waterprof jaket", "waterproof jacket"),
    ("noise cancelling headphnes", "noise cancelling headphones"),
    ("she loves her gloves", "she loves her gloves"),  # "loves" is English: never "gloves"
    ("the embedding of a json file", "the embedding of a json file"),  # not "bedding", not "son"
    ("pls thx", "pls thx"),  # too short to correct safely
])
def test_typos_are_corrected_only_when_the_word_is_unknown(demo, message, fixed):
    assert demo.speller.correct(message, message)[0] == fixed


def test_a_capitalised_unknown_word_is_a_name_not_a_typo(demo):
    assert _c(demo, "anything but Adidas or Puma").exclude_brands == ["Adidas", "Puma"]
    # ... but the first word of a sentence is capitalised anyway
    assert demo.speller.correct("chep tents. runing shoes", "Chep tents. Runing shoes")[1] == "cheap tents. running shoes"


def test_typos_on_a_foreign_catalog(scientific):
    c = _c(scientific, "chep nitrle gloves undr 20 dolars")
    assert c.category and c.category.endswith("Exam Gloves") and c.max_price == 20.0
    assert c.soft.get("nitrile") == 1.0 and c.soft.get("prefer_cheaper") == 1.0
    assert scientific.speller.correct("digital calipr", "digital calipr")[0] == "digital caliper"
    assert scientific.speller.correct("she loves gloves", "she loves gloves")[0] == "she loves gloves"


def test_typos_on_a_tiny_catalog(knitwear):
    c = _c(knitwear, "a merino wool cardigna for my wife")
    assert (c.category, c.audience, c.soft.get("merino wool")) == ("Cardigans", "women", 1.0)


# ---- audiences -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("message,audience", [
    ("women's running shoes", "women"), ("womens jacket", "women"), ("running shoes for her", "women"),
    ("a gift for my wife", "women"), ("something for my mum", "women"), ("ladies hiking boots", "women"),
    ("mens jacket", "men"), ("men's hiking boots", "men"), ("for my husband", "men"), ("a present for my dad", "men"),
    ("for him", "men"), ("for my son", "kids"), ("for my little daughter", "kids"), ("kids helmet", "kids"),
    ("unisex cycling helmet", "unisex"), ("not for kids", None), ("jackets for men and women", None),
    ("hiking jacket", None), ("I am looking for a recommendation", None),
])
def test_audience_phrasings(demo, message, audience):
    assert _c(demo, message).audience == audience


def test_audience_carries_and_clears(demo):
    state = SessionState()
    update_context(state, "running shoes for my wife", demo)
    assert update_context(state, "under $100", demo).constraints.audience == "women"
    assert update_context(state, "any gender", demo).constraints.audience is None


def test_a_relative_becomes_the_audience_word_in_the_search_text(demo):
    t = update_context(SessionState(), "running shoes for my husband", demo)
    assert "men" in t.intent_text.split() and "husband" not in t.intent_text
    assert t.constraints.describe() == "running shoes, for men"


@pytest.mark.parametrize("product,audiences", [
    (Product(id="a", title="Stridewell Women's Luma 710 Trail Running Shoe"), {"women"}),
    (Product(id="b", title="Northpeak Men's Summit 410 Hiking Jacket"), {"men"}),
    (Product(id="c", title="Trail Shoe", attributes={"gender": "Female"}), {"women"}),
    (Product(id="d", title="Fleece", attributes={"department": "Boys"}), {"kids"}),
    (Product(id="e", title="Unisex Beanie"), {"unisex"}),
    (Product(id="f", title="3D Pen for Kids and Adults"), {"kids", "men", "women"}),
    (Product(id="g", title="Female Luer Lock Adapter"), set()),  # a connector gender, not a shopper
    (Product(id="h", title="Baby Blue Tape"), set()),
    (Product(id="i", title="Running Sock", tags=["womens"]), {"women"}),
])
def test_product_audiences_from_titles_and_attributes(product, audiences):
    assert product_audiences(product) == audiences


def test_who_fits_an_audience():
    assert fits_audience("women", frozenset()) and fits_audience("women", frozenset({"women"}))
    assert fits_audience("women", frozenset({"unisex"})) and not fits_audience("women", frozenset({"men"}))
    assert not fits_audience("kids", frozenset({"women"})) and fits_audience("men", frozenset({"men", "women"}))
    assert fits_audience("unisex", frozenset({"men", "women"})) and not fits_audience("unisex", frozenset({"men"}))


def test_audiences_of_the_knitwear_shop():
    assert [sorted(product_audiences(p)) for p in KNITWEAR] == [["women"], ["women"], ["men"], ["men"], ["unisex"],
                                                                 ["kids"], []]


# ---- colour families -------------------------------------------------------------------------------------------------

def test_a_family_name_brings_every_shade(demo):
    c = _c(demo, "blue jacket")
    assert c.colour == "Blue" and {"Blue", "Navy", "Sky Blue", "Midnight Blue"} <= set(c.colours)
    assert not {"Black", "Olive", "Sage"} & set(c.colours)
    where = c.to_filters().to_where()
    assert {"colour": {"$in": sorted(x.lower() for x in c.colours)}} in where["$and"]
    assert {"Olive", "Forest Green", "Sage", "Green"} <= set(_c(demo, "in green").colours)
    assert {"Charcoal", "Graphite", "Stone Grey"} <= set(_c(demo, "grey please").colours)


def test_a_shade_is_only_itself(demo):
    c = _c(demo, "navy jacket")
    assert (c.colour, c.colours) == ("Navy", []) and c.to_filters().colour == "Navy"


def test_other_brands_in_blue(demo):
    state = SessionState()
    shown = [Product(id="J1", title="Northpeak Jacket – Black", category="Outdoor > Jackets", brand="Northpeak",
                     attributes={"colour": "Black"})]
    update_context(state, "hiking jacket", demo)
    state.record_shown(shown)
    c = update_context(state, "other brands in blue", demo).constraints
    assert c.exclude_brands == ["Northpeak"] and "Sky Blue" in c.colours
    sky = Product(id="S", title="Ridgeway Jacket – Sky Blue", category="Outdoor > Jackets", brand="Ridgeway",
                  attributes={"colour": "Sky Blue"})
    assert c.to_filters().matches(sky)


def test_not_a_shade_of_the_family(demo):
    state = SessionState()
    update_context(state, "blue jacket", demo)
    c = update_context(state, "not navy", demo).constraints
    assert c.colour == "Blue" and "Navy" not in c.colours and "Sky Blue" in c.colours


def test_colour_families_of_catalog_colours():
    assert colour_families("Forest Green") == {"green"} and colour_families("Cobalt") == {"blue"}
    assert colour_families("Burgundy") == {"red"} and colour_families("Graphite") == {"grey"}
    assert colour_families("Teal") == {"blue", "green"} and colour_families("Sparkle") == set()


def test_colour_families_on_a_tiny_catalog(knitwear):
    blue = _c(knitwear, "something in blue").to_filters()
    assert [p.id for p in KNITWEAR if blue.matches(p)] == ["K1", "K5", "K6"]
    red = _c(knitwear, "something in red").to_filters()
    assert [p.id for p in KNITWEAR if red.matches(p)] == ["K2", "K3"]


def test_a_catalog_without_colours_gets_a_soft_colour(scientific):
    c = _c(scientific, "blue exam gloves")
    assert c.colour is None and c.soft.get("blue") == 1.0


# ---- prices ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("message,min_price,max_price", [
    ("undr 60 dolars", None, 60.0), ("below 60 bucks", None, 60.0), ("max 60 quid", None, 60.0),
    ("60 euros or less", None, 60.0), ("under sixty dollars", None, 60.0), ("under twenty-five bucks", None, 25.0),
    ("below a hundred and fifty dollars", None, 150.0), ("between twenty and forty dollars", 20.0, 40.0),
    ("at least thirty euros", 30.0, None), ("no more than 100 dollers", None, 100.0),
])
def test_prices_with_currency_words_and_typos(demo, knitwear, message, min_price, max_price):
    for vocab in (demo, knitwear):
        c = _c(vocab, message)
        assert (c.min_price, c.max_price) == (min_price, max_price)


@pytest.mark.parametrize("message", ["size 8", "4 stars", "2 pack socks", "model 350", "the Summit 350", "a 60 pounds bag",
                                     "tent for two people", "show me the first two", "four stars and up"])
def test_numbers_that_stay_no_price(demo, message):
    c = _c(demo, message)
    assert c.min_price is None and c.max_price is None and "price_target" not in c.soft


def test_spelled_numbers_keep_positions():
    work, text = numbers_to_digits("under sixty dollars", "Under sixty dollars")
    assert (work, text) == ("under 60    dollars", "Under 60    dollars")
    assert numbers_to_digits("the first two", "the first two")[0] == "the first two"
    assert numbers_to_digits("size eight", "size eight")[0] == "size 8    "


def test_a_spelled_size(demo):
    assert _c(demo, "running shoes size eight").size == "US 8"


# ---- features and materials ------------------------------------------------------------------------------------------

def test_features_of_a_foreign_catalog(scientific):
    assert {"powder-free", "rechargeable", "disposable", "non-latex"} <= set(scientific.features)
    assert not {"available", "suitable", "porter-cable"} & set(scientific.features)
    assert _c(scientific, "powder free gloves").soft.get("powder-free") == 1.0


def test_features_of_a_tiny_catalog(knitwear):
    assert "windproof" in knitwear.features
    assert _c(knitwear, "windproof beanie").soft.get("windproof") == 1.0


@pytest.mark.parametrize("message,material", [
    ("leather hiking boots", "leather"), ("stainless steel cookware", "stainless steel"),
    ("a cork yoga block", "cork"), ("cotton bedding", "cotton"),
])
def test_materials_are_soft_preferences(demo, message, material):
    c = _c(demo, message)
    assert c.soft.get(material) == 1.0 and material in c.describe()
    assert c.to_filters().to_where() is None or "material" not in str(c.to_filters().to_where())


def test_materials_of_foreign_catalogs(scientific, knitwear):
    assert {"stainless steel", "nitrile", "latex"} <= set(scientific.materials)
    assert _c(scientific, "stainles steel forceps").soft.get("stainless steel") == 1.0
    assert "latex" not in _c(scientific, "latex free gloves").soft  # what the shopper avoids is no wish
    assert {"merino wool", "lambswool", "alpaca"} <= set(knitwear.materials)


# ---- speed -----------------------------------------------------------------------------------------------------------

def test_the_new_steps_stay_fast(demo):
    messages = ["chep runing shoos for wemen size 8 undr 60 dolars", "other brands in blue under sixty bucks",
                "a gift for my husband, leather, around fifty dollars", "waterproof hiking jacket under $100"]
    for m in messages:
        update_context(SessionState(), m, demo)
    start = time.perf_counter()
    for _ in range(50):
        for m in messages:
            update_context(SessionState(), m, demo)
    per_message = (time.perf_counter() - start) / (50 * len(messages))
    assert per_message < 0.01  # ~1 ms on a laptop; the bound leaves room for a busy 2-core CI machine


# ---- search or refine from the state; a catalog's own words make a search; "-ie" plurals -------------------------

SHOWROOM = [Product(id=f"H{i}", title=title, category=f"Clothing > {cat}", brand=brand, price=40.0,
                    attributes={"colour": colour})
            for i, (title, cat, brand, colour) in enumerate([
                ("Zip Hoodie", "Hoodies", "North Lodge", "Grey"), ("Pullover Hoodie", "Hoodies", "Cozy", "Black"),
                ("Slim Jeans", "Jeans", "Denimco", "Blue"), ("Silky Durags for Men", "Headwear", "Wavy", "Black"),
                ("Clear Name Tag Badge Holders", "Office", "Aimtech", "Clear")])]


def test_an_ie_plural_names_its_category():
    vocab = Vocabulary.from_products(SHOWROOM)
    turn = update_context(SessionState(), "any plain hoodies?", vocab, act="search")
    assert turn.constraints.category == "Hoodies"


def test_search_or_refine_is_the_states_call():
    vocab, state = Vocabulary.from_products(SHOWROOM), SessionState()
    assert update_context(state, "grey hoodies", vocab, act="refine").kind == "search"  # nothing shown yet
    state.record_shown(SHOWROOM[:2])
    assert update_context(state, "anything from North Lodge?", vocab, act="search").kind == "refine"
    assert update_context(state, "do you have other hoodies?", vocab, act="search").kind == "refine"  # same kind
    assert update_context(state, "show me jeans instead", vocab, act="refine").kind == "search"  # a new kind


@pytest.mark.parametrize("message", ["durag", "name tags", "silky durags"])
def test_keywords_the_catalog_uses_are_a_search_whatever_the_classifier_said(message):
    vocab = Vocabulary.from_products(SHOWROOM)
    for act in ("out_of_scope", "smalltalk"):
        assert update_context(SessionState(), message, vocab, act=act).kind == "search"


@pytest.mark.parametrize("message", ["weather tomorrow", "what's a durag?", "tell me a joke"])
def test_other_words_or_sentences_keep_the_classifiers_reading(message):
    vocab = Vocabulary.from_products(SHOWROOM)
    assert update_context(SessionState(), message, vocab, act="out_of_scope").kind == "out_of_scope"


def test_the_one_with_a_detail_picks_a_shown_product_or_describes_what_is_wanted():
    vocab, state = Vocabulary.from_products(SHOWROOM), SessionState()
    update_context(state, "hoodies", vocab, act="search")
    state.record_shown(SHOWROOM[:2])
    turn = update_context(state, "the one with a zip", vocab, act="ask_product")
    assert turn.kind == "ask_product" and [p.id for p in turn.referenced] == ["H0"]
    turn = update_context(state, "the one with a fleece lining", vocab, act="ask_product")
    assert turn.kind == "refine" and not turn.referenced  # none shown has it: a wish, searched for


@pytest.mark.parametrize("message, owned, category", [
    ("he already has a coffee maker", ["Coffee Makers"], None),
    ("I have a tent already, need a sleeping bag", ["Tents"], "Sleeping Bags"),
    ("she already owns a yoga mat, so something else for yoga", ["Yoga Mats"], None),
    ("do you have tents? I already looked", [], "Tents"),
])
def test_what_someone_already_has_is_excluded_not_searched(demo, message, owned, category):
    turn = update_context(SessionState(), message, demo, act="search")
    assert turn.constraints.exclude_categories == owned and turn.constraints.category == category


def test_budgets_are_said_in_the_catalogs_currency():
    jumpers = [Product(id=f"J{i}", title=f"Wool Jumper {i}", category="Knitwear > Jumpers", brand="Fjell",
                       price=40.0 + i, currency="GBP") for i in range(5)]
    jumpers.append(Product(id="S1", title="Wool Scarf", category="Knitwear > Scarves", brand="Fjell", price=20.0,
                           currency="GBP"))
    vocab, state = Vocabulary.from_products(jumpers), SessionState()
    assert vocab.currency == "GBP"
    assert update_context(state, "jumpers under £50", vocab, act="search").constraints.describe() == "jumpers, under £50"
    turn = update_context(state, "scarves instead", vocab, act="search")  # a new topic keeps the currency
    assert turn.constraints.describe() == "scarves, under £50"


def test_a_yes_no_attribute_name_is_a_word_the_catalog_uses():
    from assistant.dialogue.vocabulary import Vocabulary
    from catalog.schema import Product

    vocab = Vocabulary.from_products([Product(id="1", title="Trail Jacket", category="Jackets", price=50.0,
                                              attributes={"hood": "yes", "colour": "Red"})])
    assert vocab.unknown(["hood"]) == [] and vocab.unknown(["zipper"]) == ["zipper"]
