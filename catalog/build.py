"""First-run set-up of the built-in demo shop: generate it, then load it through the same paths a shop's own
data takes (so the demo exercises the real loader, cleaner, index and behaviour store)."""
from __future__ import annotations

from dataclasses import dataclass

from catalog.config import CatalogConfig
from catalog.demo import write_demo_files
from catalog.events import load_events_csv
from catalog.index import ProductIndex
from catalog.ingest import IngestReport, ingest_file
from catalog.policies import PolicyIndex, read_policy_file
from catalog.stores import open_event_store

DEMO_PRODUCTS = 1200


@dataclass
class DemoReport:
    products: IngestReport
    events_loaded: int  # appended by this build (0 when the store already held a log)
    events_rejected: int
    events_stored: int
    policies: int

    def summary(self) -> str:
        return (f"{self.products.summary()}\n"
                f"behaviour log: {self.events_loaded} events added, {self.events_rejected} rejected, "
                f"{self.events_stored} in the store\n"
                f"policies: {self.policies} documents indexed")


def build_demo_catalog(config: CatalogConfig | None = None, n_products: int | None = None, progress: bool = False,
                       index: ProductIndex | None = None) -> DemoReport:
    config = config or CatalogConfig()
    paths = write_demo_files(config.data_dir / "demo", n_products=n_products or DEMO_PRODUCTS)
    index = index or ProductIndex(config)
    products = ingest_file(paths["products"], config, progress=progress, index=index)
    known = {p.id for p in index.all_products()}
    events, rejects = load_events_csv(str(paths["events"]), known_items=known)
    store = open_event_store(config)
    loaded = 0
    if store.count() == 0:  # a rebuild must not double the log
        report = store.append_many(events, known_items=known)
        loaded, rejects = report.accepted, list(rejects) + list(report.rejected)
    stored = store.count()
    store.close()
    policies = PolicyIndex(index.client, index.embedder).upsert(read_policy_file(paths["policies"]))
    return DemoReport(products, loaded, len(rejects), stored, policies)


def ensure_demo_catalog(config: CatalogConfig | None = None, progress: bool = True,
                        index: ProductIndex | None = None) -> DemoReport | None:
    """Build the demo shop when the index is empty; later runs reuse what is persisted (returns None)."""
    config = config or CatalogConfig()
    index = index or ProductIndex(config)
    if index.count() > 0:
        return None
    return build_demo_catalog(config, progress=progress, index=index)
