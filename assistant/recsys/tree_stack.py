"""All trees of a few fitted HistGradientBoostingClassifiers (binary, numeric features) evaluated at once with
numpy: the bagged re-ranker has ~800 trees, and sklearn's predict loops over them in Python (about 7 ms a model
for 70 rows on a busy 2-core machine); walking every tree level by level over all rows is a few array operations
per level. Same decisions as sklearn (x <= threshold goes left, NaN follows missing_go_to_left), same sums.

    stack = TreeStack.build(models)      # None when a model is not one this can mirror (use predict_proba then)
    logp = stack.log_proba(X)            # (n_models, n_rows): log P(class 1)
"""
from __future__ import annotations

import numpy as np


class TreeStack:
    def __init__(self, feature, threshold, missing_left, left, right, is_leaf, value, roots, tree_model, baselines,
                 max_depth: int):
        self.feature, self.threshold, self.missing_left = feature, threshold, missing_left
        self.left, self.right, self.is_leaf, self.value = left, right, is_leaf, value
        self.roots, self.tree_model, self.baselines, self.max_depth = roots, tree_model, baselines, max_depth

    @classmethod
    def build(cls, models) -> TreeStack | None:
        parts, roots, tree_model, baselines, offset, depth = [], [], [], [], 0, 0
        for m, model in enumerate(models):
            predictors = getattr(model, "_predictors", None)
            if (predictors is None or getattr(model, "n_trees_per_iteration_", 1) != 1
                    or getattr(model, "is_categorical_", None) is not None):
                return None
            baselines.append(float(np.ravel(model._baseline_prediction)[0]))
            for (tree,) in predictors:
                nodes = tree.nodes
                if nodes["is_categorical"].any():
                    return None
                parts.append(nodes)
                roots.append(offset)
                tree_model.append(m)
                depth = max(depth, int(nodes["depth"].max()))
                offset += len(nodes)
        if not parts:
            return None
        sizes = np.array([len(p) for p in parts])
        shift = np.repeat(np.asarray(roots), sizes)  # child indices are per tree: make them global
        nodes = np.concatenate(parts)
        leaf = nodes["is_leaf"].astype(bool)
        own = np.arange(len(nodes))
        return cls(nodes["feature_idx"].astype(np.int64), nodes["num_threshold"].astype(np.float64),
                   nodes["missing_go_to_left"].astype(bool), np.where(leaf, own, nodes["left"] + shift),
                   np.where(leaf, own, nodes["right"] + shift), leaf, nodes["value"].astype(np.float64),
                   np.asarray(roots), np.asarray(tree_model), np.asarray(baselines), depth)

    def raw(self, X: np.ndarray) -> np.ndarray:
        """(n_models, n_rows) raw predictions (log-odds)."""
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        node = np.repeat(self.roots[:, None], n, axis=1)  # (n_trees, n_rows)
        cols = np.arange(n)[None, :]
        for _ in range(self.max_depth):
            if self.is_leaf[node].all():
                break
            x = X[cols, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])  # a leaf points at itself
        starts = np.flatnonzero(np.r_[True, np.diff(self.tree_model) != 0])  # each model's trees are contiguous
        return self.baselines[:, None] + np.add.reduceat(self.value[node], starts, axis=0)

    def log_proba(self, X: np.ndarray) -> np.ndarray:
        """log P(class 1) per model and row: log(sigmoid(raw)), stably."""
        return -np.logaddexp(0.0, -self.raw(X))
