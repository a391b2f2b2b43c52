"""Turn raw rows into clean Products, rejecting (with row number and reason) what cannot be a product.

Accounting invariant, checked by the tests: input rows = products + rejects + merged duplicates.
"""
from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from statistics import median
from typing import Any

from catalog.load import RawTable
from catalog.schema import Product
from catalog.text import valid_text

MAX_PRICE = 1_000_000.0  # above this a price is a typo or a placeholder (99999999), not a product price
CATEGORY_OUTLIER_FACTOR = 200.0  # a price this many times its category's median is rejected as absurd
MIN_CATEGORY_SIZE_FOR_OUTLIERS = 20  # too few prices in a category make a median meaningless

CURRENCY_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "C$": "CAD",
                    "A$": "AUD", "CHF": "CHF", "kr": "SEK", "zł": "PLN"}
_BLOCK_TAGS = {"br", "p", "div", "li", "ul", "ol", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"}
_TRUE = {"1", "true", "yes", "y", "in stock", "instock", "available", "in_stock", "t"}
_FALSE = {"0", "false", "no", "n", "out of stock", "outofstock", "unavailable", "sold out", "out_of_stock", "f"}


@dataclass
class Reject:
    row: int  # 1-based record number in the input file
    id: str
    reason: str


@dataclass
class CleanResult:
    products: list[Product]
    rejects: list[Reject] = field(default_factory=list)
    duplicates: dict[str, list[int]] = field(default_factory=dict)  # id -> rows merged into the last one
    warnings: list[Reject] = field(default_factory=list)  # fixed but kept, e.g. a rating outside 0-5 dropped
    input_rows: int = 0

    @property
    def merged(self) -> int:
        return sum(len(rows) for rows in self.duplicates.values())

    def accounted(self) -> bool:
        return len(self.products) + len(self.rejects) + self.merged == self.input_rows


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0  # inside <script> or <style>, whose text is not for shoppers

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def clean_text(value: Any) -> str:
    """Strip HTML tags, unescape entities (also double-escaped ones like `&amp;amp;`), collapse whitespace."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, list):
        value = " ".join(clean_text(v) for v in value)
    text = str(value)
    # Tags are stripped after every round of unescaping, so "&lt;img src=x onerror=...&gt;" (markup written as
    # entities, also double-escaped) is removed like the tag itself instead of being stored as live markup.
    for _ in range(3):
        text = _strip_tags(text)
        if "&" not in text:
            break
        text = _strip_tags(html.unescape(text))
    return " ".join(valid_text(text).split())


def _strip_tags(text: str) -> str:
    if "<" not in text or ">" not in text:
        return text
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def parse_price(value: Any) -> tuple[float | None, str | None]:
    """`"$1,299.99"` -> (1299.99, "USD"); `"1.299,99 €"` -> (1299.99, "EUR"); raises ValueError when not a price."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None, None
    if isinstance(value, bool):
        raise ValueError(f"price {value!r} is not a number")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"price {value!r} is not a finite number")
        return float(value), None
    text = str(value).strip()
    currency = None
    for symbol, code in sorted(CURRENCY_SYMBOLS.items(), key=lambda kv: -len(kv[0])):
        if symbol in text:
            currency = code
            text = text.replace(symbol, "")
            break
    code = re.search(r"\b([A-Z]{3})\b", text)
    if code:
        currency = code.group(1)
        text = text.replace(code.group(1), "")
    text = text.replace("\u00a0", "").replace(" ", "").replace("'", "")
    negative = text.startswith("-") or (text.startswith("(") and text.endswith(")"))
    text = text.strip("-()+")
    if not re.fullmatch(r"[0-9.,]+", text or "x"):
        raise ValueError(f"price {value!r} is not a number")
    text = _normalise_separators(text)
    amount = float(text)
    return (-amount if negative else amount), currency


def _normalise_separators(text: str) -> str:
    """Decide which of `.` and `,` is the decimal mark: the last one wins when both occur; a lone comma
    followed by exactly 3 digits is a thousands separator (`1,299`), otherwise a decimal comma (`12,50`)."""
    if "," in text and "." in text:
        decimal, thousands = (",", ".") if text.rfind(",") > text.rfind(".") else (".", ",")
        whole, _, fraction = text.rpartition(decimal)
        if not re.fullmatch(rf"\d{{1,3}}(\{thousands}\d{{3}})*", whole) or not fraction.isdigit():
            raise ValueError(f"price {text!r} has an ambiguous number format")
        return whole.replace(thousands, "") + "." + fraction
    if "," in text:
        head, _, tail = text.rpartition(",")
        if len(tail) == 3 and text.count(",") >= 1 and head:
            return text.replace(",", "")
        if text.count(",") > 1:
            raise ValueError(f"price {text!r} has an ambiguous number format")
        return text.replace(",", ".")
    if text.count(".") > 1:
        head, _, tail = text.rpartition(".")
        if len(tail) == 3:  # 1.299.999 (dots as thousands separators)
            return text.replace(".", "")
        raise ValueError(f"price {text!r} has an ambiguous number format")
    return text


