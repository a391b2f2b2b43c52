"""Reading one message into constraints: the catalog vocabulary, category words, price, brand, colour, size, rating
and stock phrasings, clears, false-positive guards, and what `Constraints` turns into (filters, descriptions). Each
case goes through update_context, as a shopper's message would. Pure Python, no models.

The test catalog, the `vocab` fixture and `_turn` live here and test_context.py imports them, as assistant.dialogue.context
imports from assistant.dialogue.constraints."""
from __future__ import annotations

import pytest

from assistant.dialogue.context import AROUND_BAND, SessionState, TurnContext, update_context
from assistant.dialogue.vocabulary import Vocabulary
from catalog.demo import DEMO_CATEGORY_SYNONYMS, generate_products
from catalog.schema import Product


def _jacket(pid: str, price: float, brand: str, colour: str = "Black", size: str = "M") -> Product:
    return Product(id=pid, title=f"{brand} Aero {pid} Waterproof Hiking Jacket – {colour}, {size}",
                   category="Outdoor > Jackets", brand=brand, price=price,
                   attributes={"colour": colour, "size": size}, rating=4.2, tags=["jackets", "waterproof"])


SHOWN = [_jacket("J1", 95.0, "Northpeak"), _jacket("J2", 80.0, "Ridgeway", "Red"),
         _jacket("J3", 70.0, "Northpeak", "Olive"), _jacket("J4", 60.0, "Trailhaven", "Navy")]
HAND_MADE = SHOWN + [
    Product(id="H1", title="Kinetica Tempo 20 Racing Shoe – EU 42", category="Footwear > Running Shoes",
            brand="Kinetica", price=140.0, attributes={"colour": "Blue", "size": "EU 42"}),
    Product(id="H2", title="Corner Desk Oak 120", category="Office > Desks", brand="Deskcraft", price=300.0),
]


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.from_products(generate_products(300) + HAND_MADE, synonyms=DEMO_CATEGORY_SYNONYMS)


def _turn(vocab: Vocabulary, message: str, topic: str | None = None, shown: list[Product] | None = None,
          state: SessionState | None = None) -> TurnContext:
    state = state or SessionState()
    if topic:
        update_context(state, topic, vocab)
    if shown:
        state.record_shown(shown)
    return update_context(state, message, vocab)


# ---- vocabulary ----------------------------------------------------------------------------------------------------

def test_vocabulary_collects_catalog_names(vocab):
    assert {"Northpeak", "Summit & Pine", "Barkley & Co", "Kinetica"} <= set(vocab.brands)
    assert {"Outdoor", "Jackets", "Running Shoes", "Kitchen", "Coffee Makers", "Yoga Mats"} <= set(vocab.categories)
    assert "Jackets" in vocab.leaves and "Outdoor" not in vocab.leaves
    assert {"Navy", "Forest Green", "Sky Blue", "Blue", "Purple"} <= set(vocab.colours)  # catalog + base list
    assert {"S", "M", "L", "XL", "US 9", "EU 42", "30 ml", "Queen"} <= set(vocab.sizes)
    assert "waterproof" in vocab.features and "premium" not in vocab.features
    assert "M" in vocab.category_sizes["jackets"] and "M" not in vocab.category_sizes.get("desks", set())


@pytest.mark.parametrize("message,category", [
    ("waterproof hiking jacket", "Jackets"),
    ("jackets", "Jackets"),
    ("running shoes", "Running Shoes"),
    ("a running shoe", "Running Shoes"),
    ("new shoes", "Running Shoes"),
    ("hiking boots", "Hiking Boots"),
    ("a yoga mat", "Yoga Mats"),
    ("yoga blocks", "Yoga Blocks"),
    ("a chef's knife", "Knives"),
    ("wireless mouse", "Mice"),
    ("laptop backpack", "Backpacks"),
    ("desk lamp", "Desk Lamps"),
    ("standing desk", "Desks"),
    ("coffee maker", "Coffee Makers"),
    ("sneakers", "Running Shoes"),
    ("earbuds", "Headphones"),
    ("outdoor gear", "Outdoor"),
    ("electronics", "Electronics"),
    ("kitchen stuff", "Kitchen"),
    ("headphones for my home office", "Headphones"),
])
def test_category_words(vocab, message, category):
    assert _turn(vocab, message).constraints.category == category


@pytest.mark.parametrize("message", ["something for home use", "is it good for the office?", "I love the outdoors",
                                     "what's new", "any recommendations?"])
def test_no_category_from_ordinary_words(vocab, message):
    assert _turn(vocab, message).constraints.category is None


