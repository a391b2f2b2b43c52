"""Leave-one-out datasets for training and evaluating the recommender and the purchase predictor, from either
source the project has:

- a RecBole-style folder (UniSRec preprocessing: <Name>.text, .item2index, .train/.valid/.test.inter), the protocol
  published results use: each row is `user, history, next item`, with order but no event types or times;
- a shop's own data (`shop_dataset`): the behaviour store's typed, timestamped events over the catalog in the index.
  Per user, click/add_to_cart/purchase events in time order become the item sequence (views are too weak to be
  "the next item"; consecutive repeats of one item collapse into one step); the last step is the test target, the
  one before the valid target, as in the RecBole splits.

Both give the same `LeaveOneOutDataset`. Its `interactions(split)` is what a recommender is fitted on for that
split ("nested", "train", "train_valid", "all"): for a shop these are the very typed events the shop itself fits
on (cut at the time a held-out step began), so training sees the recommender the shop will serve, not a proxy.

    data, meta = load_dataset("../shared/data/amazon-scientific")   # or a shop's data dir (events + index)
    rec = build_recommender(data.interactions("train"), item_vectors(data), meta, data.item_ids)
"""
from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from assistant.recsys.features import ItemMeta, item_text, split_item_text
from catalog.config import CatalogConfig
from catalog.embed import DEFAULT_MODEL, get_embedder
from catalog.index import ProductIndex
from catalog.schema import Event, Product
from catalog.stores import open_event_store

REQUIRED_SUFFIXES = (".text", ".item2index", ".train.inter", ".valid.inter", ".test.inter")
SEQUENCE_EVENTS = ("click", "add_to_cart", "purchase")
SPLITS = ("nested", "train", "train_valid", "all")

Interaction = tuple[str, int, str, float]  # (user, item index, event type, timestamp)
HistoryItem = tuple[int, str, float]  # (item index, event type, timestamp), as the recommender reads a history


class DatasetError(Exception):
    """The folder is not a usable dataset; the message names what is missing or wrong."""


@dataclass
class LeaveOneOutRow:
    user: str
    history: list[int]  # item indices, oldest first
    target: int
    events: list[HistoryItem] | None = None  # the typed history the shop saw at that moment (shop data only)

    def typed_history(self) -> list[HistoryItem]:
        """What a recommender or predictor reads: the typed events, or (RecBole rows, which have order only) the
        items as purchases with their position as the time."""
        if self.events is not None:
            return self.events
        return [(i, "purchase", float(p)) for p, i in enumerate(self.history)]


