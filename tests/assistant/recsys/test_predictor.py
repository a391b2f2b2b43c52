"""Purchase predictors: the feature model learns a planted signal, the blend re-ranks only the top 50, and
load_active_predictor says what is active."""
from __future__ import annotations

import numpy as np
import pytest

from assistant.evaluation.predictors import evaluate_with_predictors
from assistant.recsys.active import load_active_predictor
from assistant.recsys.data import LeaveOneOutDataset, LeaveOneOutRow
from assistant.recsys.features import ItemMeta
from assistant.recsys.metrics import metrics_from_ranks
from assistant.recsys.predictor import (
    FeaturePredictor,
    rank_for_user,
    rerank_top,
    top_candidates,
)
from assistant.recsys.recommend import HybridRecommender
from assistant.recsys.train import classification_metrics

N_ITEMS, N_BRANDS = 200, 10


def _world(seed: int = 0):
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((N_ITEMS, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    events = [(f"u{u}", int(i), "purchase", float(t)) for u in range(100)
              for t, i in enumerate(rng.choice(N_ITEMS, size=5, replace=False))]
    rec = HybridRecommender().fit(events, emb)
    brands = [f"brand{i % N_BRANDS}" for i in range(N_ITEMS)]
    meta = ItemMeta(titles=[f"item {i}" for i in range(N_ITEMS)], prices=rng.uniform(5, 100, N_ITEMS),
                    brands=brands, categories=[""] * N_ITEMS)
    return rec, meta


def _groups(n: int, seed: int):
    """Planted signal: the shopper buys a candidate of the same brand as the last item they looked at."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        hist = [(int(i), "purchase", float(t)) for t, i in enumerate(rng.choice(N_ITEMS, size=3, replace=False))]
        cands = rng.choice(N_ITEMS, size=50, replace=False)
        same = [c for c in cands if c % N_BRANDS == hist[-1][0] % N_BRANDS and c != hist[-1][0]]
        if not same:
            continue
        target = int(rng.choice(same))
        out.append((hist, cands, (cands == target).astype(np.int64), target))
    return out


def test_feature_model_learns_planted_signal_and_beats_random_reranking():
    rec, meta = _world()
    train, test = _groups(300, seed=1), _groups(100, seed=2)
    fp = FeaturePredictor(rec, meta).fit([g[0] for g in train], [g[1] for g in train], [g[2] for g in train])
    p = np.clip(np.concatenate([fp.score(g[0], g[1]) for g in test]), 1e-7, 1 - 1e-7)
    m = classification_metrics(np.log(p / (1 - p)), np.concatenate([g[2] for g in test]))
    assert m["auc"] > 0.8, m
    rng = np.random.default_rng(3)
    model_ranks = [1 + int(np.sum(fp.score(h, c) > fp.score(h, c)[c == t][0])) for h, c, _, t in test]
    random_ranks = [1 + int(np.sum(rng.permutation(len(c)) < np.flatnonzero(c == t)[0])) for h, c, _, t in test]
    assert metrics_from_ranks(np.array(model_ranks)).ndcg10 > metrics_from_ranks(np.array(random_ranks)).ndcg10 + 0.15
    assert fp.features(test[0][0], test[0][1]).shape == (50, len(fp.feature_names()))


class _Reverse:
    """Prefers exactly what the hybrid likes least among the candidates."""

    def __init__(self, scores):
        self.scores = scores

    def score(self, history, candidates):
        return -self.scores[candidates]


def test_rerank_top_blends_only_the_top_n():
    rng = np.random.default_rng(0)
    scores = rng.random(300)
    top = top_candidates(scores, 50)
    rest = np.setdiff1d(np.arange(300), top)
    pure = rerank_top(scores, [], _Reverse(scores), top_n=50, alpha=1.0)
    assert np.array_equal(top_candidates(pure, 50), top[::-1])  # re-ordered by the predictor alone
    assert pure[top].min() > pure[rest].max()  # the top 50 stay above everything else
    assert np.array_equal(np.argsort(-pure[rest]), np.argsort(-scores[rest]))  # the rest keep their order
    same = rerank_top(scores, [], _Reverse(scores), top_n=50, alpha=0.0)
    assert np.array_equal(top_candidates(same, 300), top_candidates(scores, 300))  # alpha 0: hybrid order


def test_load_active_predictor_describes_what_is_active(tmp_path):
    predictor, desc = load_active_predictor(str(tmp_path))
    assert predictor is None and "no purchase predictor" in desc
    rec, meta = _world()
    train = _groups(100, seed=1)
    fp = FeaturePredictor(rec, meta).fit([g[0] for g in train], [g[1] for g in train], [g[2] for g in train])
    fp.alpha = 0.4
    fp.meta.update(val_auc=0.71)
    fp.save(str(tmp_path / "features"))
    predictor, desc = load_active_predictor(str(tmp_path), rec, meta)
    assert isinstance(predictor, FeaturePredictor) and predictor.alpha == 0.4
    assert "fast feature model" in desc and "val AUC 0.71" in desc
    h, c = train[0][0], train[0][1]
    assert np.allclose(predictor.score(h, c), fp.score(h, c))


def test_evaluate_with_predictors_full_ranking_rows():
    rec, meta = _world()
    rng = np.random.default_rng(4)
    rows = [LeaveOneOutRow(f"v{n}", [int(i) for i in rng.choice(N_ITEMS, 3, replace=False)], int(rng.integers(N_ITEMS)))
            for n in range(30)]
    scores_of = lambda h: rec.score_all(h)  # noqa: E731

    class Reverse:
        kind, alpha, meta = "reverse", 1.0, {}

        def score(self, history, candidates):
            return -scores_of(history)[candidates]

    data = LeaveOneOutDataset("tiny", "", N_ITEMS, [str(i) for i in range(N_ITEMS)], [""] * N_ITEMS, [], [], rows)
    out = evaluate_with_predictors(data, rec, rows, {"same": (Reverse(), 0.0), "reverse": (Reverse(), 1.0)})
    assert out["same"]["ndcg@10"] == pytest.approx(out["hybrid"]["ndcg@10"]) and out["same"]["n"] == 30
    assert out["reverse"]["alpha"] == 1.0 and set(out["reverse"]) >= {"hr@10", "ndcg@10", "mrr"}


def test_a_cross_encoder_near_chance_does_not_replace_the_feature_model(tmp_path):
    import json

    rec, meta = _world()
    train = _groups(100, seed=1)
    fp = FeaturePredictor(rec, meta).fit([g[0] for g in train], [g[1] for g in train], [g[2] for g in train])
    fp.meta.update(val_auc=0.71)
    fp.save(str(tmp_path / "features"))
    ce = tmp_path / "cross_encoder"  # a checkpoint folder whose validation AUC is at chance
    ce.mkdir()
    (ce / "config.json").write_text("{}")
    (ce / "predictor.json").write_text(json.dumps({"kind": "cross-encoder", "val_auc": 0.52}))
    predictor, desc = load_active_predictor(str(tmp_path), rec, meta)
    assert isinstance(predictor, FeaturePredictor) and "fast feature model" in desc


def test_rank_for_user_excludes_owned_items_and_blends_the_predictor():
    rec, meta = _world()
    train = _groups(100, seed=1)
    fp = FeaturePredictor(rec, meta).fit([g[0] for g in train], [g[1] for g in train], [g[2] for g in train])
    fp.alpha = 0.5
    history = [(3, "purchase", 0.0), (7, "add_to_cart", 1.0)]
    top, scores = rank_for_user(rec, history, fp, k=8, exclude=[3, 7])
    assert len(top) == 8 and not {3, 7} & set(top.tolist()) and np.all(np.diff(scores) <= 0)
    expected = rerank_top(np.where(np.isin(np.arange(N_ITEMS), [3, 7]), -np.inf, rec.score_all(history)), history,
                          fp, top_n=50, alpha=0.5)
    assert top.tolist() == top_candidates(expected, 8).tolist()
    cold, _ = rank_for_user(rec, [], fp, k=5)  # no history: the hybrid's cold start, no predictor
    assert cold.tolist() == top_candidates(rec.score_all([]).astype(np.float64), 5).tolist()


def test_predictor_ties_keep_the_hybrid_order_even_at_alpha_1():
    """A predictor that scores every candidate the same must not scramble the hybrid's ranking."""
    import numpy as np

    from assistant.recsys.predictor import rerank_top

    class Flat:
        def score(self, history, candidates):
            return np.full(len(candidates), 1.213)

    hybrid = np.array([0.1, 0.9, 0.5, 0.7, 0.3, 0.2])
    out = rerank_top(hybrid, [], Flat(), top_n=4, alpha=1.0)
    assert list(np.argsort(-out)[:4]) == [1, 3, 2, 4]
