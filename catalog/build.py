"""First-run set-up of the built-in demo catalog: generate it, then ingest it through the same path a shop's
own export takes (so the demo exercises the real loader, cleaner and index)."""
from __future__ import annotations

from catalog.config import CatalogConfig
from catalog.demo import write_demo_files
from catalog.index import ProductIndex
from catalog.ingest import IngestReport, ingest_file

DEMO_PRODUCTS = 1200


def build_demo_catalog(config: CatalogConfig | None = None, n_products: int | None = None, progress: bool = False,
                       index: ProductIndex | None = None) -> IngestReport:
    config = config or CatalogConfig()
    paths = write_demo_files(config.data_dir / "demo", n_products=n_products or DEMO_PRODUCTS)
    return ingest_file(paths["products"], config, progress=progress, index=index)


def ensure_demo_catalog(config: CatalogConfig | None = None, progress: bool = True,
                        index: ProductIndex | None = None) -> IngestReport | None:
    """Build the demo catalog when the index is empty; later runs reuse what is persisted (returns None)."""
    config = config or CatalogConfig()
    index = index or ProductIndex(config)
    if index.count() > 0:
        return None
    return build_demo_catalog(config, progress=progress, index=index)