@dataclass
class LeaveOneOutDataset:
    name: str
    folder: str
    n_items: int  # item indices run 0..n_items-1
    item_ids: list[str]  # index -> original item id; "" where the index has no id
    item_text: list[str]  # index -> "<title>. <category>. <brand>." ("" when unknown)
    train: list[LeaveOneOutRow]
    valid: list[LeaveOneOutRow]
    test: list[LeaveOneOutRow]
    text_path: str = ""  # the file the item texts come from (keys the embedding cache)
    padding: set[int] = field(default_factory=set)  # indices that are padding (never ranked as a target)
    vectors: np.ndarray | None = None  # item vectors when the source has them (a shop's index)
    split_interactions: dict[str, list[Interaction]] | None = None  # typed events per split (shop data)

    def train_sequences(self) -> dict[str, list[int]]:
        """The longest train prefix + its target per user: every interaction the train split holds."""
        return _sequences(self.train)

    def train_valid_sequences(self) -> dict[str, list[int]]:
        """Train + valid interactions per user, for the final test run."""
        seqs = _sequences(self.train)
        for row in self.valid:
            full = row.history + [row.target]
            if len(full) > len(seqs.get(row.user, [])):
                seqs[row.user] = full
        return seqs

    def interactions(self, split: str) -> list[Interaction]:
        """What a recommender for this split is fitted on: "nested" (train without each user's last train step,
        for generating training candidates it has not memorised), "train", "train_valid" (for the test run) and
        "all" (what the shop serves from)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        if self.split_interactions is not None:
            return self.split_interactions[split]
        seqs = {"train": self.train_sequences, "train_valid": self.train_valid_sequences}.get(split)
        if split == "nested":
            sequences = {u: s[:-1] for u, s in self.train_sequences().items() if len(s) > 1}
        elif split == "all":
            sequences = self.train_valid_sequences()
            for row in self.test:
                sequences[row.user] = row.history + [row.target]
        else:
            sequences = seqs()
        # Order but no timestamps or event types: position is the time, every event a purchase.
        return [(user, item, "purchase", float(pos)) for user, seq in sequences.items() for pos, item in enumerate(seq)]


def _sequences(rows: Sequence[LeaveOneOutRow]) -> dict[str, list[int]]:
    seqs: dict[str, list[int]] = {}
    for row in rows:
        full = row.history + [row.target]
        if len(full) > len(seqs.get(row.user, [])):
            seqs[row.user] = full
    return seqs


def find_dataset_name(folder: str) -> str:
    if not os.path.isdir(folder):
        raise DatasetError(f"data folder not found: {folder}")
    texts = sorted(glob.glob(os.path.join(folder, "*.text")))
    if not texts:
        raise DatasetError(f"no <Name>.text file in {folder} (expected files: " + ", ".join("<Name>" + s for s in REQUIRED_SUFFIXES) + ")")
    if len(texts) > 1:
        raise DatasetError(f"several *.text files in {folder}: {[os.path.basename(t) for t in texts]}; keep one dataset per folder")
    return os.path.basename(texts[0])[: -len(".text")]


def _read_tsv(path: str) -> list[list[str]]:
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    if lines and any(":" in col for col in lines[0]):  # RecBole header such as `item_id:token`
        lines = lines[1:]
    return lines


def _read_inter(path: str, id_to_index: dict[str, int]) -> list[LeaveOneOutRow]:
    rows = []
    for lineno, cols in enumerate(_read_tsv(path), start=2):
        if len(cols) < 3:
            raise DatasetError(f"{path}: line {lineno} has {len(cols)} columns, expected 3 (user, history, next item)")
        try:
            history = [int(tok) for tok in cols[1].split()]
            target = int(cols[2])
        except ValueError as e:
            raise DatasetError(f"{path}: line {lineno}: item indices must be integers ({e})") from None
        rows.append(LeaveOneOutRow(cols[0], history, target))
    return rows


def load_recbole_folder(folder: str) -> LeaveOneOutDataset:
    name = find_dataset_name(folder)
    missing = [name + s for s in REQUIRED_SUFFIXES if not os.path.isfile(os.path.join(folder, name + s))]
    if missing:
        raise DatasetError(f"missing files in {folder}: {', '.join(missing)}")
    base = os.path.join(folder, name)
    id_to_index: dict[str, int] = {}
    for cols in _read_tsv(base + ".item2index"):
        if len(cols) < 2:
            continue
        try:
            id_to_index[cols[0]] = int(cols[1])
        except ValueError:
            raise DatasetError(f"{base}.item2index: index {cols[1]!r} of item {cols[0]!r} is not an integer") from None
    if not id_to_index:
        raise DatasetError(f"{base}.item2index has no rows")
    train = _read_inter(base + ".train.inter", id_to_index)
    valid = _read_inter(base + ".valid.inter", id_to_index)
    test = _read_inter(base + ".test.inter", id_to_index)
    max_seen = max([max(r.history + [r.target]) for r in train + valid + test if r.history or r.target >= 0] + [0])
    n_items = max(max(id_to_index.values()) + 1, max_seen + 1)
    item_ids = [""] * n_items
    for item_id, idx in id_to_index.items():
        item_ids[idx] = item_id
    text_by_id = {cols[0]: cols[1] if len(cols) > 1 else "" for cols in _read_tsv(base + ".text")}
    item_text = [text_by_id.get(item_id, "") for item_id in item_ids]
    # RecBole reserves index 0 for padding only when the mapping does not use it; here nothing else is padding.
    padding = {i for i in range(n_items) if not item_ids[i]}
    for rows in (train, valid, test):
        for r in rows:
            r.history = [i for i in r.history if i not in padding]
    return LeaveOneOutDataset(name, folder, n_items, item_ids, item_text, train, valid, test, base + ".text", padding)


def sample_rows(rows: Sequence[LeaveOneOutRow], n: int | None, seed: int = 0) -> list[LeaveOneOutRow]:
    if n is None or n >= len(rows):
        return list(rows)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(rows), size=n, replace=False))
    return [rows[i] for i in pick]


def default_cache_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".cache", "shop-assistant")


def embedding_cache_path(dataset: LeaveOneOutDataset, cache_dir: str | None = None, model: str | None = None) -> str:
    """Cache file for the dataset's item embeddings: keyed by dataset name, model and a hash of the text file."""
    model_name = model or DEFAULT_MODEL
    with open(dataset.text_path, "rb") as f:
        text_hash = hashlib.sha256(f.read()).hexdigest()[:16]
    safe_model = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)
    return os.path.join(cache_dir or default_cache_dir(), f"{dataset.name}.{safe_model}.{text_hash}.n{dataset.n_items}.npy")


def cached_item_embeddings(dataset: LeaveOneOutDataset, cache_dir: str | None = None, model: str | None = None,
                           progress: bool = False) -> np.ndarray:
    """Text embeddings of every item (row i = item index i), cached on disk (see embedding_cache_path), so a
    repeat run skips the encoder. Items without text get a zero vector."""
    path = embedding_cache_path(dataset, cache_dir, model)
    if os.path.isfile(path):
        emb = np.load(path)
        if emb.shape[0] == dataset.n_items:
            return emb
    embedder = get_embedder(model)
    texts = [t if t else " " for t in dataset.item_text]
    emb = embedder.encode(texts, progress=progress)
    emb[[i for i, t in enumerate(dataset.item_text) if not t]] = 0.0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + f".tmp{os.getpid()}.npy"
    np.save(tmp, emb)
    os.replace(tmp, path)  # atomic: a concurrent run never reads a half-written file
    return emb


