"""The sequence purchase predictor: a small next-item transformer trained on shoppers' sequences over frozen MiniLM
item-text embeddings (assistant/recsys/transformer.py), combined with the hybrid's own evidence by a gradient-boosted
re-ranker learned on validation users' next purchases. It re-ranks the hybrid's top 50 like every predictor
(`rerank_top`, blended with the hybrid by an alpha tuned on validation).

Features per candidate: everything the fast feature model reads (component scores, blend score and rank,
similarity to the last items, popularity, price, brand/category match) plus the transformer's next-item
log-probability, its rank among the candidates, its z-score, its gap to the best candidate and (feature set 2) its
rank among all items, the raw (unnormalised) transition and item-CF strength from the last item and the transition
strength from the one before, how often the candidate is in the history and how many steps ago it last was.
Feature set 3 adds evidence beyond the last item (`_neighbour_features`: transitions and CF borrowed from the last
item's nearest items by text, the recent items' strongest CF link and summed transitions, how many items lead to the
candidate, its text closeness to the whole history) and fits the re-ranker with LightGBM, whose trees subsample
rows and features; sets 1-2 keep sklearn's trees. Sets 2-3 average the log-probabilities of `bag` re-rankers fit
with different seeds (and early-stopping splits): one fit on a few thousand positives is noisy.

From set 2 the list is wider (`expand_candidates`, called by rerank_top): the transformer's own top
`extra_candidates` items outside the hybrid's top 50 join the re-ranked list, so a next purchase the hybrid ranks
low but the transformer sees coming can still reach the top 10. Models saved before (no "feature_set" in their
meta) keep set 1 and the hybrid's top 50 alone; each saved model keeps the set it was trained with.

    sp = SequencePredictor.load("runs/predictor-Scientific/sequence", recommender, item_meta)
    order = rerank_top(recommender.score_all(history), history, sp, top_n=50, alpha=sp.alpha)
"""
from __future__ import annotations

import json
import os
import time
from typing import Sequence

import numpy as np

from assistant.recsys.predictor import (
    META_FILE,
    FeaturePredictor,
    _items,
    fit_purchase_classifier,
    fit_subsampled_classifier,
    zscore,
)
from assistant.recsys.recommend import HybridRecommender
from assistant.recsys.transformer import TransformerSeqModel
from assistant.recsys.tree_stack import TreeStack

SEQUENCE_DIR = "sequence"
SEQ_FEATURES = ["seq_logprob", "seq_rank", "seq_z", "seq_gap", "history_length"]
SEQ_FEATURES_2 = SEQ_FEATURES + ["seq_log_rank_all", "transition_last_raw", "knn_last_raw", "transition_prev_raw",
                                  "history_count", "steps_since_seen"]
SEQ_FEATURES_3 = SEQ_FEATURES_2 + ["text_transition_last", "text_knn_last", "knn_max_recent", "transition_sum_recent",
                                   "knn_prev_raw", "transition_indegree", "transition_outdegree_last",
                                   "cos_history_mean", "cos_history_max"]
FEATURE_SET = 3  # what a new predictor is trained with; load() reads a saved model's set from its meta
TEXT_NEIGHBOURS = 20  # items whose text is closest to the last item lend it their transitions (set 3)
RECENT = 5  # history items the set-3 max/sum features read


