"""TreeStack walks the bagged re-ranker's trees with numpy: the same log-probabilities as sklearn's predict_proba,
missing values included."""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from assistant.recsys.tree_stack import TreeStack


def test_the_numpy_walk_matches_sklearn():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 6))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = ((np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) ** 2 + rng.standard_normal(3000)) > 1.5).astype(int)
    models = [HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, random_state=s).fit(X, y) for s in (0, 1)]
    stack = TreeStack.build(models)
    assert stack is not None
    test = rng.standard_normal((70, 6))
    test[3, 2] = np.nan
    expected = np.array([np.log(m.predict_proba(test)[:, 1]) for m in models])
    assert np.allclose(stack.log_proba(test), expected, atol=1e-10)


def test_a_multiclass_model_is_left_to_sklearn():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((300, 3)), rng.integers(3, size=300)
    assert TreeStack.build([HistGradientBoostingClassifier(max_iter=5).fit(X, y)]) is None
