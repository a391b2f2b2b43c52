"""Read a shop's product export (CSV, JSON, JSONL, Parquet) into raw rows keyed by our field names.

A column mapping (`--map id=StockCode --map title=Description`) lets a shop's own export load without editing it.
Nested fields are flattened with dots (`dimensions.width`); columns we do not know become attributes, so nothing
the shop sent is thrown away. Every problem with the file itself raises LoadError naming the file, the line or row
and the problem: the caller prints it, with no traceback.
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

FORMATS = ("csv", "tsv", "json", "jsonl", "parquet")

# Our product fields (see catalog/schema.py) and the column names shops commonly use for them.
# An explicit --map always wins over these guesses.
FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("id", "product_id", "productid", "sku", "item_id", "asin", "stockcode", "stock_code", "handle", "code",
           "product_code", "item_code", "article_number", "ref", "reference"),
    "title": ("title", "name", "product_name", "product_title", "item_name", "product", "label", "item"),
    "description": ("description", "body", "body_html", "product_description", "long_description", "details",
                    "blurb", "summary", "text", "notes", "info"),
    "category": ("category", "categories", "category_path", "product_type", "department", "section", "collection",
                 "type", "group", "family"),
    "brand": ("brand", "manufacturer", "vendor", "product_brand", "make", "maker", "producer"),
    "price": ("price", "unit_price", "unitprice", "sale_price", "price_usd", "amount", "cost", "retail_price", "msrp"),
    "currency": ("currency", "currency_code"),
    "rating": ("rating", "average_rating", "stars", "avg_rating"),
    "review_count": ("review_count", "reviews", "num_reviews", "rating_count", "ratings_count"),
    "image_url": ("image_url", "image", "images", "image_urls", "image_link", "img", "picture"),
    "in_stock": ("in_stock", "availability", "available", "instock"),
    "stock": ("stock", "quantity", "stock_quantity", "inventory", "qty", "stock_level"),
    "tags": ("tags", "keywords", "labels"),
    "colour": ("colour", "color", "product_color"),
    "size": ("size", "sizes"),
    "material": ("material", "materials", "fabric"),
}
TARGET_FIELDS = tuple(FIELD_SYNONYMS)


class LoadError(Exception):
    """A problem with the input file itself (not with one row): the message is meant for the user."""

    def __init__(self, path: str | Path, where: str, problem: str):
        self.path, self.where, self.problem = str(path), where, problem
        super().__init__(f"{path}: {where}: {problem}" if where else f"{path}: {problem}")


@dataclass
class RawTable:
    path: str
    rows: list[dict[str, Any]]  # our field names -> raw values; unknown columns under "attributes"
    row_numbers: list[int]  # 1-based record number in the file for each row (for reject reports)
    columns: list[str]  # the file's own (flattened) column names
    mapping: dict[str, str] = field(default_factory=dict)  # our field -> the file's column actually used


def parse_mapping(pairs: list[str] | None) -> dict[str, str]:
    """`["id=StockCode", "title=Description"]` -> {"id": "StockCode", ...}; bad pairs raise ValueError."""
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. --map id=StockCode")
        ours, theirs = (s.strip() for s in pair.split("=", 1))
        if ours not in TARGET_FIELDS and not ours.startswith("attributes."):
            raise ValueError(
                f"--map {pair!r}: unknown field {ours!r}; fields are {', '.join(TARGET_FIELDS)} or attributes.NAME"
            )
        if not theirs:
            raise ValueError(f"--map {pair!r}: the column name is empty")
        mapping[ours] = theirs
    return mapping


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise LoadError(path, "", f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("ndjson",):
        return "jsonl"
    if suffix in ("tab",):
        return "tsv"
    if suffix in ("pq",):
        return "parquet"
    if suffix in FORMATS:
        return suffix
    raise LoadError(path, "", f"cannot tell the format from the extension {path.suffix!r}; pass --format")


def read_records(path: str | Path, fmt: str | None = None, records_key: str | None = None,
                 encoding: str = "utf-8") -> list[dict[str, Any]]:
    """The file's records as flat dicts (nested keys joined with dots), in file order."""
    path = Path(path)
    if not path.exists():
        raise LoadError(path, "", "no such file")
    if path.is_dir():
        raise LoadError(path, "", "is a directory, not a file")
    fmt = detect_format(path, fmt)
    data = path.read_bytes()
    if not data.strip():
        raise LoadError(path, "", "the file is empty")
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as e:  # pyarrow raises several types for a file that is not Parquet
            raise LoadError(path, "", f"not a readable Parquet file ({e})") from None
        records = frame.to_dict(orient="records")
        return [_flatten(_to_python(r)) for r in records]
    text = _decode(path, data, encoding)
    if fmt in ("csv", "tsv"):
        return _read_csv(path, text, sep="\t" if fmt == "tsv" else ",")
    if fmt == "jsonl":
        return _read_jsonl(path, text)
    return _read_json(path, text, records_key)


def _decode(path: Path, data: bytes, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise LoadError(path, f"line {line}", f"bytes that are not valid {encoding} (byte 0x{data[e.start]:02x}); "
                        "re-export as UTF-8 or pass --encoding") from None
    return text.lstrip("\ufeff")  # a BOM from spreadsheet exports is not part of the first column's name


def _read_csv(path: Path, text: str, sep: str = ",") -> list[dict[str, Any]]:
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True,
                            skip_blank_lines=True, quoting=3 if sep == "\t" else 0)  # TSV: quotes are text
    except pd.errors.EmptyDataError:
        raise LoadError(path, "", "the file has no header row") from None
    except pd.errors.ParserError as e:
        raise LoadError(path, _csv_where(str(e)), f"broken CSV ({_first_line(e)})") from None
    if frame.empty and len(frame.columns) > 0:
        raise LoadError(path, "", "the file has a header but no rows")
    unnamed = [c for c in frame.columns if str(c).startswith("Unnamed:")]
    if unnamed and len(unnamed) == len(frame.columns):
        raise LoadError(path, "line 1", "the header row has no column names")
    return frame.to_dict(orient="records")