# ---- prices --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("message,min_price,max_price", [
    ("under $50", None, 50.0),
    ("below 50", None, 50.0),
    ("less than 50 dollars", None, 50.0),
    ("max 50", None, 50.0),
    ("up to €50", None, 50.0),
    ("<50", None, 50.0),
    ("50 or less", None, 50.0),
    ("no more than 50 bucks", None, 50.0),
    ("budget of 80", None, 80.0),
    ("$200 budget", None, 200.0),
    ("I have $200 to spend", None, 200.0),
    ("cheaper than $45", None, 45.0),
    ("$1,299 max", None, 1299.0),
    ("laptop under 2k", None, 2000.0),
    ("over 20", 20.0, None),
    ("at least 20", 20.0, None),
    ("more than 20", 20.0, None),
    ("$20 or more", 20.0, None),
    ("between 20 and 40", 20.0, 40.0),
    ("between $40 and $20", 20.0, 40.0),
    ("20-40", 20.0, 40.0),
    ("$20 to $40", 20.0, 40.0),
    ("from 20 to 40 dollars", 20.0, 40.0),
    ("over 20 but under 60", 20.0, 60.0),
])
def test_price_phrasings(vocab, message, min_price, max_price):
    c = _turn(vocab, message).constraints
    assert (c.min_price, c.max_price) == (min_price, max_price)
    assert "price_target" not in c.soft


@pytest.mark.parametrize("message,target", [
    ("around 100", 100.0), ("about $100", 100.0), ("~100", 100.0), ("roughly 100 dollars", 100.0),
    ("100ish", 100.0), ("in the $100 range", 100.0), ("approximately 80", 80.0), ("a $300 camera", 300.0),
])
def test_around_is_a_band_plus_soft_target(vocab, message, target):
    c = _turn(vocab, message).constraints
    assert c.soft["price_target"] == target
    assert c.min_price == pytest.approx(target * (1 - AROUND_BAND))
    assert c.max_price == pytest.approx(target * (1 + AROUND_BAND))


@pytest.mark.parametrize("message", [
    "Summit 350 jacket",  # a model number
    "the Aero 120 Pro",
    "2 pack socks",
    "tent for 4 people",
    "under 5 kg tent",
    "at least 4 stars",
    "a 30 ml moisturiser",
    "2-3 person tent",
    "US 9-10 running shoes",
    "size 8",
    "a 2-in-1 laptop",
    "headphones with 40 h battery",
    "20% off",
    "building set for ages 6-8",
])
def test_numbers_that_are_not_prices(vocab, message):
    c = _turn(vocab, message).constraints
    assert c.min_price is None and c.max_price is None and "price_target" not in c.soft


@pytest.mark.parametrize("message", ["a cheap yoga mat", "the cheapest yoga mats", "budget yoga mat"])
def test_cheap_alone_is_soft(vocab, message):
    c = _turn(vocab, message).constraints
    assert c.max_price is None and c.soft["prefer_cheaper"] == 1.0


@pytest.mark.parametrize("message", ["forget the price", "any price", "price doesn't matter", "no budget"])
def test_clearing_the_price(vocab, message):
    state = SessionState()
    update_context(state, "jackets between 50 and 100 from Northpeak", vocab)
    c = update_context(state, message, vocab).constraints
    assert c.min_price is None and c.max_price is None
    assert c.brands == ["Northpeak"] and c.category == "Jackets"


# ---- brands, colours, sizes, ratings, stock ------------------------------------------------------------------------

@pytest.mark.parametrize("message,brands,excluded", [
    ("not Northpeak", [], ["Northpeak"]),
    ("no Northpeak please", [], ["Northpeak"]),
    ("except Northpeak", [], ["Northpeak"]),
    ("anything but Northpeak", [], ["Northpeak"]),
    ("I don't want Northpeak", [], ["Northpeak"]),
    ("not Northpeak or Ridgeway", [], ["Northpeak", "Ridgeway"]),
    ("not Nike", [], ["Nike"]),  # a brand the catalog lacks: excluding it is harmless
    ("anything but Adidas or Puma", [], ["Adidas", "Puma"]),
    ("from Northpeak", ["Northpeak"], []),
    ("by Summit & Pine", ["Summit & Pine"], []),
    ("summit and pine jackets", ["Summit & Pine"], []),
    ("Northpeak only", ["Northpeak"], []),
    ("NORTHPEAK", ["Northpeak"], []),
    ("Northpeak or Ridgeway", ["Northpeak", "Ridgeway"], []),
    ("Ridgeway but not Northpeak", ["Ridgeway"], ["Northpeak"]),
    ("barkley & co dog bed", ["Barkley & Co"], []),
])
def test_brand_phrasings(vocab, message, brands, excluded):
    c = _turn(vocab, message).constraints
    assert (c.brands, c.exclude_brands) == (brands, excluded)


@pytest.mark.parametrize("message,colour", [
    ("in blue", "Blue"), ("a blue one", "Blue"), ("navy jacket", "Navy"), ("forest green tent", "Forest Green"),
    ("sky blue", "Sky Blue"), ("grey please", "Grey"), ("gray please", "Grey"), ("in cream", "Cream"),
    ("cream colour", "Cream"), ("Purple", "Purple"), ("the red one", "Red"),
])
def test_colour_phrasings(vocab, message, colour):
    assert _turn(vocab, message).constraints.colour == colour


