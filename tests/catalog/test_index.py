from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from catalog import index as index_module
from catalog.config import CatalogConfig
from catalog.index import ProductIndex, SearchFilters
from catalog.ingest import ingest_file
from catalog.load import LoadError
from catalog.schema import Product

FILTER_CASES = [
    ("waterproof jacket", SearchFilters(max_price=100)),
    ("headphones", SearchFilters(min_price=50, max_price=200, in_stock_only=True)),
    ("running shoes", SearchFilters(colour="black")),
    ("jacket", SearchFilters(category="Outdoor", exclude_brands=["Northpeak"])),
    ("gift", SearchFilters(min_rating=4.5, max_price=40)),
    ("kitchen", SearchFilters(category="Cookware", size=None, brands=["Ironleaf", "Copperline"])),
]


@pytest.fixture(scope="module")
def demo(demo_shop):
    config, index, report = demo_shop
    return config, index, report.products


def test_demo_ingest_accounts_for_every_row(demo):
    config, index, report = demo
    assert report.input_rows == report.loaded + len(report.rejects) + report.merged
    assert report.loaded >= 1000 and index.count() == report.loaded
    stats = index.stats()
    assert len(stats["categories"]) >= 10


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "chroma-hnsw"])
@pytest.mark.parametrize("query,filters", FILTER_CASES)
def test_filtered_queries_return_only_matching_products(demo, query, filters, exact):
    _, index, _ = demo
    index.exact_threshold = index_module.EXACT_THRESHOLD if exact else 0
    index._checked_at = 0.0  # re-decide the path now, not after the version-check interval
    hits = index.search(query, k=20, filters=filters)
    assert hits, f"no result for {query!r} with {filters}"
    for hit in hits:
        assert filters.matches(hit.product), (hit.product.title, hit.product.price, hit.product.brand)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    # The same filters checked in Python over the whole catalog: the index must not miss a better match.
    everything = [p for p in index.all_products() if filters.matches(p)]
    assert len(hits) == min(20, len(everything))


def test_exact_and_chroma_paths_agree(demo, embedder):
    _, index, _ = demo
    vector = embedder.encode_one("warm winter jacket")
    index.exact_threshold = index_module.EXACT_THRESHOLD
    index._checked_at = 0.0
    exact = [h.product.id for h in index.search(vector, k=10)]
    index.exact_threshold = 0
    index._checked_at = 0.0
    approx = [h.product.id for h in index.search(vector, k=10)]
    index.exact_threshold = index_module.EXACT_THRESHOLD
    assert len(set(exact) & set(approx)) >= 9
    ids, vectors = index.all_vectors()
    truth = [ids[i] for i in np.argsort(-(vectors @ vector))[:10]]
    assert exact == truth


def test_search_relevance_on_demo(demo):
    _, index, _ = demo
    top = index.search("wireless noise cancelling headphones", k=5)
    assert sum("Headphones" in h.product.category for h in top) >= 4


def _small_catalog(tmp_path: Path, products: list[dict]) -> Path:
    path = tmp_path / "shop.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in products) + "\n", encoding="utf-8")
    return path


PRODUCTS = [
    {"id": "J1", "title": "Waterproof Hiking Jacket", "brand": "Northpeak", "price": 89.0, "category": "Outdoor > Jackets",
     "colour": "Blue"},
    {"id": "J2", "title": "Insulated Ski Jacket", "brand": "Alpina", "price": 199.0, "category": "Outdoor > Jackets",
     "colour": "Red"},
    {"id": "S1", "title": "Trail Running Shoes", "brand": "Swift", "price": 120.0, "category": "Footwear > Running",
     "colour": "Blue"},
    {"id": "M1", "title": "Ceramic Coffee Mug", "brand": "Homely", "price": 12.5, "category": "Home > Kitchen"},
]