def _csv_where(message: str) -> str:
    import re

    m = re.search(r"line (\d+)", message) or re.search(r"row (\d+)", message)
    return f"line {m.group(1)}" if m else ""


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _read_jsonl(path: Path, text: str) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise LoadError(path, f"line {number}", f"invalid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(value, dict):
            raise LoadError(path, f"line {number}", f"expected a JSON object, got {type(value).__name__}")
        records.append(_flatten(value))
    if not records:
        raise LoadError(path, "", "the file has no records")
    return records


def _read_json(path: Path, text: str, records_key: str | None) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise LoadError(path, f"line {e.lineno}", f"invalid JSON ({e.msg} at column {e.colno})") from None
    if isinstance(value, dict):
        if records_key:
            if records_key not in value:
                raise LoadError(path, "", f"no key {records_key!r} at the top level; keys are {sorted(value)[:20]}")
            value = value[records_key]
        else:
            lists = [k for k, v in value.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
            if len(lists) != 1:
                raise LoadError(path, "", "expected a list of records, or one key holding them "
                                f"(found {len(lists)} candidate keys: {lists[:5]}); pass --records-key")
            value = value[lists[0]]
    if not isinstance(value, list):
        raise LoadError(path, "", f"expected a list of records, got {type(value).__name__}")
    if not value:
        raise LoadError(path, "", "the file has no records")
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise LoadError(path, f"record {number}", f"expected a JSON object, got {type(item).__name__}")
    return [_flatten(r) for r in value]


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"dimensions": {"width": 3}} -> {"dimensions.width": 3}; lists stay lists (tags, image URLs)."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def _to_python(value: Any) -> Any:
    """Parquet gives numpy arrays and numpy scalars; the cleaner expects plain Python values."""
    if isinstance(value, dict):
        return {k: _to_python(v) for k, v in value.items()}
    if hasattr(value, "tolist"):
        return _to_python(value.tolist())
    if isinstance(value, list):
        return [_to_python(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def map_columns(path: str | Path, records: list[dict[str, Any]], mapping: dict[str, str]) -> RawTable:
    """Rename the file's columns to our fields; an explicit mapping naming a missing column is an error."""
    columns: list[str] = []
    for record in records:  # JSON records may differ in keys: take the union, in first-seen order
        for key in record:
            if key not in columns:
                columns.append(key)
    missing = [f"{ours}={theirs}" for ours, theirs in mapping.items() if theirs not in columns]
    if missing:
        raise LoadError(path, "", f"the mapping names columns that are not in the file: {', '.join(missing)}; "
                        f"the file's columns are: {', '.join(map(str, columns[:40]))}")
    used: dict[str, str] = dict(mapping)
    lowered = {str(c).strip().lower().replace(" ", "_").replace("-", "_"): c for c in columns}
    taken = set(used.values())
    for ours, synonyms in FIELD_SYNONYMS.items():
        if ours in used:
            continue
        for name in synonyms:
            column = lowered.get(name) or lowered.get(f"attributes.{name}")
            if column is not None and column not in taken:
                used[ours] = column
                taken.add(column)
                break
    rows = []
    for record in records:
        row: dict[str, Any] = {ours: record.get(theirs) for ours, theirs in used.items() if ours in TARGET_FIELDS}
        extra = {ours.split(".", 1)[1]: record.get(theirs) for ours, theirs in used.items()
                 if ours.startswith("attributes.")}
        for column, value in record.items():
            if column not in taken:
                name = column[len("attributes."):] if column.startswith("attributes.") else column
                extra.setdefault(name, value)
        row["attributes"] = extra
        rows.append(row)
    return RawTable(str(path), rows, list(range(1, len(rows) + 1)), [str(c) for c in columns], used)


def suggest_mapping(columns: list[str], used: dict[str, str], fields: tuple[str, ...] = ("id", "title", "price")
                    ) -> dict[str, str]:
    """For each of `fields` the file did not fill, the column whose name is closest to one of its synonyms (a
    guess to show the shop owner as a --map, never applied silently)."""
    from rapidfuzz import fuzz, process

    free = [c for c in columns if c not in used.values()]
    guesses: dict[str, str] = {}
    for ours in fields:
        if ours in used or not free:
            continue
        names = {str(c).strip().lower().replace(" ", "_").replace("-", "_"): c for c in free}
        best = process.extractOne(ours, list(names), scorer=fuzz.WRatio) or (None, 0, None)
        for synonym in FIELD_SYNONYMS[ours]:
            hit = process.extractOne(synonym, list(names), scorer=fuzz.WRatio)
            if hit and hit[1] > best[1]:
                best = hit
        if best[0] is not None and best[1] >= 60:
            guesses[ours] = names[best[0]]
            free.remove(names[best[0]])
    return guesses


def load_table(path: str | Path, fmt: str | None = None, mapping: dict[str, str] | None = None,
               records_key: str | None = None, encoding: str = "utf-8") -> RawTable:
    """Read and map a product file in one step: the loader's public entry point."""
    records = read_records(path, fmt, records_key=records_key, encoding=encoding)
    return map_columns(path, records, mapping or {})