@pytest.mark.parametrize("message", ["face cream", "terracotta planter", "sand-proof tent", "olive oil pourer",
                                     "I'm reading"])
def test_ambiguous_colour_words_need_a_cue(vocab, message):
    assert _turn(vocab, message).constraints.colour is None


def test_colour_clear_and_avoid(vocab):
    state = SessionState()
    update_context(state, "jacket in black", vocab)
    c = update_context(state, "not black", vocab).constraints
    assert c.colour is None and c.soft["avoid_colour"] == "Black"
    update_context(state, "navy", vocab)
    assert update_context(state, "any colour", vocab).constraints.colour is None


@pytest.mark.parametrize("message,size", [
    ("size M", "M"), ("in M", "M"), ("in a medium", "M"), ("medium size", "M"), ("size: xl", "XL"),
    ("an XL jacket", "XL"), ("XXL", "XXL"), ("size large", "L"), ("running shoes size 9", "US 9"),
    ("US 10 shoes", "US 10"), ("eu 42", "EU 42"), ("30 ml moisturiser", "30 ml"), ("50ml serum", "50 ml"),
    ("medium dog bed", "M"), ("large jacket", "L"), ("queen size duvet", "Queen"), ("twin sheets", "Twin"),
    ("full size sheet set", "Full"),
])
def test_size_phrasings(vocab, message, size):
    assert _turn(vocab, message).constraints.size == size


@pytest.mark.parametrize("message", ["I'm looking for a jacket", "a L-shaped desk", "I am M", "large desk",
                                     "small coffee maker", "a medium roast grinder", "I'd like a tent", "3 l water",
                                     "full sheet set"])
def test_size_false_positives(vocab, message):
    assert _turn(vocab, message).constraints.size is None


@pytest.mark.parametrize("message,rating", [
    ("4 stars and up", 4.0), ("4+ stars", 4.0), ("rated at least 4", 4.0), ("at least 4.5 stars", 4.5),
    ("four stars or better", 4.0), ("rating above 3.5", 3.5), ("well reviewed", 4.0), ("highly rated tents", 4.0),
    ("top-rated", 4.0),
])
def test_rating_phrasings(vocab, message, rating):
    c = _turn(vocab, message).constraints
    assert c.min_rating == rating and c.min_price is None


@pytest.mark.parametrize("message,in_stock", [("in stock only", True), ("available now", True),
                                              ("ready to ship ones", True), ("out of stock is fine", False)])
def test_stock(vocab, message, in_stock):
    state = SessionState()
    state.constraints.in_stock_only = not in_stock
    assert update_context(state, message, vocab).constraints.in_stock_only is in_stock


def test_features_become_soft_preferences(vocab):
    c = _turn(vocab, "lightweight waterproof jacket").constraints
    assert c.soft["waterproof"] == 1.0 and c.soft["lightweight"] == 1.0
    assert c.to_filters().to_where() == {"$or": [{"category_key": "jackets"}, {"cat0": "jackets"},
                                                 {"cat1": "jackets"}, {"cat2": "jackets"}]}


# ---- filters, description ------------------------------------------------------------------------------------------

def test_to_filters_matches_like_the_index(vocab):
    c = _turn(vocab, "jackets between 60 and 90 not Northpeak, size M").constraints
    f = c.to_filters(exclude_ids=["J4"])
    assert [p.id for p in HAND_MADE if f.matches(p)] == ["J2"]
    where = f.to_where()
    assert {"price": {"$gte": 60.0}} in where["$and"] and {"brand_key": {"$nin": ["northpeak"]}} in where["$and"]


@pytest.mark.parametrize("message,text", [
    ("jackets under $100 not Northpeak in blue", "jackets, under $100, not Northpeak, blue"),
    ("tents between 20 and 40.50 from Summit & Pine", "tents, $20–$40.50, from Summit & Pine"),
    ("around $1,000", "around $1,000"),
    ("over 20, 4 stars and up, in stock", "over $20, rated 4+, in stock"),
    ("not black, size L", "not black, size L"),
    ("", ""),
])
def test_describe(vocab, message, text):
    assert _turn(vocab, message).constraints.describe() == text



@pytest.mark.parametrize("message, word", [("waterproof bluetooth speaker", "speaker"), ("a tent for two", None),
                                           ("tent for 4 people", None), ("hiking jacket for a couple", None)])
def test_only_a_thing_the_catalog_never_names_gets_a_notice(vocab, message, word):
    """The last content word is usually what is asked for; a count ("for two", "4 people") never is."""
    notices = [n for n in _turn(vocab, message).notices if n.startswith("No product here mentions")]
    assert notices == ([f"No product here mentions {word!r}; these are the closest I found."] if word else [])


@pytest.mark.parametrize("message", ["what sizes does it come in?", "which sizes are there?"])
def test_the_word_sizes_is_not_size_s(vocab, message):
    assert _turn(vocab, message).constraints.size is None
