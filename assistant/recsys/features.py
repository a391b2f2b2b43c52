"""Item side information shared by the recommender, the predictors, training, evaluation and the shop: the item
metadata the feature predictor reads, the structured item features of the recommender and the item text the
cross-encoder reads. One definition, so every consumer sees items the same way.

    meta = ItemMeta.from_products(products)
    features = item_features(meta)                        # category / brand / price-band block of the recommender
    texts = [item_text(p.title, p.category, p.brand) for p in products]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from assistant.recsys.recommend import build_item_features
from catalog.schema import Product


@dataclass
class ItemMeta:
    """Per-item side information the feature predictor reads; NaN / "" where unknown."""
    titles: list[str]
    prices: np.ndarray  # float64, NaN where the shop gives no price
    brands: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)

    @classmethod
    def from_products(cls, products: Iterable[Product]) -> ItemMeta:
        products = list(products)
        return cls(titles=[p.title for p in products],
                   prices=np.array([np.nan if p.price is None else p.price for p in products], dtype=np.float64),
                   brands=[p.brand for p in products], categories=[p.category for p in products])


def item_text(title: str, category: str, brand: str) -> str:
    # Same shape as UniSRec's "<title>. <category>. <brand>." so split_item_text and the encoders see one format.
    return f"{title}. {category}. {brand}."


def split_item_text(text: str) -> tuple[str, str, str]:
    """UniSRec item text is "<title>. <category path>. <brand>."; returns (title, category, brand). Titles may
    contain ". " themselves, so category and brand are taken from the end."""
    parts = [p.strip() for p in text.strip().rstrip(".").split(". ")]
    if len(parts) >= 3:
        return ". ".join(parts[:-2]), parts[-2], parts[-1]
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return text.strip(), "", ""


def item_features(meta: ItemMeta):
    """The recommender's structured item features (category, brand, price band) from the item metadata."""
    prices = [None if not np.isfinite(p) else float(p) for p in meta.prices]
    return build_item_features(meta.categories, meta.brands, prices if any(p is not None for p in prices) else None)
