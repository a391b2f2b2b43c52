"""BM25 keyword scores over the catalog, fused with the dense (sentence-transformers) scores at search time.

Why: a small sentence encoder misses exact tokens a shopper types: brand names, model numbers, team names,
"1tb". On the 200 real ESCI queries (`python -m assistant.evaluate retrieval`) dense alone reaches MRR 0.84 and
BM25 alone 0.88; fused they do better (0.90), because they fail on different queries.

The index is a sparse product x term matrix of BM25 weights, so a query's scores are one sparse column sum.
Dense evidence is itself two views of a product (its whole text and its short head text, see Product.head_text),
averaged as z-scores before the keyword scores are added.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

import numpy as np
import scipy.sparse as sp

TOKEN = re.compile(r"[a-z0-9]+")
K1, B = 1.2, 0.75  # the usual BM25 constants (Robertson & Zaragoza)
LEXICAL_WEIGHT = 0.3  # fused score = z(dense) + LEXICAL_WEIGHT * z(bm25); see the README's retrieval table


def tokens(text: str) -> list[str]:
    """Lower-case words and numbers, with a light plural fold ("jackets" -> "jacket", "womens" -> "women")."""
    out = []
    for t in TOKEN.findall(text.lower()):
        if len(t) > 3 and t.endswith("s") and not t.endswith("ss") and not t[-2].isdigit():
            t = t[:-1]
        out.append(t)
    return out


class LexicalIndex:
    def __init__(self, ids: list[str], texts: Iterable[str]):
        self.ids = list(ids)
        self.pos = {pid: n for n, pid in enumerate(self.ids)}
        self.vocab: dict[str, int] = {}
        rows, cols, tfs, lengths = [], [], [], []
        for n, text in enumerate(texts):
            counts = Counter(tokens(text))
            lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                rows.append(n)
                cols.append(self.vocab.setdefault(term, len(self.vocab)))
                tfs.append(tf)
        n_docs = len(self.ids)
        lengths_arr = np.asarray(lengths, dtype=np.float64)
        avg = float(lengths_arr.mean()) if n_docs else 1.0
        rows_arr, cols_arr, tf_arr = np.asarray(rows, np.int64), np.asarray(cols, np.int64), np.asarray(tfs, np.float64)
        df = np.bincount(cols_arr, minlength=len(self.vocab)).astype(np.float64)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        norm = K1 * (1 - B + B * lengths_arr[rows_arr] / max(avg, 1e-9)) if n_docs else np.zeros(0)
        weights = idf[cols_arr] * tf_arr * (K1 + 1) / (tf_arr + norm)
        self.matrix = sp.csc_matrix((weights.astype(np.float32), (rows_arr, cols_arr)), shape=(n_docs, max(len(self.vocab), 1)))

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every indexed product (row order of self.ids) for the query."""
        terms = sorted({self.vocab[t] for t in tokens(query) if t in self.vocab})
        if not terms:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.matrix[:, terms].sum(axis=1), dtype=np.float32).ravel()

    def scores_for(self, query: str, ids: list[str]) -> np.ndarray:
        """BM25 scores of the given products (0 for ids not in the index)."""
        all_scores = self.scores(query)
        return np.array([all_scores[self.pos[i]] if i in self.pos else 0.0 for i in ids], dtype=np.float32)


def fuse(dense: np.ndarray, lexical: np.ndarray | None, weight: float = LEXICAL_WEIGHT,
         head: np.ndarray | None = None) -> np.ndarray:
    """z-score fusion over the candidate set: the scales differ (cosines vs unbounded BM25), their spreads within
    one query's candidates are comparable. Dense evidence is the mean of the z-scored full-text cosine and, when
    given, the head-text cosine; keyword evidence adds `weight` times its z-score. With no keyword hit at all the
    dense order is kept; a head of zeros (no head vectors yet) is left out."""
    dense = np.asarray(dense, np.float64)
    parts = [_z(dense)]
    if head is not None and np.any(head):
        parts.append(_z(np.asarray(head, np.float64)))
    score = sum(parts) / len(parts)
    if lexical is not None and np.any(np.asarray(lexical) > 0):
        score = score + weight * _z(np.asarray(lexical, np.float64))
    return score


def _z(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)


__all__ = ["LexicalIndex", "fuse", "tokens", "LEXICAL_WEIGHT"]
