"""The sequence purchase predictor: a small next-item transformer trained on shoppers' sequences over frozen MiniLM
item-text embeddings (assistant/recsys/transformer.py), combined with the hybrid's own evidence by a gradient-boosted
re-ranker learned on validation users' next purchases. It re-ranks the hybrid's top 50 like every predictor
(`rerank_top`, blended with the hybrid by an alpha tuned on validation).

Features per candidate: everything the fast feature model reads (component scores, blend score and rank,
similarity to the last items, popularity, price, brand/category match) plus the transformer's next-item
log-probability, its rank among the candidates, its z-score and its gap to the best candidate.

    sp = SequencePredictor.load("runs/predictor-Scientific/sequence", recommender, item_meta)
    order = rerank_top(recommender.score_all(history), history, sp, top_n=50, alpha=sp.alpha)
"""
from __future__ import annotations

import json
import os
import time
from typing import Sequence

import numpy as np

from assistant.recsys.predictor import META_FILE, FeaturePredictor, _items, fit_purchase_classifier, zscore
from assistant.recsys.recommend import HybridRecommender
from assistant.recsys.transformer import TransformerSeqModel

SEQUENCE_DIR = "sequence"
SEQ_FEATURES = ["seq_logprob", "seq_rank", "seq_z", "seq_gap", "history_length"]


class SequencePredictor:
    kind = "sequence"

    def __init__(self, seq_model: TransformerSeqModel, recommender: HybridRecommender | None = None, item_meta=None,
                 seed: int = 0, max_iter: int = 300):
        self.seq_model = seq_model
        self.base = FeaturePredictor(recommender, item_meta)  # its feature block, not its model
        self.seed, self.max_iter = seed, max_iter
        self.model = None
        self.alpha = 1.0
        self.meta: dict = {"kind": self.kind}

    def attach(self, recommender: HybridRecommender, item_meta=None) -> SequencePredictor:
        self.base.attach(recommender, item_meta)
        return self

    def feature_names(self) -> list[str]:
        return self.base.feature_names() + SEQ_FEATURES

    def sequence_features(self, history: Sequence, candidates: np.ndarray) -> np.ndarray:
        items = _items(history)
        cand = np.asarray(candidates, dtype=np.int64)
        logp = self.seq_model.score_candidates(items, cand)
        rank = np.empty(len(cand))
        rank[np.lexsort((cand, -logp))] = np.arange(len(cand))
        gap = logp - logp.max() if len(cand) else logp
        return np.column_stack([logp, rank, zscore(logp), gap, np.full(len(cand), float(len(items)))])

    def features(self, history: Sequence, candidates: np.ndarray) -> np.ndarray:
        return np.hstack([self.base.features(history, candidates), self.sequence_features(history, candidates)])

    def fit_features(self, X: np.ndarray, y: np.ndarray) -> SequencePredictor:
        """Fit the re-ranker on precomputed feature rows (training computes them once for cross-fitting)."""
        # Shallow, regularised trees: a few thousand positives only.
        self.model, fitted = fit_purchase_classifier(X, y, "sequence predictor", time.perf_counter(),
                                                     random_state=self.seed, max_iter=self.max_iter, learning_rate=0.05,
                                                     max_leaf_nodes=15, min_samples_leaf=50, l2_regularization=1.0,
                                                     validation_fraction=0.15)
        self.meta.update(fitted)
        return self

    def predict_features(self, X: np.ndarray) -> np.ndarray:
        """Log-probability of purchase for feature rows (log keeps the z-scored blend from being dominated by one
        confident candidate)."""
        from threadpoolctl import threadpool_limits

        if self.model is None:
            raise RuntimeError("SequencePredictor is not fitted")
        with threadpool_limits(1):  # 50 rows: thread start-up would cost more than the work
            return np.log(np.clip(self.model.predict_proba(X)[:, 1], 1e-9, 1.0))

    def score(self, user_history: Sequence, candidate_item_indices: np.ndarray) -> np.ndarray:
        return self.predict_features(self.features(user_history, candidate_item_indices))

    def save(self, out_dir: str) -> None:
        import joblib

        os.makedirs(out_dir, exist_ok=True)
        joblib.dump(self.model, os.path.join(out_dir, "model.joblib"))
        self.seq_model.save(os.path.join(out_dir, "transformer"))
        meta = dict(self.meta, kind=self.kind, components=self.base.components, features=self.feature_names(),
                    alpha=self.alpha)
        with open(os.path.join(out_dir, META_FILE), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)

    @classmethod
    def load(cls, out_dir: str, recommender: HybridRecommender | None = None, item_meta=None) -> SequencePredictor:
        import joblib

        with open(os.path.join(out_dir, META_FILE), encoding="utf-8") as f:
            meta = json.load(f)
        p = cls(TransformerSeqModel.load(os.path.join(out_dir, "transformer")), recommender, item_meta)
        p.model = joblib.load(os.path.join(out_dir, "model.joblib"))
        p.base.components, p.alpha, p.meta = list(meta["components"]), float(meta.get("alpha", 1.0)), meta
        return p
