"""Leave-one-out metrics for the hybrid recommender with purchase predictors re-ranking its top 50 (full ranking
over all items; the re-ranking and the metrics are assistant/recsys/metrics.py, the same ones training tunes on).

    results = evaluate_with_predictors(dataset, recommender, rows, {"fast predictor": (fp, fp.alpha)})
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from assistant.recsys.data import LeaveOneOutDataset, LeaveOneOutRow
from assistant.recsys.metrics import hybrid_scores, metrics_from_ranks, predictor_ranks, ranks_from_scores
from assistant.recsys.predictor import Predictor


def evaluate_with_predictors(dataset: LeaveOneOutDataset, recommender, rows: Sequence[LeaveOneOutRow],
                             predictors: dict[str, tuple[Predictor, float]], top_n: int = 50,
                             log: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
    """{"hybrid": metrics, name: metrics for hybrid + predictor name}, metrics = {"hr@10", "ndcg@10", "mrr", "n"}.
    predictors: name -> (predictor, alpha); the dataset's padding indices are never ranked."""
    pad = np.array(sorted(dataset.padding), dtype=np.int64)
    hybrid = np.array([ranks_from_scores(hybrid_scores(recommender, r, pad), r.target) for r in rows], dtype=np.int64)
    out = {"hybrid": metrics_from_ranks(hybrid).as_dict()}
    for name, (predictor, alpha) in predictors.items():
        ranks = predictor_ranks(recommender, rows, predictor, [alpha], top_n, dataset.padding, log)[alpha]
        out[name] = dict(metrics_from_ranks(ranks).as_dict(), alpha=float(alpha))
    return out
