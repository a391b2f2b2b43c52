"""Ranking metrics with one tie rule for every evaluation (recommendation, predictors, retrieval), and the
re-ranking measurements training tunes on (validation rows only, never test).

A target's rank counts every item scored above it and every other item tied with it (pessimistic), so a constant
scorer does not look good. Full ranking over all items: a predictor re-orders only the hybrid's top 50 (blended
by alpha, see assistant/recsys/predictor.rerank_top); everything below keeps its order.

    rank = ranks_from_scores(scores, target)                # 1 = first
    metrics_from_ranks(ranks).as_dict()                     # {"hr@10", "ndcg@10", "mrr", "n"}
    alpha, curve = tune_alpha(recommender, valid_rows, predictor)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from assistant.recsys.data import LeaveOneOutRow
from assistant.recsys.predictor import Predictor, rerank_candidates, rerank_top

ALPHA_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass
class Metrics:
    hr10: float
    ndcg10: float
    mrr: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"hr@10": self.hr10, "ndcg@10": self.ndcg10, "mrr": self.mrr, "n": self.n}


def ranks_from_scores(scores: np.ndarray, target: int) -> int:
    """1-based rank of the target in a full ranking; ties count against the target (pessimistic)."""
    t = scores[target]
    return int(np.count_nonzero(scores > t) + np.count_nonzero(scores == t))


def metrics_from_ranks(ranks: np.ndarray, k: int = 10) -> Metrics:
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return Metrics(0.0, 0.0, 0.0, 0)
    hit = ranks <= k
    ndcg = np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0)
    return Metrics(float(hit.mean()), float(ndcg.mean()), float((1.0 / ranks).mean()), int(ranks.size))


def evaluate_scorer(score_fn: Callable[[list[int]], np.ndarray], rows: Sequence[LeaveOneOutRow],
                    padding: set[int] | None = None) -> tuple[Metrics, np.ndarray]:
    """score_fn(history) -> scores over all items. Returns metrics and the per-row ranks."""
    pad = np.array(sorted(padding or ()), dtype=np.int64)
    ranks = np.empty(len(rows), dtype=np.int64)
    for n, row in enumerate(rows):
        scores = np.asarray(score_fn(row.history), dtype=np.float64).copy()
        if pad.size:
            scores[pad] = -np.inf
        ranks[n] = ranks_from_scores(scores, row.target)
    return metrics_from_ranks(ranks), ranks


def hybrid_scores(recommender, row: LeaveOneOutRow, padding: np.ndarray) -> np.ndarray:
    s = recommender.score_all(row.typed_history()).astype(np.float64)
    if padding.size:
        s[padding] = -np.inf
    return s


def predictor_ranks(recommender, rows: Sequence[LeaveOneOutRow], predictor: Predictor, alphas: Sequence[float],
                    top_n: int = 50, padding: set[int] | None = None,
                    log: Callable[[str], None] | None = None) -> dict[float, np.ndarray]:
    """Target rank per row for every alpha; the predictor scores each row's top_n once, whatever the alpha count."""
    pad = np.array(sorted(padding or ()), dtype=np.int64)
    ranks = {a: np.empty(len(rows), dtype=np.int64) for a in alphas}
    for n, row in enumerate(rows):
        scores = hybrid_scores(recommender, row, pad)
        hist = row.typed_history()
        pred = predictor.score(hist, rerank_candidates(scores, hist, predictor, top_n))
        for a in alphas:
            ranks[a][n] = ranks_from_scores(rerank_top(scores, hist, predictor, top_n, a, predictor_scores=pred), row.target)
        if log and n and n % 500 == 0:
            log(f"  {n}/{len(rows)} rows re-ranked")
    return ranks


def tune_alpha(recommender, rows: Sequence[LeaveOneOutRow], predictor: Predictor, grid: Sequence[float] = ALPHA_GRID,
               top_n: int = 50, padding: set[int] | None = None) -> tuple[float, dict[float, float]]:
    """The alpha with the best NDCG@10 on rows (validation users, never test) and NDCG@10 for every alpha tried."""
    ranks = predictor_ranks(recommender, rows, predictor, grid, top_n, padding)
    curve = {a: metrics_from_ranks(r).ndcg10 for a, r in ranks.items()}
    best = max(grid, key=lambda a: (curve[a], -abs(a - 0.5)))  # ties: the milder blend
    return float(best), curve