class SequencePredictor:
    kind = "sequence"

    def __init__(self, seq_model: TransformerSeqModel, recommender: HybridRecommender | None = None, item_meta=None,
                 seed: int = 0, max_iter: int = 300, feature_set: int = FEATURE_SET, extra_candidates: int = 20,
                 bag: int = 4):
        self.seq_model = seq_model
        self.base = FeaturePredictor(recommender, item_meta)  # its feature block, not its model
        self.seed, self.max_iter = seed, max_iter
        self.feature_set, self.extra_candidates = feature_set, extra_candidates if feature_set >= 2 else 0
        self.bag = bag if feature_set >= 2 else 1
        self.model: list | None = None  # the bagged classifiers
        self._stack: tuple[int, TreeStack | None] | None = None  # (id of the model list, its trees as arrays)
        self.alpha = 1.0
        self.meta: dict = {"kind": self.kind}
        self._memo: tuple[tuple, np.ndarray] | None = None
        self._item_stats: tuple[int, np.ndarray, np.ndarray] | None = None  # (id of the recommender, unit vectors, indegree)

    def attach(self, recommender: HybridRecommender, item_meta=None) -> SequencePredictor:
        self.base.attach(recommender, item_meta)
        return self

    def feature_names(self) -> list[str]:
        extra = {1: SEQ_FEATURES, 2: SEQ_FEATURES_2}.get(self.feature_set, SEQ_FEATURES_3)
        return self.base.feature_names() + extra

    def log_probs(self, items: list[int]) -> np.ndarray:
        """The transformer's next-item log-probabilities over all items (the last history is remembered: the list
        expansion and the scoring of one shopper read it twice)."""
        key = (id(self.seq_model), tuple(items[-self.seq_model.config.max_len:]))
        memo = self._memo  # one read: another thread may replace it meanwhile
        if memo is None or memo[0] != key:
            memo = (key, self.seq_model.score_candidates(items, np.arange(self.seq_model.n_items)))
            self._memo = memo
        return memo[1]

    def expand_candidates(self, history: Sequence, top: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """The hybrid's top list plus the transformer's best `extra_candidates` items outside it, among the items
        the hybrid ranks at all (finite scores: no padding, nothing the caller excluded)."""
        items = _items(history)
        if self.extra_candidates <= 0 or not items:
            return top
        logp = self.log_probs(items).copy()
        logp[~np.isfinite(np.asarray(scores, dtype=np.float64))] = -np.inf
        logp[top] = -np.inf
        k = min(self.extra_candidates, int(np.isfinite(logp).sum()))
        if k <= 0:
            return top
        extra = np.argpartition(-logp, k - 1)[:k]
        return np.concatenate([top, extra[np.lexsort((extra, -logp[extra]))]])

    def sequence_features(self, history: Sequence, candidates: np.ndarray) -> np.ndarray:
        items = _items(history)
        cand = np.asarray(candidates, dtype=np.int64)
        if items:
            full = self.log_probs(items)
            logp = full[cand]
        else:
            full, logp = None, np.zeros(len(cand))
        rank = np.empty(len(cand))
        rank[np.lexsort((cand, -logp))] = np.arange(len(cand))
        gap = logp - logp.max() if len(cand) else logp
        cols = [logp, rank, zscore(logp), gap, np.full(len(cand), float(len(items)))]
        if self.feature_set >= 2:
            above = np.searchsorted(np.sort(-full), -logp, side="left") if full is not None else np.zeros(len(cand))
            cols.append(np.log1p(above))  # how many items the transformer puts above the candidate
            cols += self._history_features(items, cand)
        if self.feature_set >= 3:
            cols += self._neighbour_features(items, cand)
        return np.column_stack(cols)

    def _history_features(self, items: list[int], cand: np.ndarray) -> list[np.ndarray]:
        rec = self.base.recommender

        def row(matrix, item: int) -> np.ndarray:
            a, b = matrix.indptr[item], matrix.indptr[item + 1]
            return np.asarray(matrix[item, cand].toarray()).ravel() if b > a else np.zeros(len(cand))

        zeros = np.zeros(len(cand))
        tr_last = row(rec.transition, items[-1]) if items else zeros
        knn_last = row(rec.knn, items[-1]) if items else zeros
        tr_prev = row(rec.transition, items[-2]) if len(items) > 1 else zeros
        counts: dict[int, int] = {}
        last_seen: dict[int, int] = {}
        for k, i in enumerate(items):
            counts[i] = counts.get(i, 0) + 1
            last_seen[i] = len(items) - 1 - k
        cnt = np.array([counts.get(int(c), 0) for c in cand], dtype=np.float64)
        since = np.array([last_seen.get(int(c), -1) for c in cand], dtype=np.float64)
        return [tr_last, knn_last, tr_prev, cnt, since]

    def _neighbour_features(self, items: list[int], cand: np.ndarray) -> list[np.ndarray]:
        """Set 3: evidence from more than the last item. A rare last item has few transitions of its own, so the
        items whose text is closest to it lend theirs (and their item-CF rows); the recent items' strongest CF link
        and summed transitions (the hybrid decays them); how many items lead to the candidate at all; and how close
        the candidate's text is to the whole history."""
        rec = self.base.recommender
        stats = self._item_stats
        if stats is None or stats[0] != id(rec):
            vec = np.asarray(rec.text_vectors, dtype=np.float32)
            unit = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
            positive = rec.transition.indices[rec.transition.data > 0]
            indegree = np.log1p(np.bincount(positive, minlength=rec.n_items)).astype(np.float64)
            stats = self._item_stats = (id(rec), unit, indegree)
        unit, indegree = stats[1], stats[2]
        zeros = np.zeros(len(cand))
        if not items:
            return [zeros, zeros, zeros, zeros, zeros, indegree[cand], zeros, zeros, zeros]
        last = items[-1]
        sims = unit @ unit[last]
        sims[last] = -np.inf
        k = min(TEXT_NEIGHBOURS, len(sims) - 1)
        if k > 0:
            near = np.argpartition(-sims, k - 1)[:k]
            w = np.clip(sims[near], 0.0, None)
            text_tr = w @ rec.transition[near][:, cand].toarray()
            text_knn = w @ rec.knn[near][:, cand].toarray()
        else:
            text_tr = text_knn = zeros
        recent = items[-RECENT:]
        knn_max = rec.knn[recent][:, cand].toarray().max(axis=0)
        tr_sum = rec.transition[recent][:, cand].toarray().sum(axis=0)
        knn_prev = rec.knn[items[-2]][:, cand].toarray().ravel() if len(items) > 1 else zeros
        row = rec.transition.data[rec.transition.indptr[last]:rec.transition.indptr[last + 1]]
        outdegree = np.full(len(cand), np.log1p(float((row > 0).sum())))
        cos = unit[cand] @ unit[items].T
        return [text_tr, text_knn, knn_max, tr_sum, knn_prev, indegree[cand], outdegree,
                unit[cand] @ unit[items].mean(axis=0), cos.max(axis=1)]

    def features(self, history: Sequence, candidates: np.ndarray) -> np.ndarray:
        return np.hstack([self.base.features(history, candidates), self.sequence_features(history, candidates)])

    def fit_features(self, X: np.ndarray, y: np.ndarray, sizes: Sequence[int] | None = None) -> SequencePredictor:
        """Fit the re-ranker on precomputed feature rows (training computes them once for cross-fitting). sizes:
        rows per shopper, in order (set 3 early-stops on held-out shoppers; without sizes, on held-out rows)."""
        # Shallow, regularised trees: a few thousand positives only.
        started, self.model = time.perf_counter(), []
        for b in range(self.bag):
            if self.feature_set >= 3:
                model, fitted = fit_subsampled_classifier(X, y, sizes, "sequence predictor", started,
                                                          seed=self.seed + 1000 * b, n_estimators=self.max_iter)
            else:
                model, fitted = fit_purchase_classifier(X, y, "sequence predictor", started,
                                                        random_state=self.seed + 1000 * b, max_iter=self.max_iter,
                                                        learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=50,
                                                        l2_regularization=1.0, validation_fraction=0.15)
            self.model.append(model)
        self._stack = None
        self.meta.update(fitted, bag=self.bag)
        return self

    def predict_features(self, X: np.ndarray) -> np.ndarray:
        """Log-probability of purchase for feature rows (log keeps the z-scored blend from being dominated by one
        confident candidate)."""
        from threadpoolctl import threadpool_limits

        if self.model is None:
            raise RuntimeError("SequencePredictor is not fitted")
        floor = np.log(1e-9)
        if hasattr(self.model[0], "booster_"):  # LightGBM (set 3): one thread, as 70 rows cost less than a start-up
            raw = [m.booster_.predict(X, raw_score=True, num_threads=1) for m in self.model]
            return np.mean([np.maximum(-np.logaddexp(0.0, -r), floor) for r in raw], axis=0)  # log sigmoid
        stack = self._stack
        if stack is None or stack[0] != id(self.model):
            stack = self._stack = (id(self.model), TreeStack.build(self.model))
        if stack[1] is not None:  # the same trees, walked with numpy: sklearn loops over ~800 in Python
            return np.mean(np.maximum(stack[1].log_proba(X), floor), axis=0)
        with threadpool_limits(1):  # 50 rows: thread start-up would cost more than the work
            return np.mean([np.log(np.clip(m.predict_proba(X)[:, 1], 1e-9, 1.0)) for m in self.model], axis=0)

    def score(self, user_history: Sequence, candidate_item_indices: np.ndarray) -> np.ndarray:
        return self.predict_features(self.features(user_history, candidate_item_indices))

    def save(self, out_dir: str) -> None:
        import joblib

        os.makedirs(out_dir, exist_ok=True)
        joblib.dump(self.model, os.path.join(out_dir, "model.joblib"))
        self.seq_model.save(os.path.join(out_dir, "transformer"))
        meta = dict(self.meta, kind=self.kind, components=self.base.components, features=self.feature_names(),
                    alpha=self.alpha, feature_set=self.feature_set, extra_candidates=self.extra_candidates)
        with open(os.path.join(out_dir, META_FILE), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)

    @classmethod
    def load(cls, out_dir: str, recommender: HybridRecommender | None = None, item_meta=None) -> SequencePredictor:
        import joblib

        with open(os.path.join(out_dir, META_FILE), encoding="utf-8") as f:
            meta = json.load(f)
        p = cls(TransformerSeqModel.load(os.path.join(out_dir, "transformer")), recommender, item_meta,
                feature_set=int(meta.get("feature_set", 1)), extra_candidates=int(meta.get("extra_candidates", 0)))
        model = joblib.load(os.path.join(out_dir, "model.joblib"))
        p.model = list(model) if isinstance(model, list) else [model]  # one classifier before bagging
        p.base.components, p.alpha, p.meta = list(meta["components"]), float(meta.get("alpha", 1.0)), meta
        return p
