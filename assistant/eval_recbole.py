"""Leave-one-out evaluation on a RecBole-style folder (UniSRec preprocessing), the protocol published results use.

A folder holds <Name>.text, <Name>.item2index, <Name>.train.inter, <Name>.valid.inter and <Name>.test.inter.
Each .inter row is `user_id, item_id_list (space-separated history), item_id (next item)`. For every valid/test
row we rank ALL items given the history, exclude nothing but padding, and report HR@10, NDCG@10 and MRR over the
full ranking. The training code reuses `load_recbole_folder` and `evaluate_scorer`.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

REQUIRED_SUFFIXES = (".text", ".item2index", ".train.inter", ".valid.inter", ".test.inter")


class DatasetError(Exception):
    """The folder is not a usable RecBole-style dataset; the message names what is missing or wrong."""


@dataclass
class LeaveOneOutRow:
    user: str
    history: list[int]  # item indices, oldest first
    target: int


@dataclass
class RecBoleDataset:
    name: str
    folder: str
    n_items: int  # item indices run 0..n_items-1
    item_ids: list[str]  # index -> original item id (ASIN); "" where the index has no id
    item_text: list[str]  # index -> text ("" when the .text file has no row for it)
    train: list[LeaveOneOutRow]
    valid: list[LeaveOneOutRow]
    test: list[LeaveOneOutRow]
    text_path: str = ""
    padding: set[int] = field(default_factory=set)  # indices that are padding (never ranked as a target)

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


def load_recbole_folder(folder: str) -> RecBoleDataset:
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
    return RecBoleDataset(name, folder, n_items, item_ids, item_text, train, valid, test, base + ".text", padding)


@dataclass
class Metrics:
    hr10: float
    ndcg10: float
    mrr: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"hr@10": self.hr10, "ndcg@10": self.ndcg10, "mrr": self.mrr, "n": self.n}


def ranks_from_scores(scores: np.ndarray, target: int) -> int:
    """1-based rank of the target in a full ranking; ties count against the target (pessimistic), so a
    constant scorer does not look good."""
    t = scores[target]
    return int(np.count_nonzero(scores > t) + np.count_nonzero(scores == t))


def metrics_from_ranks(ranks: np.ndarray, k: int = 10) -> Metrics:
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return Metrics(0.0, 0.0, 0.0, 0)
    hit = ranks <= k
    ndcg = np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0)
    return Metrics(float(hit.mean()), float(ndcg.mean()), float((1.0 / ranks).mean()), int(ranks.size))


def evaluate_scorer(
    score_fn: Callable[[list[int]], np.ndarray],
    rows: Sequence[LeaveOneOutRow],
    padding: set[int] | None = None,
) -> tuple[Metrics, np.ndarray]:
    """score_fn(history) -> scores over all items. Returns metrics and the per-row ranks."""
    pad = np.array(sorted(padding or ()), dtype=np.int64)
    ranks = np.empty(len(rows), dtype=np.int64)
    for n, row in enumerate(rows):
        scores = np.asarray(score_fn(row.history), dtype=np.float64).copy()
        if pad.size:
            scores[pad] = -np.inf
        ranks[n] = ranks_from_scores(scores, row.target)
    return metrics_from_ranks(ranks), ranks


def sample_rows(rows: Sequence[LeaveOneOutRow], n: int | None, seed: int = 0) -> list[LeaveOneOutRow]:
    if n is None or n >= len(rows):
        return list(rows)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(rows), size=n, replace=False))
    return [rows[i] for i in pick]


def default_cache_dir() -> str:
    return os.environ.get("SHOP_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "shop-assistant")


def embedding_cache_path(dataset: RecBoleDataset, cache_dir: str | None = None, model: str | None = None) -> str:
    """Cache file for the dataset's item embeddings: keyed by dataset name, model and a hash of the text file."""
    import hashlib

    from catalog.embed import DEFAULT_MODEL

    model_name = model or os.environ.get("SHOP_EMBED_MODEL") or DEFAULT_MODEL
    with open(dataset.text_path, "rb") as f:
        text_hash = hashlib.sha256(f.read()).hexdigest()[:16]
    safe_model = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)
    return os.path.join(cache_dir or default_cache_dir(), f"{dataset.name}.{safe_model}.{text_hash}.n{dataset.n_items}.npy")


def cached_item_embeddings(dataset: RecBoleDataset, cache_dir: str | None = None, model: str | None = None,
                           progress: bool = False) -> np.ndarray:
    """Text embeddings of every item (row i = item index i), cached on disk (see embedding_cache_path), so a
    repeat run skips the encoder. Items without text get a zero vector."""
    from catalog.embed import get_embedder

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


def split_item_text(text: str) -> tuple[str, str, str]:
    """UniSRec item text is "<title>. <category path>. <brand>."; returns (title, category, brand). Titles may
    contain ". " themselves, so category and brand are taken from the end."""
    parts = [p.strip() for p in text.strip().rstrip(".").split(". ")]
    if len(parts) >= 3:
        return ". ".join(parts[:-2]), parts[-2], parts[-1]
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return text.strip(), "", ""
