"""Escaped HTML for the web views: product cards, the recommendations strip, the details panel, a shopper's
profile and policy snippets.

Every catalog and user string goes through `esc` (html.escape, quotes included, so attribute values are safe
too); image sources must be absolute http(s) URLs. A product titled `<img src=x onerror=alert(1)>` shows as
that text and never runs.
"""
from __future__ import annotations

import html
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit

from catalog.schema import Product

CSS = """
.shop-cards { display: flex; flex-wrap: wrap; gap: 8px; }
.shop-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px; min-height: 100%;
             background: var(--background-fill-primary); font-size: 0.9em; }
.shop-card img { width: 100%; max-height: 120px; object-fit: contain; border-radius: 4px; }
.shop-card-title { font-weight: 600; margin: 4px 0; overflow-wrap: anywhere; }
.shop-card-meta { color: var(--body-text-color-subdued); }
.shop-card-reason { font-size: 0.85em; margin-top: 4px; color: var(--body-text-color-subdued); }
.shop-badge { display: inline-block; font-size: 0.75em; padding: 1px 6px; border-radius: 8px; background: #fde68a;
              color: #78350f; margin: 2px 0; }
.shop-badge.stock { background: #fecaca; color: #7f1d1d; }
.shop-compact .shop-card { flex: 1 1 140px; max-width: 220px; }
.shop-recs .shop-card { flex: 1 1 100%; }
.shop-muted { color: var(--body-text-color-subdued); font-size: 0.85em; }
.shop-slot .shop-card { flex: 1 1 100%; }
.shop-details table, .shop-profile table { font-size: 0.9em; }
.shop-details th, .shop-profile th { text-align: left; padding-right: 12px; }
"""


def esc(value: Any) -> str:
    """Text for HTML content and (double-quoted) attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


_URL_BREAKERS = set("\"'<> \t\r\n\\`") | {chr(c) for c in range(32)} | {"\x7f"}


def safe_url(url: Any, relative: bool = False) -> str | None:
    """The URL when it is an absolute http(s) URL, or (relative=True) a path on this site; None otherwise.
    Refused: other schemes (javascript:, data:), scheme-relative "//evil.com" and "/\\evil.com" (browsers read a
    backslash as a slash), and characters that could break out of an attribute."""
    text = str(url or "").strip()
    if not text or any(c in _URL_BREAKERS for c in text):
        return None
    if relative and text.startswith("/") and not text.startswith("//"):
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


def safe_image_url(url: Any) -> str | None:
    """An image source: absolute http(s) only (see safe_url)."""
    return safe_url(url)


def price_text(p: Product) -> str:
    if p.price is None:
        return "price on request"
    if (p.currency or "USD").upper() == "USD":
        return f"${p.price:,.2f}"
    return f"{p.price:,.2f} {p.currency}"


def rating_text(p: Product) -> str:
    if p.rating is None:
        return ""
    return f"★ {p.rating:.1f}" + (f" ({p.review_count})" if p.review_count else "")


def product_card(p: Product, reason: str = "", matches: bool = True, image: bool = True) -> str:
    parts = [f'<div class="shop-card" data-product-id="{esc(p.id)}">']
    src = safe_image_url(p.image_url) if image else None
    if src:
        parts.append(f'<img src="{esc(src)}" alt="{esc(p.title)}" loading="lazy" referrerpolicy="no-referrer">')
    parts.append(f'<div class="shop-card-title">{esc(p.title)}</div>')
    meta = " · ".join(x for x in (p.brand, price_text(p), rating_text(p)) if x)
    parts.append(f'<div class="shop-card-meta">{esc(meta)}</div>')
    if not matches:
        parts.append('<span class="shop-badge not-matching">not matching</span>')
    if not p.in_stock:
        parts.append('<span class="shop-badge stock">out of stock</span>')
    if reason:
        parts.append(f'<div class="shop-card-reason">{esc(reason)}</div>')
    parts.append("</div>")
    return "".join(parts)


def cards_html(items: Iterable[tuple[Product, str, bool]], compact: bool = False, empty: str = "") -> str:
    """Several cards side by side: items are (product, reason, matches)."""
    cards = [product_card(p, reason, matches, image=not compact) for p, reason, matches in items]
    if not cards:
        return f'<div class="shop-muted">{esc(empty)}</div>' if empty else ""
    return f'<div class="shop-cards{" shop-compact" if compact else ""}">{"".join(cards)}</div>'


def recommendations_html(recs: Sequence[tuple[Product, float]]) -> str:
    """The "Recommended for you" strip; data-ids lets a test (or a script) see when it changes."""
    ids = " ".join(p.id for p, _ in recs)
    cards = "".join(product_card(p, image=False) for p, _ in recs)
    body = cards or '<div class="shop-muted">Nothing to recommend yet.</div>'
    return f'<div class="shop-cards shop-recs" data-ids="{esc(ids)}">{body}</div>'


def cart_html(products: Sequence[Product]) -> str:
    """The shopper's cart: one line a product, and the total of the prices known (data-ids for tests)."""
    if not products:
        return '<div class="shop-cart shop-muted" data-ids="">Your cart is empty.</div>'
    lines = "".join(f'<li data-product-id="{esc(p.id)}">{esc(p.title)} <span class="shop-muted">{esc(price_text(p))}'
                    f'</span></li>' for p in products)
    total = sum(p.price for p in products if p.price is not None)
    currency = {(p.currency or "USD").upper() for p in products if p.price is not None}
    total_text = (f"${total:,.2f}" if currency == {"USD"} else f"{total:,.2f} {currency.pop()}") if len(currency) == 1 else ""
    foot = f"<div><b>Total: {esc(total_text)}</b></div>" if total_text else ""
    ids = " ".join(p.id for p in products)
    return f'<div class="shop-cart" data-ids="{esc(ids)}"><ul>{lines}</ul>{foot}</div>'


