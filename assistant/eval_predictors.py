"""Leave-one-out metrics for the hybrid recommender with a purchase predictor re-ranking its top 50.

Full ranking over all items, as in assistant/eval_recbole.py: the predictor re-orders only the hybrid's top 50
(blended with the hybrid score by alpha, see assistant/predictor.rerank_top); everything below keeps its order.

    results = evaluate_with_predictors(dataset, recommender, rows, {"fast predictor": (fp, fp.alpha)})
    alpha, curve = tune_alpha(recommender, valid_rows, predictor)
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from assistant.eval_recbole import LeaveOneOutRow, metrics_from_ranks, ranks_from_scores
from assistant.predictor import rerank_top, top_candidates

ALPHA_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _history(row: LeaveOneOutRow) -> list[tuple[int, str, float]]:
    # RecBole rows have order but no types or times: position is the time, every event a purchase.
    return [(i, "purchase", float(p)) for p, i in enumerate(row.history)]


def _hybrid_scores(recommender, row: LeaveOneOutRow, padding: np.ndarray) -> np.ndarray:
    s = recommender.score_all(_history(row)).astype(np.float64)
    if padding.size:
        s[padding] = -np.inf
    return s


def predictor_ranks(recommender, rows: Sequence[LeaveOneOutRow], predictor, alphas: Sequence[float], top_n: int = 50,
                    padding: set[int] | None = None, log: Callable[[str], None] | None = None) -> dict[float, np.ndarray]:
    """Target rank per row for every alpha; the predictor scores each row's top_n once, whatever the alpha count."""
    pad = np.array(sorted(padding or ()), dtype=np.int64)
    ranks = {a: np.empty(len(rows), dtype=np.int64) for a in alphas}
    for n, row in enumerate(rows):
        scores = _hybrid_scores(recommender, row, pad)
        hist = _history(row)
        top = top_candidates(scores, min(top_n, int(np.isfinite(scores).sum())))
        pred = predictor.score(hist, top)
        for a in alphas:
            ranks[a][n] = ranks_from_scores(rerank_top(scores, hist, predictor, top_n, a, predictor_scores=pred), row.target)
        if log and n and n % 500 == 0:
            log(f"  {n}/{len(rows)} rows re-ranked")
    return ranks


def tune_alpha(recommender, rows: Sequence[LeaveOneOutRow], predictor, grid: Sequence[float] = ALPHA_GRID,
               top_n: int = 50, padding: set[int] | None = None) -> tuple[float, dict[float, float]]:
    """The alpha with the best NDCG@10 on rows (validation users, never test) and NDCG@10 for every alpha tried."""
    ranks = predictor_ranks(recommender, rows, predictor, grid, top_n, padding)
    curve = {a: metrics_from_ranks(r).ndcg10 for a, r in ranks.items()}
    best = max(grid, key=lambda a: (curve[a], -abs(a - 0.5)))  # ties: the milder blend
    return float(best), curve


def evaluate_with_predictors(dataset, recommender, rows: Sequence[LeaveOneOutRow],
                             predictors: dict[str, tuple[object, float]], top_n: int = 50,
                             log: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
    """{"hybrid": metrics, name: metrics for hybrid + predictor name}, metrics = {"hr@10", "ndcg@10", "mrr", "n"}.
    dataset supplies the padding indices (never ranked); predictors: name -> (predictor, alpha)."""
    padding = getattr(dataset, "padding", None) or set()
    pad = np.array(sorted(padding), dtype=np.int64)
    hybrid = np.array([ranks_from_scores(_hybrid_scores(recommender, r, pad), r.target) for r in rows], dtype=np.int64)
    out = {"hybrid": metrics_from_ranks(hybrid).as_dict()}
    for name, (predictor, alpha) in predictors.items():
        ranks = predictor_ranks(recommender, rows, predictor, [alpha], top_n, padding, log)[alpha]
        out[name] = dict(metrics_from_ranks(ranks).as_dict(), alpha=float(alpha))
    return out
