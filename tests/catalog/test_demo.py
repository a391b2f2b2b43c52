"""The demo catalog and behaviour log: deterministic, well-formed, and carrying the signals a recommender should find."""
from __future__ import annotations

import csv
import json
import re
import statistics
from collections import Counter, defaultdict

import pandas as pd
import pytest

from catalog.demo import (
    COMPLEMENTS,
    DEMO_PERSONAS,
    LEAVES,
    TIER_OF,
    generate_events,
    generate_products,
    policy_documents,
    user_tastes,
    write_demo_files,
)
from catalog.schema import EVENT_TYPES, Product


@pytest.fixture(scope="module")
def products() -> list[Product]:
    return generate_products()


@pytest.fixture(scope="module")
def events(products):
    return generate_events(products)


@pytest.fixture(scope="module")
def purchases(products, events) -> dict[str, list[tuple[float, Product]]]:
    by_id = {p.id: p for p in products}
    out = defaultdict(list)
    for e in events:
        if e.type == "purchase":
            out[e.user_id].append((e.timestamp, by_id[e.item_id]))
    return out


# -----------------------------------------------------------------------------
# products

def test_products_are_deterministic_per_seed(products):
    assert [p.to_dict() for p in generate_products()] == [p.to_dict() for p in products]
    other = generate_products(seed=1)
    assert [p.title for p in other] != [p.title for p in products]


def test_product_counts_and_category_tree(products):
    assert len(products) == 1200
    assert len({p.category_top for p in products}) >= 10
    leaves = {p.category for p in products}
    assert len(leaves) >= 30
    assert leaves == {row[0] for row in LEAVES}  # every leaf is stocked at the default size
    assert all(" > " in p.category for p in products)


def test_ids_and_titles_are_unique(products):
    assert len({p.id for p in products}) == len(products)
    assert all(re.fullmatch(r"P\d{6}", p.id) for p in products)
    assert len({p.title for p in products}) == len(products)
    big = generate_products(20_000, seed=3)
    assert len({p.title for p in big}) == len({p.id for p in big}) == 20_000
    assert big[-1].id == "P020000"


def test_variants_share_a_model_but_differ_in_colour_or_size(products):
    by_model = defaultdict(list)
    for p in products:
        by_model[p.title.split(" – ")[0]].append(p)
    multi = [ps for ps in by_model.values() if len(ps) > 1]
    assert len(multi) > 50  # real shops list colour/size variants separately
    for ps in multi:
        variants = {(p.attributes.get("colour"), p.attributes.get("size")) for p in ps}
        assert len(variants) == len(ps)
        assert len({p.price for p in ps}) == 1 and len({p.brand for p in ps}) == 1


def test_prices_are_plausible_per_category(products):
    medians = {row[0]: float(row[1]) for row in LEAVES}
    by_leaf = defaultdict(list)
    for p in products:
        assert p.currency == "USD"
        assert p.price > 0 and round(p.price % 1, 2) in (0.49, 0.99)
        assert medians[p.category] / 10 <= p.price <= medians[p.category] * 10, (p.category, p.price)
        by_leaf[p.category].append(p.price)
    for leaf, prices in by_leaf.items():
        assert medians[leaf] / 2 <= statistics.median(prices) <= medians[leaf] * 2, leaf
    # The brand tier shifts prices: premium laptops cost more than budget ones.
    laptops = [p for p in products if p.category == "Electronics > Laptops"]
    premium = statistics.median(p.price for p in laptops if TIER_OF[p.brand] == "premium")
    budget = statistics.median(p.price for p in laptops if TIER_OF[p.brand] == "budget")
    assert premium > 1.5 * budget