def details_html(p: Product) -> str:
    rows = [("Brand", p.brand), ("Category", p.category), ("Price", price_text(p)), ("Rating", rating_text(p)),
            ("In stock", "yes" if p.in_stock else "no")]
    rows += [(str(k), v) for k, v in sorted(p.attributes.items()) if v not in (None, "", [], {}) and not str(k).startswith("_")]
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows if v not in (None, ""))
    return (f'<div class="shop-details" data-product-id="{esc(p.id)}"><h4>{esc(p.title)}</h4>'
            f"<p>{esc(p.description[:800])}</p><table>{table}</table></div>")


def profile_html(profile: dict[str, Any]) -> str:
    """shop.profile(user) for the agent-assist view."""
    def products(items: Sequence[Product]) -> str:
        if not items:
            return '<span class="shop-muted">none</span>'
        return "<ul>" + "".join(f"<li>{esc(p.title)} <span class=\"shop-muted\">{esc(price_text(p))}</span></li>"
                                for p in items) + "</ul>"

    typical = profile.get("typical_price")
    facts = [("Events", profile.get("events", 0)),
             ("Top categories", ", ".join(profile.get("top_categories") or []) or "none"),
             ("Top brands", ", ".join(profile.get("top_brands") or []) or "none"),
             ("Typical price", f"${typical:,.2f}" if typical is not None else "unknown")]
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    return (f'<div class="shop-profile"><h4>Customer {esc(profile.get("user_id", ""))}</h4><table>{rows}</table>'
            f"<b>Recent purchases</b>{products(profile.get('recent_purchases') or [])}"
            f"<b>Recently viewed</b>{products(profile.get('recently_viewed') or [])}</div>")


def policies_html(snippets: Sequence[dict[str, Any]]) -> str:
    if not snippets:
        return '<div class="shop-muted">No policy question in this conversation.</div>'
    return "".join(f'<div class="shop-policy"><b>{esc(s.get("title", ""))}</b><p>{esc(s.get("text", ""))}</p></div>'
                   for s in snippets)