# ----------------------------------------------------------------------------- a shop's own data

def shop_dataset(products: Sequence[Product], vectors: np.ndarray, events: Iterable[Event], name: str = "shop",
                 min_length: int = 3) -> tuple[LeaveOneOutDataset, ItemMeta]:
    """The leave-one-out dataset of a shop: products in index order (with their vectors), the behaviour store's
    events. Users with fewer than min_length sequence steps only contribute training interactions. A new shop
    with no events gives empty splits: the shop still serves (popularity and content), training says why not."""
    position = {p.id: n for n, p in enumerate(products)}
    per_user: dict[str, list[tuple[float, int, int, str]]] = {}
    for n, e in enumerate(events):
        if e.item_id in position:  # n breaks timestamp ties in logged order
            per_user.setdefault(e.user_id, []).append((e.timestamp, n, position[e.item_id], e.type))
    splits: dict[str, list[Interaction]] = {s: [] for s in SPLITS}
    train, valid, test = [], [], []
    for user in sorted(per_user):
        typed = [(item, etype, ts) for ts, _, item, etype in sorted(per_user[user])]
        steps, starts = _steps(typed)  # sequence items and the index in `typed` where each step began
        cut = {s: len(typed) for s in SPLITS}
        if len(steps) >= min_length:
            cut.update(train=starts[-2], train_valid=starts[-1], nested=starts[-3])
            if len(steps) >= 4:
                train.append(LeaveOneOutRow(user, steps[:-3], steps[-3], typed[:starts[-3]]))
            valid.append(LeaveOneOutRow(user, steps[:-2], steps[-2], typed[:starts[-2]]))
            test.append(LeaveOneOutRow(user, steps[:-1], steps[-1], typed[:starts[-1]]))
        elif len(steps) >= 2:
            train.append(LeaveOneOutRow(user, steps[:-1], steps[-1], typed[:starts[-1]]))
            cut["nested"] = starts[-1]
        for split, end in cut.items():
            splits[split] += [(user, item, etype, ts) for item, etype, ts in typed[:end]]
    meta = ItemMeta.from_products(products)
    data = LeaveOneOutDataset(name=name, folder="", n_items=len(products), item_ids=[p.id for p in products],
                              item_text=[item_text(p.title, p.category, p.brand) for p in products],
                              train=train, valid=valid, test=test, vectors=np.asarray(vectors, dtype=np.float32),
                              split_interactions=splits)
    return data, meta


def _steps(typed: list[HistoryItem]) -> tuple[list[int], list[int]]:
    """Sequence items (click/add_to_cart/purchase, consecutive repeats collapsed) and where each step began."""
    steps, starts = [], []
    for n, (item, etype, _) in enumerate(typed):
        if etype in SEQUENCE_EVENTS and (not steps or steps[-1] != item):
            steps.append(item)
            starts.append(n)
    return steps, starts


def open_shop_dataset(data_dir: str, embedder=None) -> tuple[LeaveOneOutDataset, ItemMeta]:
    """A shop's data directory (events.sqlite3, or SHOP_DB_URL's PostgreSQL, + the catalog index) as a dataset."""
    config = CatalogConfig.from_env(data_dir=data_dir)
    if not config.db_url and not os.path.isfile(config.events_path):
        raise DatasetError(f"{data_dir} has no behaviour store ({config.events_path})")
    index = ProductIndex(config, embedder=embedder)
    ids, vectors = index.all_vectors()
    products = {p.id: p for p in index.all_products()}
    events = open_event_store(config)
    try:
        return shop_dataset([products[i] for i in ids], vectors, events.iter_events(), name=os.path.basename(
            os.path.abspath(data_dir)) or "shop")
    finally:
        events.close()


def is_shop_dir(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, "events.sqlite3"))


def load_dataset(folder: str) -> tuple[LeaveOneOutDataset, ItemMeta]:
    """A shop's data directory or a RecBole folder; raises DatasetError with a one-line reason otherwise."""
    if not os.path.isdir(folder):
        raise DatasetError(f"data folder not found: {folder}")
    if is_shop_dir(folder):
        return open_shop_dataset(folder)
    data = load_recbole_folder(folder)
    titles, categories, brands = zip(*[split_item_text(t) for t in data.item_text]) if data.n_items else ((), (), ())
    return data, ItemMeta(titles=list(titles), prices=np.full(data.n_items, np.nan), brands=list(brands),
                          categories=list(categories))


def item_vectors(data: LeaveOneOutDataset, cache_dir: str | None = None, progress: bool = False) -> np.ndarray:
    """The item vectors a recommender for this dataset is built with: the shop's index vectors (what the shop
    serves with), or the cached text embeddings of a RecBole folder's items."""
    return data.vectors if data.vectors is not None else cached_item_embeddings(data, cache_dir, progress=progress)