def test_product_fields_look_like_a_real_shop(products):
    ratings = [p.rating for p in products]
    assert all(1.0 <= r <= 5.0 and round(r, 1) == r for r in ratings)
    assert 3.6 <= statistics.median(ratings) <= 4.3
    assert sum(3.5 <= r <= 4.8 for r in ratings) / len(ratings) > 0.7
    reviews = sorted(p.review_count for p in products)
    assert reviews[-1] > 10 * statistics.median(reviews)  # long tail
    assert 0.85 < sum(p.in_stock for p in products) / len(products) < 0.97
    assert all((p.stock > 0) == p.in_stock for p in products)
    for p in products:
        assert p.image_url == "" and 2 <= len(p.tags) <= 4
        assert p.brand in p.title and p.description.startswith(f"The {p.brand} ")
        assert 2 <= p.description.count(". ") + 1 <= 6
        assert 1 <= len(set(p.attributes) - {"colour", "size", "material"}) <= 2  # category-specific extras
    electronics = [p for p in products if p.category_top == "Electronics"]
    assert not any("size" in p.attributes for p in electronics)
    jackets = [p for p in products if p.category == "Outdoor > Jackets"]
    assert {p.attributes["size"] for p in jackets} <= {"S", "M", "L", "XL", "XXL"}
    assert any("waterproof" in p.description for p in jackets)
    for p in jackets:  # the attribute agrees with the title
        assert p.attributes["waterproof"] == ("yes" if "Waterproof" in p.title else "no")


def test_jsonl_rows_load_with_pandas(tmp_path, products):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in products[:50]), "utf-8")
    df = pd.json_normalize(pd.read_json(path, lines=True).to_dict("records"))
    assert len(df) == 50 and "attributes.colour" in df.columns
    assert Product.from_dict(json.loads(path.read_text("utf-8").splitlines()[0])) == products[0]


# -----------------------------------------------------------------------------
# events

def test_events_are_deterministic_and_well_formed(products, events):
    assert generate_events(products) == events
    assert generate_events(products, seed=1) != events
    assert len(events) == 60_000
    assert len({e.user_id for e in events}) == 2000
    assert all(re.fullmatch(r"U\d{5}", e.user_id) and re.fullmatch(r"S\d{6}", e.session_id) for e in events)
    ids = {p.id for p in products}
    assert all(e.item_id in ids for e in events)
    assert {e.type for e in events} == set(EVENT_TYPES)
    times = [e.timestamp for e in events]
    assert times == sorted(times)
    assert 1_767_225_600.0 <= times[0] and times[-1] <= 1_767_225_600.0 + 120 * 86400
    assert times[-1] - times[0] > 100 * 86400  # spread over the window, not bunched


def test_small_catalogs_and_logs_work():
    products = generate_products(20, seed=5)  # most leaves, and so most complements, are missing
    events = generate_events(products, n_users=30, n_events=300, seed=5)
    assert len(events) == 300 and {e.item_id for e in events} <= {p.id for p in products}


def test_funnel_and_sessions(events):
    counts = Counter(e.type for e in events)
    assert counts["view"] > counts["click"] > counts["add_to_cart"] > counts["purchase"] > 1000
    owner, span = {}, defaultdict(list)
    for e in events:
        assert owner.setdefault(e.session_id, e.user_id) == e.user_id  # a session belongs to one user
        span[e.session_id].append(e.timestamp)
    assert len(span) > 5000
    assert max(max(t) - min(t) for t in span.values()) < 6 * 3600  # a visit, not a month
    # A user's sessions do not overlap.
    by_user = defaultdict(list)
    for s, t in span.items():
        by_user[owner[s]].append((min(t), max(t)))
    for windows in by_user.values():
        windows.sort()
        assert all(a[1] < b[0] for a, b in zip(windows, windows[1:]))


def test_purchase_only_after_add_to_cart(events):
    first_cart: dict[tuple[str, str], float] = {}
    for e in events:
        key = (e.user_id, e.item_id)
        if e.type == "add_to_cart":
            first_cart.setdefault(key, e.timestamp)
        elif e.type == "purchase":
            assert key in first_cart and first_cart[key] < e.timestamp


