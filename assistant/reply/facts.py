"""What a reply may talk about: the facts of the products shown this turn and the policy snippets retrieved for it.

Reply generation (assistant.reply.backends) puts only these facts in the prompt, and the verifier (assistant.reply.grounding)
checks the reply against the same object, so the two can never disagree about what is "grounded".

    facts = ReplyFacts.from_products(products, reasons=["waterproof, under budget", ...],
                                     constraints_text="under $100, not Northpeak")
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from assistant.dialogue.acts import ACTS
from catalog.schema import PRICE_SYMBOLS, Product, short_title  # noqa: F401 (short_title re-exported)

REPLY_KINDS = ACTS  # a reply is written for the act of the message it answers (assistant/dialogue/acts.py)
MAX_DESCRIPTION_CHARS = 300  # what a question about one product may quote of its description


# Attributes worth a line in the prompt; long free-text values are left out so the prompt stays short.
MAX_KEY_ATTRIBUTES = 6
MAX_ATTRIBUTE_CHARS = 40


def format_price(price: float | None, currency: str = "USD") -> str:
    """"$89.99" for known symbols, "89.99 CHF" otherwise, "price not listed" when the shop gives none."""
    if price is None:
        return "price not listed"
    symbol = PRICE_SYMBOLS.get(currency.upper())
    return f"{symbol}{price:,.2f}" if symbol else f"{price:,.2f} {currency.upper()}"


@dataclass
class ProductFact:
    id: str
    title: str
    brand: str
    price: float | None
    currency: str = "USD"
    in_stock: bool = True
    rating: float | None = None
    review_count: int = 0
    category: str = ""
    reason: str = ""  # why the recommender picked it, in words a shopper understands
    attributes: dict[str, str] = field(default_factory=dict)
    stock: int | None = None  # units on hand when the shop tells us; lets "only N left" be checked
    description: str = ""  # the start of the shop's description: what a question about this product may quote

    @classmethod
    def from_product(cls, product: Product, reason: str = "") -> ProductFact:
        attrs: dict[str, str] = {}
        for key, value in product.attributes.items():
            text = str(value)
            if key.startswith("_") or value in (None, "", [], {}) or len(text) > MAX_ATTRIBUTE_CHARS:
                continue
            attrs[key] = text
            if len(attrs) == MAX_KEY_ATTRIBUTES:
                break
        return cls(id=product.id, title=product.title, brand=product.brand, price=product.price,
                   currency=product.currency or "USD", in_stock=bool(product.in_stock), rating=product.rating,
                   review_count=int(product.review_count or 0), category=product.category, reason=reason,
                   attributes=attrs, stock=product.stock,
                   description=" ".join(str(product.description or "").split())[:MAX_DESCRIPTION_CHARS])

    @property
    def name(self) -> str:
        return short_title(self.title)

    @property
    def variant(self) -> str:
        """The colour/size part of a demo title ("Black, M"), which tells variants of one model apart."""
        head, sep, tail = self.title.rpartition(" – ")
        return tail.strip() if sep and head else ""

    @property
    def price_text(self) -> str:
        return format_price(self.price, self.currency)

    @property
    def stock_text(self) -> str:
        return "in stock" if self.in_stock else "out of stock"

    def all_text(self) -> str:
        """Every word of this fact, for "does this word/number appear in the facts" checks."""
        attrs = " ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.attributes.items())
        return " ".join([self.title, self.brand, self.category, self.reason, attrs, self.description])


@dataclass
class ReplyFacts:
    products: list[ProductFact] = field(default_factory=list)  # in the order shown to the shopper
    no_match: bool = False  # True: the products do NOT satisfy the constraints, they are the closest alternatives
    constraints_text: str = ""  # "under $100, not Northpeak"
    policy_snippets: list[dict[str, str]] = field(default_factory=list)  # {"id", "title", "text"}
    kind: str = "search"  # one of REPLY_KINDS
    notices: list[str] = field(default_factory=list)  # system-side messages to pass on ("price filter relaxed")
    actions: list[dict] = field(default_factory=list)  # what the shop did for this message: {"type", "product_id", "ok"}
    contact: str = ""  # how to reach a person, when the shop gave it

    def __post_init__(self) -> None:
        if self.kind not in REPLY_KINDS:
            raise ValueError(f"unknown reply kind {self.kind!r}; expected one of {REPLY_KINDS}")

    @classmethod
    def from_products(cls, products: Sequence[Product], reasons: Sequence[str] | None = None,
                      **kwargs: Any) -> ReplyFacts:
        reasons = list(reasons or [])
        facts = [ProductFact.from_product(p, reasons[i] if i < len(reasons) else "") for i, p in enumerate(products)]
        return cls(products=facts, **kwargs)

    def display_names(self) -> list[str]:
        """Product names in order, with the variant added where two shown products would otherwise read alike."""
        names = [p.name for p in self.products]
        return [f"{n} ({p.variant})" if names.count(n) > 1 and p.variant else n for n, p in zip(names, self.products)]

    @property
    def brands(self) -> list[str]:
        return list(dict.fromkeys(p.brand for p in self.products if p.brand))

    def policy_text(self) -> str:
        return " ".join(f"{s.get('title', '')}. {s.get('text', '')}" for s in self.policy_snippets)

    def all_text(self) -> str:
        parts = [p.all_text() for p in self.products]
        parts += [self.constraints_text, self.policy_text(), " ".join(self.notices), self.contact]
        return " ".join(parts)