def _clean_id(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 12.0 from a numeric JSON column is the id "12"
    return valid_text(str(value)).strip()


def _number(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(str(value).replace(",", "").strip()) if not isinstance(value, (int, float)) else float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return value > 0
    text = clean_text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _as_list(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple)):
        return [clean_text(v) for v in value if clean_text(v)]
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):  # a JSON list written into a CSV cell
        import json

        try:
            return _as_list(json.loads(text))
        except ValueError:
            pass
    return [clean_text(v) for v in re.split(r"[|;,]", text) if clean_text(v)]


def _attribute_value(value: Any) -> Any:
    """Numbers stay numbers (dimensions.width); text is cleaned; a list of values becomes one readable string."""
    if isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_as_list(value))
    return clean_text(value)


def _category(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        parts = [clean_text(v) for v in value if clean_text(v)]
    else:
        text = clean_text(value)
        parts = [p.strip() for p in re.split(r"[>/|]", text) if p.strip()] if text else []
    return " > ".join(parts)


def _image(value: Any) -> str:
    for url in _as_list(value) if not isinstance(value, str) else [valid_text(value).strip()]:
        if re.match(r"^(https?://|/)", url or ""):
            return url
    return ""


def clean_row(row: dict[str, Any], default_currency: str = "USD") -> tuple[Product | None, str, list[str]]:
    """One raw row -> (product or None, rejection reason, warnings)."""
    warnings: list[str] = []
    pid = _clean_id(row.get("id"))
    if not pid:
        return None, "missing id", warnings
    title = clean_text(row.get("title"))
    if not title:
        return None, "missing title", warnings
    try:
        price, symbol_currency = parse_price(row.get("price"))
    except ValueError as e:
        return None, str(e), warnings
    if price is not None and price < 0:
        return None, f"negative price {price:,.2f}", warnings
    if price is not None and price > MAX_PRICE:
        return None, f"price {price:,.2f} is above the plausible maximum {MAX_PRICE:,.0f}", warnings
    rating = _number(row.get("rating"))
    if rating is not None and not 0 <= rating <= 5:
        warnings.append(f"rating {rating:g} outside 0-5, dropped")
        rating = None
    review_count = _number(row.get("review_count"))
    stock = _number(row.get("stock"))
    in_stock = _parse_bool(row.get("in_stock"))
    if in_stock is None:
        in_stock = stock is None or stock > 0
    currency = clean_text(row.get("currency")).upper() or symbol_currency or default_currency
    attributes: dict[str, Any] = {}
    for key in ("colour", "size", "material"):
        value = clean_text(row.get(key))
        if value:
            attributes[key] = value
    for key, value in (row.get("attributes") or {}).items():
        value = _attribute_value(value)
        if value != "":
            attributes.setdefault(valid_text(str(key)), value)
    product = Product(
        id=pid,
        title=title,
        description=clean_text(row.get("description")),
        category=_category(row.get("category")),
        brand=clean_text(row.get("brand")),
        price=round(price, 2) if price is not None else None,
        currency=currency if re.fullmatch(r"[A-Z]{3}", currency) else default_currency,
        attributes=attributes,
        rating=round(rating, 2) if rating is not None else None,
        review_count=max(0, int(review_count)) if review_count is not None else 0,
        image_url=_image(row.get("image_url")),
        in_stock=bool(in_stock),
        stock=max(0, int(stock)) if stock is not None else None,
        tags=_as_list(row.get("tags")),
    )
    return product, "", warnings


def clean_table(table: RawTable, default_currency: str = "USD") -> CleanResult:
    """Clean every row, reject what cannot be a product, then merge duplicate ids (the last row wins)."""
    result = CleanResult(products=[], input_rows=len(table.rows))
    kept: dict[str, tuple[int, Product]] = {}
    for row_number, row in zip(table.row_numbers, table.rows):
        product, reason, warnings = clean_row(row, default_currency)
        result.warnings.extend(Reject(row_number, _clean_id(row.get("id")), w) for w in warnings)
        if product is None:
            result.rejects.append(Reject(row_number, _clean_id(row.get("id")), reason))
            continue
        if product.id in kept:
            result.duplicates.setdefault(product.id, []).append(kept[product.id][0])
        kept[product.id] = (row_number, product)
    products = [p for _, p in sorted(kept.values(), key=lambda rp: rp[0])]
    outliers = _category_outliers(products)
    for row_number, product in sorted(kept.values(), key=lambda rp: rp[0]):
        if product.id in outliers:
            result.rejects.append(Reject(row_number, product.id, outliers[product.id]))
    result.products = [p for p in products if p.id not in outliers]
    result.rejects.sort(key=lambda r: r.row)
    return result


def _category_outliers(products: list[Product]) -> dict[str, str]:
    """Prices absurdly far above their category's median (a typo like 2999 for 29.99 is not caught, 299900 is)."""
    by_category: dict[str, list[Product]] = {}
    for p in products:
        if p.price is not None and p.price > 0:
            by_category.setdefault(p.category, []).append(p)
    outliers: dict[str, str] = {}
    for category, items in by_category.items():
        if len(items) < MIN_CATEGORY_SIZE_FOR_OUTLIERS:
            continue
        middle = median(p.price for p in items)
        for p in items:
            if p.price > CATEGORY_OUTLIER_FACTOR * middle:
                outliers[p.id] = (f"price {p.price:,.2f} is over {CATEGORY_OUTLIER_FACTOR:g} times the median "
                                  f"{middle:,.2f} of category {category or '(none)'!r}: an absurd outlier")
    return outliers
