"""Turn a demo shop folder (demo_products.jsonl + demo_events.csv, as `catalog.demo.write_demo_files` writes them)
into the same leave-one-out dataset a RecBole folder gives, so one training/evaluation path serves both.

Per user, purchase/add_to_cart/click events in time order become an item sequence (views are too weak a signal
to count as "the next item"); consecutive repeats of one item (click -> add_to_cart -> purchase of the same
product) collapse into one step, otherwise "the next item" would mostly be the item just seen. The last item is
the test target, the second-to-last the valid target, the rest is train, exactly as in the RecBole splits.

    data, meta = load_dataset("/tmp/shop")      # or a RecBole folder: meta then has no prices
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field

import numpy as np

from assistant.eval_recbole import DatasetError, LeaveOneOutRow, RecBoleDataset, load_recbole_folder, split_item_text

SEQUENCE_EVENTS = ("click", "add_to_cart", "purchase")
PRODUCTS_FILE, EVENTS_FILE = "demo_products.jsonl", "demo_events.csv"


@dataclass
class ItemMeta:
    """Per-item side information the feature predictor reads; NaN / "" where unknown."""
    titles: list[str]
    prices: np.ndarray  # float64, NaN where the shop gives no price
    brands: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)


def is_shop_folder(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, PRODUCTS_FILE)) and os.path.isfile(os.path.join(folder, EVENTS_FILE))


def item_text(title: str, category: str, brand: str) -> str:
    # Same shape as UniSRec's "<title>. <category>. <brand>." so split_item_text and the encoders see one format.
    return f"{title}. {category}. {brand}."


def item_features(meta: ItemMeta):
    """The recommender's structured item features (category, brand, price band) from the item metadata."""
    from assistant.recommend import build_item_features

    prices = [None if not np.isfinite(p) else float(p) for p in meta.prices]
    return build_item_features(meta.categories, meta.brands, prices if any(p is not None for p in prices) else None)


def _item_text(p: dict) -> str:
    return item_text(p.get("title", ""), p.get("category", ""), p.get("brand", ""))


def load_shop_folder(folder: str, min_length: int = 3) -> tuple[RecBoleDataset, ItemMeta]:
    """Users with fewer than min_length sequence items only contribute training interactions."""
    if not is_shop_folder(folder):
        raise DatasetError(f"{folder} is not a demo shop folder (needs {PRODUCTS_FILE} and {EVENTS_FILE})")
    products = []
    with open(os.path.join(folder, PRODUCTS_FILE), encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                try:
                    products.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DatasetError(f"{PRODUCTS_FILE}: line {lineno} is not JSON ({e})") from None
    if not products:
        raise DatasetError(f"{os.path.join(folder, PRODUCTS_FILE)} has no products")
    id_to_index = {str(p["id"]): i for i, p in enumerate(products)}

    events: dict[str, list[tuple[float, int, int]]] = {}
    with open(os.path.join(folder, EVENTS_FILE), encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.DictReader(f)):
            if row.get("type") not in SEQUENCE_EVENTS or row.get("item_id") not in id_to_index:
                continue
            # n breaks timestamp ties in file order, so equal-time events keep their logged order.
            events.setdefault(row["user_id"], []).append((float(row["timestamp"]), n, id_to_index[row["item_id"]]))
    if not events:
        raise DatasetError(f"{os.path.join(folder, EVENTS_FILE)} has no {'/'.join(SEQUENCE_EVENTS)} events for known products")

    train, valid, test = [], [], []
    for user in sorted(events):
        seq: list[int] = []
        for _, _, item in sorted(events[user]):
            if not seq or seq[-1] != item:
                seq.append(item)
        if len(seq) < 2:
            continue
        if len(seq) < min_length:
            train.append(LeaveOneOutRow(user, seq[:-1], seq[-1]))
            continue
        # One train row holding the whole train part, like the longest RecBole train row (train_sequences()).
        if len(seq) >= 4:
            train.append(LeaveOneOutRow(user, seq[:-3], seq[-3]))
        valid.append(LeaveOneOutRow(user, seq[:-2], seq[-2]))
        test.append(LeaveOneOutRow(user, seq[:-1], seq[-1]))
    if not valid:
        raise DatasetError(f"no user in {folder} has {min_length}+ click/add_to_cart/purchase steps: nothing to validate on")

    texts = [_item_text(p) for p in products]
    data = RecBoleDataset(name="demo-shop", folder=folder, n_items=len(products), item_ids=[str(p["id"]) for p in products],
                          item_text=texts, train=train, valid=valid, test=test,
                          text_path=os.path.join(folder, PRODUCTS_FILE))
    prices = np.array([float(p["price"]) if p.get("price") is not None else np.nan for p in products], dtype=np.float64)
    meta = ItemMeta(titles=[str(p.get("title", "")) for p in products], prices=prices,
                    brands=[str(p.get("brand") or "") for p in products], categories=[str(p.get("category") or "") for p in products])
    return data, meta


def load_dataset(folder: str) -> tuple[RecBoleDataset, ItemMeta]:
    """A demo shop folder or a RecBole folder; raises DatasetError with a one-line reason otherwise."""
    if not os.path.isdir(folder):
        raise DatasetError(f"data folder not found: {folder}")
    if is_shop_folder(folder):
        return load_shop_folder(folder)
    data = load_recbole_folder(folder)
    titles, categories, brands = zip(*[split_item_text(t) for t in data.item_text]) if data.n_items else ((), (), ())
    return data, ItemMeta(titles=list(titles), prices=np.full(data.n_items, np.nan), brands=list(brands), categories=list(categories))