def test_users_have_consistent_tastes(products, purchases):
    tastes = user_tastes()
    share = Counter(p.category_top for p in products)
    hits = total = 0
    chance = []
    for u, bought in purchases.items():
        hits += sum(p.category_top in tastes[u]["tops"] for _, p in bought)
        total += len(bought)
        chance.append(sum(share[t] for t in tastes[u]["tops"]) / len(products))
    rate, base = hits / total, statistics.mean(chance)
    assert rate > 0.5 and rate > 3 * base, (rate, base)
    brand_hits = sum(p.brand in tastes[u]["brands"] for u, bought in purchases.items() for _, p in bought)
    assert brand_hits / total > 0.35


def test_complementary_purchases_follow(purchases):
    buyers = defaultdict(set)
    for u, bought in purchases.items():
        for _, p in bought:
            buyers[p.category].add(u)
    for leaf, targets in COMPLEMENTS.items():
        assert leaf in buyers and all(t in {row[0] for row in LEAVES} for t in targets)
    followed = cases = 0
    base = 0.0
    for leaf, targets in COMPLEMENTS.items():
        target_buyers = set().union(*(buyers[t] for t in targets))
        for u in buyers[leaf]:
            first = min(t for t, p in purchases[u] if p.category == leaf)
            followed += any(p.category in targets and t > first for t, p in purchases[u])
            cases += 1
            base += len(target_buyers) / len(purchases)  # how often anyone buys there at all
    rate, base_rate = followed / cases, base / cases
    assert cases > 200 and rate > 0.25
    assert rate / base_rate > 3, (rate, base_rate)


def test_popular_items_get_more_traffic(products, events):
    views = Counter(e.item_id for e in events if e.type == "view")
    top = sorted(products, key=lambda p: -p.review_count)[: len(products) // 10]
    assert sum(views[p.id] for p in top) / sum(views.values()) > 0.2  # a tenth of the items, over a fifth of views


def test_personas_are_distinct_real_users(events):
    assert 3 <= len(DEMO_PERSONAS) <= 4
    assert len(set(DEMO_PERSONAS.values())) == len(DEMO_PERSONAS)
    tastes = user_tastes()
    assert len({tastes[u]["tops"][0] for u in DEMO_PERSONAS}) == len(DEMO_PERSONAS)
    active = Counter(e.user_id for e in events)
    for u, text in DEMO_PERSONAS.items():
        assert active[u] >= 30  # enough history to personalise on
        assert tastes[u]["tops"][0].lower() in text and tastes[u]["brands"][0] in text


# -----------------------------------------------------------------------------
# policies and files

def test_policy_documents_cover_after_sales():
    docs = policy_documents()
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids)) >= 8
    for needed in ("returns", "shipping", "warranty", "payment", "order-tracking"):
        assert needed in ids
    for d in docs:
        assert set(d) == {"id", "title", "text"} and d["title"]
        assert 3 <= d["text"].count(". ") + 1 <= 9, d["id"]
        assert "\n" not in d["text"]
    text = {d["id"]: d["text"] for d in docs}
    assert "30 days" in text["returns"] and "$50" in text["shipping"] and "2 years" in text["warranty"]


def test_write_demo_files_round_trip(tmp_path):
    paths = write_demo_files(tmp_path / "demo", n_products=300, seed=2)
    assert set(paths) == {"products", "events", "policies"} and all(p.exists() for p in paths.values())
    lines = paths["products"].read_text("utf-8").splitlines()
    assert len(lines) == 300
    ids = {json.loads(line)["id"] for line in lines}
    with open(paths["events"], encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["user_id", "item_id", "type", "timestamp", "session_id"]
    assert len(rows) == 60_000 and all(r["item_id"] in ids for r in rows)
    assert len(paths["policies"].read_text("utf-8").splitlines()) == len(policy_documents())
