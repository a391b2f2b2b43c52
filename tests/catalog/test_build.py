from __future__ import annotations

from catalog.build import build_demo_catalog, ensure_demo_catalog
from catalog.events import EventStore
from catalog.policies import PolicyIndex


def test_demo_shop_has_products_behaviour_and_policies(demo_shop):
    config, index, report = demo_shop
    assert report.products.loaded >= 1000 and not report.products.rejects
    store = EventStore(str(config.events_path))
    assert store.count() == report.events_stored >= 50_000 and report.events_rejected == 0
    assert len(store.users()) >= 2000
    store.close()
    policies = PolicyIndex(index.client, index.embedder)
    assert policies.count() == report.policies >= 5
    assert policies.search("can I return this and get my money back", k=1)[0]["id"] == "returns"
    assert policies.search("when will my parcel arrive", k=2)[0]["id"] in ("shipping", "order-tracking")


def test_ensure_demo_catalog_reuses_what_is_persisted(demo_shop):
    config, index, _ = demo_shop
    assert ensure_demo_catalog(config, index=index) is None  # the index is not empty: nothing is rebuilt


def test_rebuild_does_not_double_the_behaviour_log(tmp_path, embedder):
    from catalog.config import CatalogConfig
    from catalog.index import ProductIndex

    config = CatalogConfig(data_dir=tmp_path)
    index = ProductIndex(config, embedder=embedder)
    first = build_demo_catalog(config, n_products=120, index=index)
    second = build_demo_catalog(config, n_products=120, index=index)
    assert second.products.upsert.unchanged == first.products.loaded
    assert second.events_loaded == 0 and second.events_stored == first.events_stored
