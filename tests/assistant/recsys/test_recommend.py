"""Hybrid recommender behaviour on tiny planted data: item-CF, real-time updates, cold start, content for new items."""
from __future__ import annotations

import numpy as np
import pytest

from assistant.recsys.predictor import rank_for_user
from assistant.recsys.recommend import HybridRecommender, RecommenderConfig, build_item_features


def _embeddings(n_items: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    e = np.random.default_rng(seed).standard_normal((n_items, dim)).astype(np.float32)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def _planted(n_items: int = 30, seed: int = 0):
    """Users who buy item 0 also buy item 1 (and 2 -> 3); the rest is noise over items 10..29."""
    rng = np.random.default_rng(seed)
    events = []
    for u in range(60):
        t = 0.0
        for item in rng.choice(np.arange(10, n_items), size=3, replace=False):
            events.append((f"n{u}", int(item), "view", t))
            t += 1
        if u < 30:
            events += [(f"n{u}", 0, "purchase", t), (f"n{u}", 1, "purchase", t + 1)]
        else:
            events += [(f"n{u}", 2, "add_to_cart", t), (f"n{u}", 3, "purchase", t + 1)]
    return events


def test_item_cf_finds_co_purchased_item():
    emb = _embeddings(30)
    rec = HybridRecommender(RecommenderConfig(weights={"pop": 0.0, "knn": 1.0, "transition": 0.0, "content": 0.0}))
    rec.fit(_planted(), emb)
    idx, scores = rec.recommend([(0, "purchase", 0.0)], k=3)
    assert idx[0] == 1 and scores[0] > 0
    idx, _ = rec.recommend([(2, "view", 0.0)], k=3)
    assert idx[0] == 3
    parts = rec.component_scores([(0, "purchase", 0.0)])
    assert set(parts) == {"pop", "knn", "user_knn", "transition", "content", "repeat"}
    assert parts["repeat"][0] > 0 and parts["repeat"].sum() == parts["repeat"][0]
    assert parts["transition"].argmax() == 1  # 0 is followed by 1 in every planted sequence


def test_real_time_event_changes_recommendations_without_refit():
    rec = HybridRecommender().fit(_planted(), _embeddings(30))
    before, _ = rank_for_user(rec, rec.history_of("new-user"), k=5)
    rec.add_event("new-user", 2, "add_to_cart", 100.0)
    after, _ = rank_for_user(rec, rec.history_of("new-user"), k=5)
    assert not np.array_equal(before, after)
    assert after[0] == 3
    assert rec.history_of("new-user") == [(2, "add_to_cart", 100.0)]
    with pytest.raises(ValueError, match="outside the catalog"):
        rec.add_event("new-user", 999, "view")
    with pytest.raises(ValueError, match="unknown event type"):
        rec.add_event("new-user", 1, "like")


def test_cold_start_is_popularity_and_intent_shifts_it():
    emb = _embeddings(30)
    rec = HybridRecommender().fit(_planted(), emb)
    idx, _ = rec.recommend([], k=4)
    assert set(idx[:4]) == {0, 1, 2, 3}  # each bought by 30 users; noise items are seen about 6 times
    assert np.array_equal(rank_for_user(rec, rec.history_of("never-seen"), k=4)[0], idx)
    # An intent vector pointing at a never-bought item lifts it to the top.
    idx, _ = rec.recommend([], k=3, intent_vector=emb[17] * 5)
    assert idx[0] == 17


def test_new_item_without_events_is_recommendable_through_content():
    emb = _embeddings(31)
    emb[30] = emb[12]  # item 30 is new (no events) but looks like item 12
    events = [e for e in _planted() if e[1] != 30]
    rec = HybridRecommender().fit(events, emb)
    assert rec.popularity[30] == 0
    scores = rec.score_all([(12, "purchase", 0.0)])
    assert scores[30] > 0
    idx, _ = rec.recommend([(12, "purchase", 0.0)], k=8)
    assert 30 in idx
    # With no history links at all it still beats every item that has events but no tie to item 12.
    linked = set(np.flatnonzero(rec.component_scores([(12, "purchase", 0.0)])["knn"])) | {0, 1, 2, 3, 12}
    unlinked = [i for i in range(30) if i not in linked]
    assert unlinked and all(scores[30] > scores[i] for i in unlinked)


def test_content_profile_attends_to_recent_and_strong_actions():
    emb = _embeddings(30)
    rec = HybridRecommender(RecommenderConfig(weights={"pop": 0.0, "knn": 0.0, "transition": 0.0, "content": 1.0}))
    rec.fit(_planted(), emb)
    recent = rec.component_scores([(20, "purchase", 0.0), (25, "purchase", 1.0)])["content"]
    assert recent[25] > recent[20]
    strong = rec.component_scores([(20, "purchase", 0.0), (25, "view", 1.0)])["content"]
    assert strong[20] > strong[25]


def test_structured_attributes_pull_same_brand_items_together():
    emb = _embeddings(6, dim=8, seed=3)
    feats = build_item_features(["A > x", "A > x", "B", "B", "C", "C"], ["acme", "acme", "zed", "zed", "", ""],
                                prices=[1.0, 1.2, 50.0, 55.0, None, 9.0])
    assert feats.shape[0] == 6 and feats.nnz > 0
    with_attr = HybridRecommender(RecommenderConfig(attribute_weight=1.0)).fit([], emb, feats)
    no_attr = HybridRecommender(RecommenderConfig(attribute_weight=0.0)).fit([], emb, feats)
    one = np.array([0]), np.array([1.0], dtype=np.float32)
    cos_attr = with_attr.item_vectors.cosine(with_attr.item_vectors.profile(*one))
    cos_text = no_attr.item_vectors.cosine(no_attr.item_vectors.profile(*one))
    assert cos_attr[0] == pytest.approx(1.0) and cos_text[0] == pytest.approx(1.0)
    assert cos_attr[1] > cos_text[1] and cos_attr[2] < cos_attr[1]
    # The sparse fusion equals the cosine on the explicit concatenation.
    dense = np.hstack([emb, feats.toarray() / np.linalg.norm(feats.toarray(), axis=1, keepdims=True).clip(1e-12)])
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    assert np.allclose(cos_attr, dense @ dense[0], atol=1e-5)


def test_principal_projection_keeps_dot_products_of_low_rank_data():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((500, 8)) @ rng.standard_normal((8, 64))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    from assistant.recsys.recommend import project_principal
    p = project_principal(x, 8)
    assert p.shape == (500, 8) and np.allclose(p @ p[:5].T, x @ x[:5].T, atol=1e-4)


def test_bad_input_is_handled():
    rec = HybridRecommender().fit(_planted(), _embeddings(30))
    # Out-of-catalog indices in a history are ignored, bare indices count as purchases, k larger than the catalog.
    idx, _ = rec.recommend([(500, "view", 0.0), -3, None, (0, "like", 1.0), ("x",), 0], k=100)
    assert len(idx) == 30 and idx[0] == 1
    clean, rejects = rec.check_history([(500, "view", 0.0), -3, None, (0, "like", 1.0), ("x",), 0])
    assert clean == [(0, "purchase", 5.0)]
    assert [n for n, _ in rejects] == [0, 1, 2, 3, 4] and "outside the catalog" in rejects[0][1] and "like" in rejects[3][1]
    idx, _ = rec.recommend([(0, "purchase", 0.0)], k=5, exclude={0, 1, 999})
    assert 0 not in idx and 1 not in idx
    bought = rank_for_user(rec, rec.history_of("n0"), k=30, exclude=[i for i, t, _ in rec.history_of("n0") if t == "purchase"])[0]
    assert 0 not in bought and 1 not in bought


def test_tune_blend_improves_or_keeps_validation_ndcg():
    rec = HybridRecommender(RecommenderConfig(weights={"pop": 1.0, "knn": 1.0, "transition": 0.0, "content": 5.0}))
    rec.fit(_planted(), _embeddings(30))
    histories = [[(0, "purchase", 0.0)]] * 5 + [[(2, "purchase", 0.0)]] * 5
    targets = [1] * 5 + [3] * 5
    weights = rec.tune_blend(histories, targets)
    assert rec.tuned_ndcg == pytest.approx(1.0)
    assert weights["knn"] == 1.0 and set(weights) == {"pop", "knn", "user_knn", "transition", "content", "repeat"}
    pinned = rec.tune_blend(histories, targets, fixed={"repeat": 0.0, "pop": 0.5})
    assert pinned["repeat"] == 0.0 and pinned["pop"] == 0.5


def test_recommend_excludes_and_orders_best_first():
    rec = HybridRecommender().fit(_planted(), _embeddings(30))
    base = rec.score_all([(0, "purchase", 0.0)])
    idx, scores = rec.recommend([(0, "purchase", 0.0)], k=5, exclude={int(np.argmax(base))})
    assert int(np.argmax(base)) not in idx and np.all(np.diff(scores) <= 0) and len(idx) == 5


def test_user_knn_scores_items_of_similar_users():
    rec = HybridRecommender().fit(_planted(), _embeddings(30))
    parts = rec.component_scores([(2, "purchase", 0.0)])
    # Neighbours put 2 in the cart and bought 3: both score, the purchase more (event-type weights).
    assert parts["user_knn"].argmax() == 3 and parts["user_knn"][2] == pytest.approx(0.6)
    assert parts["user_knn"][0] == 0  # nobody who bought 2 bought 0


def test_sequence_model_learns_planted_transition_and_plugs_into_the_blend():
    from assistant.recsys.sequence import SequenceConfig, SequenceModel

    sequences = [[10 + u % 5, 0, 1] for u in range(40)] + [[10 + u % 5, 2, 3] for u in range(40)]
    emb = _embeddings(30)
    seq = SequenceModel(SequenceConfig(dim=16, max_epochs=12, batch_size=16, dropout=0.0, lr=2e-2, threads=1), emb)
    seq.fit(sequences, [[11, 0], [12, 2]], [1, 3])
    logits = seq.score_batch([[11, 0], [12, 2], []])
    assert logits.shape == (3, 30) and logits[0].argmax() == 1 and logits[1].argmax() == 3 and not logits[2].any()
    assert seq.best_epoch >= 1 and seq.ndcg([[11, 0]], [1]) == pytest.approx(1.0)
    events = [(f"u{n}", i, "purchase", float(t)) for n, s in enumerate(sequences) for t, i in enumerate(s)]
    rec = HybridRecommender().fit(events, emb, sequence_model=seq)
    parts = rec.component_scores([(11, "view", 0.0), (0, "purchase", 1.0)])
    assert parts["sequence"].argmax() == 1 and parts["sequence"].max() == pytest.approx(1.0)
