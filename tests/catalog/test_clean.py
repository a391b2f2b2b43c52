from __future__ import annotations

import pytest

from catalog.clean import clean_table, clean_text, parse_price
from catalog.load import RawTable


def _table(rows):
    return RawTable("t.csv", rows, list(range(1, len(rows) + 1)), [])


@pytest.mark.parametrize("raw,expected", [
    ("<p>Warm &amp; <b>dry</b></p><br/>jacket", "Warm & dry jacket"),
    ("Fish &amp;amp; chips", "Fish & chips"),  # double-escaped entities from a CMS export
    ("  lots \n\t of   space ", "lots of space"),
    ("<style>.x{color:red}</style>Visible<script>alert(1)</script>", "Visible"),
    ("a < b and c > d", "a < b and c > d"),
    (None, ""),
])
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected


@pytest.mark.parametrize("raw,amount,currency", [
    ("$1,299.99", 1299.99, "USD"),
    ("1.299,99 €", 1299.99, "EUR"),
    ("12,50", 12.5, None),
    ("£ 1 299", 1299.0, "GBP"),
    ("USD 15", 15.0, "USD"),
    ("1,299", 1299.0, None),
    ("2.55", 2.55, None),
    (7, 7.0, None),
    ("", None, None),
    ("-3.00", -3.0, None),
])
def test_parse_price(raw, amount, currency):
    assert parse_price(raw) == (amount, currency)


@pytest.mark.parametrize("raw", ["abc", "12.3.4,5", "1,2,3", True, float("inf"), "ten dollars"])
def test_parse_price_rejects_non_numbers(raw):
    with pytest.raises(ValueError):
        parse_price(raw)


def test_rejects_duplicates_and_accounting():
    rows = [
        {"id": "1", "title": "Good", "price": "10"},
        {"id": "", "title": "No id", "price": "10"},
        {"id": "3", "title": "", "price": "10"},
        {"id": "4", "title": "Bad price", "price": "abc"},
        {"id": "5", "title": "Negative", "price": "-1"},
        {"id": "1", "title": "Good, updated", "price": "12"},
        {"id": "6", "title": "Placeholder price", "price": "99999999"},
        {"id": "7", "title": "No price at all"},
    ]
    result = clean_table(_table(rows))
    assert {p.id: p.title for p in result.products} == {"1": "Good, updated", "7": "No price at all"}
    assert [(r.row, r.reason.split(" ")[0]) for r in result.rejects] == [
        (2, "missing"), (3, "missing"), (4, "price"), (5, "negative"), (7, "price")]
    assert result.duplicates == {"1": [1]}  # row 1 merged into row 6: the last row wins
    assert result.accounted() and result.input_rows == 8
    assert next(p for p in result.products if p.id == "7").price is None


def test_category_price_outlier_is_rejected():
    rows = [{"id": str(i), "title": f"Mug {i}", "price": str(10 + i % 5), "category": "Home > Mugs"} for i in range(30)]
    rows.append({"id": "x", "title": "Mug typo", "price": "120000", "category": "Home > Mugs"})
    result = clean_table(_table(rows))
    assert [r.id for r in result.rejects] == ["x"] and "outlier" in result.rejects[0].reason
    assert result.accounted()


def test_defaults_and_normalisation():
    rows = [{
        "id": 12.0, "title": "<b>Tent</b>", "price": "€ 199,00", "category": ["Outdoor", "Tents"],
        "rating": "9", "review_count": "abc", "stock": "0", "tags": "camping|tent",
        "image_url": ["not a url", "https://img.example/t.jpg"], "colour": "Green",
        "attributes": {"dimensions.width": 210, "weight": " 2.1 kg "},
    }]
    result = clean_table(_table(rows))
    p = result.products[0]
    assert p.id == "12" and p.title == "Tent" and p.price == 199.0 and p.currency == "EUR"
    assert p.category == "Outdoor > Tents"
    assert p.rating is None and "rating" in result.warnings[0].reason  # fixed and reported, not silently
    assert p.review_count == 0 and p.stock == 0 and p.in_stock is False
    assert p.tags == ["camping", "tent"] and p.image_url == "https://img.example/t.jpg"
    assert p.attributes == {"colour": "Green", "dimensions.width": 210, "weight": "2.1 kg"}


def test_availability_words():
    rows = [{"id": "a", "title": "A", "in_stock": "Out of stock"}, {"id": "b", "title": "B", "in_stock": "yes"},
            {"id": "c", "title": "C"}]
    stock = {p.id: p.in_stock for p in clean_table(_table(rows)).products}
    assert stock == {"a": False, "b": True, "c": True}