def test_reingest_is_incremental_and_idempotent(tmp_path, embedder, monkeypatch):
    config = CatalogConfig(data_dir=tmp_path / "data")
    index = ProductIndex(config, embedder=embedder)
    first = ingest_file(_small_catalog(tmp_path, PRODUCTS), config, index=index)
    assert (first.upsert.added, first.upsert.updated, first.upsert.unchanged) == (4, 0, 0)

    embedded: list[int] = []
    original = index.embed_products
    monkeypatch.setattr(index, "embed_products", lambda ps, progress=False: embedded.append(len(ps)) or original(ps))
    again = ingest_file(_small_catalog(tmp_path, PRODUCTS), config, index=index)
    assert (again.upsert.added, again.upsert.updated, again.upsert.unchanged) == (0, 0, 4)
    assert embedded == [0]  # nothing re-embedded

    changed = [dict(p) for p in PRODUCTS[:3]]
    changed[0]["price"] = 79.0
    third = ingest_file(_small_catalog(tmp_path, changed), config, index=index, delete_missing=True)
    assert (third.upsert.updated, third.upsert.unchanged, third.upsert.deleted) == (1, 2, 1)
    assert embedded[-1] == 1
    assert index.count() == 3 and index.get(["J1"])[0].price == 79.0 and index.get(["M1"]) == []
    assert [h.product.id for h in index.search("jacket", k=5, filters=SearchFilters(max_price=80))] == ["J1"]

    # A fresh process sees the same state.
    reopened = ProductIndex(config, embedder=embedder)
    assert reopened.count() == 3 and reopened.get(["J1"])[0].price == 79.0


def test_failed_ingest_leaves_previous_index(tmp_path, embedder):
    config = CatalogConfig(data_dir=tmp_path / "data")
    index = ProductIndex(config, embedder=embedder)
    ingest_file(_small_catalog(tmp_path, PRODUCTS), config, index=index)
    before = sorted((p.id, p.content_hash()) for p in index.all_products())
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"id": "J1", "title": "changed", "price": 1}) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(LoadError):
        ingest_file(broken, config, index=index, delete_missing=True)
    assert sorted((p.id, p.content_hash()) for p in index.all_products()) == before


def test_writes_by_another_process_are_seen(tmp_path, embedder, monkeypatch):
    monkeypatch.setattr(index_module, "VERSION_CHECK_SECONDS", 0.0)
    config = CatalogConfig(data_dir=tmp_path / "data")
    app_view = ProductIndex(config, embedder=embedder)
    writer = ProductIndex(config, embedder=embedder)
    ingest_file(_small_catalog(tmp_path, PRODUCTS), config, index=writer)
    assert len(app_view.search("mug", k=10)) == 4
    writer.upsert([Product(id="M2", title="Glass Tea Mug", price=9.0, category="Home > Kitchen")])
    assert "M2" in [h.product.id for h in app_view.search("tea mug", k=10)]


@pytest.fixture
def chroma_server(tmp_path):
    from tests.servers import chroma_server as start

    with start(tmp_path) as url:
        yield url


def test_server_mode_ingest_and_query(tmp_path, embedder, chroma_server):
    config = CatalogConfig(data_dir=tmp_path / "data", chroma_url=chroma_server)
    index = ProductIndex(config, embedder=embedder)
    report = ingest_file(_small_catalog(tmp_path, PRODUCTS), config, index=index)
    assert report.loaded == 4 and index.count() == 4
    assert not (tmp_path / "data" / "chroma").exists()  # nothing embedded locally: the server holds it
    for exact_threshold in (index_module.EXACT_THRESHOLD, 0):
        index.exact_threshold, index._checked_at = exact_threshold, 0.0
        hits = index.search("rain jacket", k=5, filters=SearchFilters(colour="blue", max_price=150))
        assert [h.product.id for h in hits] == ["J1", "S1"]  # the blue shoes match too, ranked lower
    again = ingest_file(_small_catalog(tmp_path, PRODUCTS), config, index=ProductIndex(config, embedder=embedder))
    assert again.upsert.unchanged == 4


def test_unreachable_server_is_a_clear_error(tmp_path):
    from catalog.index import IndexUnavailable
    from tests.servers import free_port

    config = CatalogConfig(data_dir=tmp_path, chroma_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(IndexUnavailable, match="cannot open the Chroma index at http://127.0.0.1"):
        ProductIndex(config)


def test_each_embedding_model_gets_its_own_collection():
    default = CatalogConfig(data_dir=Path("x"))
    assert default.collection_name == "products"
    other = CatalogConfig(data_dir=Path("x"), embed_model="BAAI/bge-small-en-v1.5")
    name = other.collection_name
    assert name != "products" and name.startswith("products-") and 3 <= len(name) <= 512
    assert name == CatalogConfig(data_dir=Path("x"), embed_model="BAAI/bge-small-en-v1.5").collection_name
