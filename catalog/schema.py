"""The data model: products, behaviour events and reviews, and the text we embed for a product.

Products are plain dataclasses so that every layer (loader, index, recommender, UI) shares one shape.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

# Event types in order of how strongly they signal purchase intent; the recommender weights them.
EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")

# Attribute keys that become Chroma metadata filters (besides price, brand, category, rating, in_stock).
PRICE_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}  # written before the amount; other currencies after it ("12 CHF")
FILTER_ATTRIBUTES = ("colour", "size", "material")


@dataclass
class Product:
    id: str  # the shop's own product id, unique in the catalog
    title: str
    description: str = ""
    category: str = ""  # a path like "Outdoor > Jackets"
    brand: str = ""
    price: float | None = None  # None when the shop gives no price; never negative
    currency: str = "USD"
    attributes: dict[str, Any] = field(default_factory=dict)  # colour, size, material, dimensions.width, ...
    rating: float | None = None  # 0..5
    review_count: int = 0
    image_url: str = ""
    in_stock: bool = True
    stock: int | None = None  # units on hand when known
    tags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Product:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    def embedding_text(self) -> str:
        """What the sentence encoder sees: the fields a shopper would search by, most telling first."""
        parts = [self.title]
        if self.brand:
            parts.append(f"Brand: {self.brand}")
        if self.category:
            parts.append(f"Category: {self.category}")
        attrs = ", ".join(f"{k}: {v}" for k, v in sorted(self.attributes.items()) if _is_key_attribute(k, v))
        if attrs:
            parts.append(attrs)
        if self.tags:
            parts.append("Tags: " + ", ".join(self.tags))
        if self.description:
            parts.append(self.description[:1000])  # the encoder truncates at 256 tokens anyway
        return ". ".join(parts)

    def head_text(self) -> str:
        """The short "what is it" text: title, brand, category and short attributes. Embedded as a second vector,
        because the encoder's one vector of the long text under-weights the title a shopper's words match."""
        parts = [self.title]
        if self.brand:
            parts.append(f"Brand: {self.brand}")
        if self.category:
            parts.append(f"Category: {self.category}")
        attrs = ", ".join(f"{k}: {v}" for k, v in sorted(self.attributes.items()) if _is_key_attribute(k, v) and len(str(v)) <= 40)
        if attrs:
            parts.append(attrs)
        return ". ".join(parts)

    def keyword_text(self) -> str:
        """What BM25 reads: the title counted twice (a title word says more than a description word, as BM25F
        field weights do), then brand, attributes, tags and description."""
        return f"{self.title} {self.title} {self.brand} {self.embedding_text()}"

    def content_hash(self) -> str:
        """A stable hash of everything we store, so an unchanged product is not embedded again."""
        payload = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]

    @property
    def category_top(self) -> str:
        return self.category.split(">")[0].strip() if self.category else ""


def short_title(title: str) -> str:
    """The name part of a catalog title: many catalogs append details after a comma or a dash ("Summit 350 Jacket,
    Breathable – Black, M"); a title without one is its own name."""
    name = re.split(r"\s[–—-]\s|,", title, maxsplit=1)[0].strip()
    return name or title.strip()


def model_key(p: Product) -> str:
    """One key for every colour and size of one model: its brand and the name part of its title."""
    return f"{p.brand.lower()}|{short_title(p.title).lower()}"


def _is_key_attribute(key: str, value: Any) -> bool:
    return value not in (None, "", [], {}) and not key.startswith("_") and len(str(value)) <= 80


@dataclass
class Event:
    user_id: str
    item_id: str
    type: str  # one of EVENT_TYPES
    timestamp: float  # unix seconds
    session_id: str = ""


@dataclass
class Review:
    user_id: str
    item_id: str
    rating: float
    text: str = ""
    time: float = 0.0  # unix seconds
