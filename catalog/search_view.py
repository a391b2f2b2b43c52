"""Plain functions behind the catalog search page, kept out of app.py so the UI file only wires events."""
from __future__ import annotations

from catalog.index import ProductIndex, SearchFilters

CATEGORY_ANY = "Any"


def category_choices(index: ProductIndex) -> list[str]:
    return [c for c in index.stats()["categories"] if c != "(none)"]


def search_table(index: ProductIndex, query: str, max_price: float | None, category: str | None) -> list[list]:
    """Rows for the results table. Text goes out as data cells, which Gradio renders escaped."""
    query = (query or "").strip()[:500]
    if not query:
        return []
    if max_price is not None and max_price < 0:
        max_price = None
    filters = SearchFilters(max_price=max_price, category=None if category in (None, "", CATEGORY_ANY) else category)
    rows = []
    for hit in index.search(query, k=10, filters=filters):
        p = hit.product
        rows.append([round(hit.score, 3), p.title, p.brand, f"{p.price:.2f} {p.currency}" if p.price is not None else "",
                     p.rating if p.rating is not None else "", p.category, "yes" if p.in_stock else "no"])
    return rows
