"""The sequence predictor: the next-item transformer learns an order the hybrid cannot see, its re-ranker trusts it,
it survives a save/load, the shop activates it only when it beat the hybrid on validation, and a shopper's ranking
(rank_for_user, and the chat Ranker) changes order because of it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.recsys.active import active_predictor_kind, load_active_predictor
from assistant.recsys.predictor import FEATURES_DIR, FeaturePredictor, rank_for_user, top_candidates
from assistant.recsys.recommend import HybridRecommender
from assistant.recsys.seq_predictor import SEQUENCE_DIR, SequencePredictor
from assistant.recsys.train_sequence import blended_metrics
from assistant.recsys.transformer import TransformerConfig, TransformerSeqModel

N_ITEMS = 60


def _chain(start: int, length: int) -> list[int]:
    """The planted order: after item i a shopper buys item (i + 7) % N_ITEMS."""
    return [(start + 7 * k) % N_ITEMS for k in range(length)]


def _chain_groups(rec, n: int) -> list[tuple]:
    """(history, the hybrid's top 50, 0/1 labels of the planted next item) for the chains starting at 0..n-1."""
    groups = []
    for s in range(n):
        chain = _chain(s, 4)
        hist = [(i, "purchase", float(t)) for t, i in enumerate(chain[:-1])]
        cands = top_candidates(rec.score_all(hist).astype(np.float64), 50)
        groups.append((hist, cands, (cands == chain[-1]).astype(np.int64)))
    return groups


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((N_ITEMS, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    # The hybrid sees random baskets (nothing of the planted order); the transformer sees the ordered sequences.
    seqs = [_chain(int(rng.integers(N_ITEMS)), 6) for _ in range(400)]
    events = [(f"u{u}", int(i), "purchase", float(t)) for u in range(400)
              for t, i in enumerate(rng.choice(N_ITEMS, size=6, replace=False))]
    rec = HybridRecommender().fit(events, emb)
    cfg = TransformerConfig(dim=32, n_layers=1, n_heads=2, max_len=8, dropout=0.1, max_epochs=40, eval_every=5,
                            patience=2, batch_size=64, lr=3e-3)
    valid = [_chain(int(rng.integers(N_ITEMS)), 4) for _ in range(100)]
    seq = TransformerSeqModel(cfg, emb).fit(seqs, [v[:-1] for v in valid], [v[-1] for v in valid])
    groups = []
    for v in valid + [_chain(int(rng.integers(N_ITEMS)), 4) for _ in range(200)]:
        hist = [(i, "purchase", float(t)) for t, i in enumerate(v[:-1])]
        cands = top_candidates(rec.score_all(hist).astype(np.float64), 50)
        groups.append((hist, cands, (cands == v[-1]).astype(np.int64), v[-1]))
    sp = SequencePredictor(seq, rec)
    fit = [g for g in groups if g[2].any()]
    sp.fit_features(np.vstack([sp.features(g[0], g[1]) for g in fit]), np.concatenate([g[2] for g in fit]))
    sp.alpha = 1.0
    return rec, emb, seq, sp


def test_the_transformer_learns_the_next_item(world):
    _, _, seq, _ = world
    assert seq.best_valid_ndcg > 0.8, seq.history
    assert int(np.argmax(seq.score_batch([_chain(5, 3)])[0])) == _chain(5, 4)[-1]
    assert seq.score_batch([[]])[0].tolist() == [0.0] * N_ITEMS  # no history: no opinion


def test_a_history_that_makes_one_item_likely_changes_the_shoppers_order(world):
    rec, _, _, sp = world
    for start in (3, 20):
        chain = _chain(start, 4)
        history = [(i, "purchase", float(t)) for t, i in enumerate(chain[:-1])]
        hybrid_only, _ = rank_for_user(rec, history, None, k=8)
        with_predictor, _ = rank_for_user(rec, history, sp, k=8, top_n=N_ITEMS)
        assert with_predictor[0] == chain[-1]  # what this shopper's sequence makes likely comes first
        assert hybrid_only.tolist() != with_predictor.tolist()


def test_the_chat_ranking_uses_the_predictor(world):
    from assistant.dialogue.constraints import Constraints
    from assistant.dialogue.context import TurnContext
    from assistant.ranking import Ranker
    from catalog.index import SearchHit
    from catalog.schema import Product

    rec, _, _, sp = world
    chain = _chain(11, 4)
    rec.id_to_index = {str(i): i for i in range(N_ITEMS)}
    for t, i in enumerate(chain[:-1]):
        rec.add_event("shopper", i, "purchase", float(t))
    hits = [SearchHit(Product(id=str(i), title=f"item {i}"), 0.5) for i in range(N_ITEMS)]  # equal query match
    ctx = TurnContext(constraints=Constraints(), intent_text="")
    plain = Ranker(None, rec, None)._rank_scores(hits, ctx, "shopper")
    ranked = Ranker(None, rec, sp)._rank_scores(hits, ctx, "shopper")
    assert int(np.argmax(ranked)) == chain[-1] and np.argsort(-plain).tolist() != np.argsort(-ranked).tolist()


def test_save_load_and_the_shop_activates_it_only_when_it_won_on_validation(world, tmp_path):
    rec, emb, _, sp = world
    h, c = [(i, "purchase", float(t)) for t, i in enumerate(_chain(2, 3))], np.arange(50)
    fp = FeaturePredictor(rec).fit([h] * 30, [c] * 30, [(c == _chain(2, 4)[-1]).astype(np.int64)] * 30)
    fp.meta.update(val_auc=0.9)
    fp.save(str(tmp_path / FEATURES_DIR))
    sp.meta.update(val_auc=0.8, val_ndcg10_hybrid=0.10, val_ndcg10_blend=0.09)
    sp.save(str(tmp_path / SEQUENCE_DIR))
    assert active_predictor_kind(str(tmp_path))[0] == "features"  # it lost to the hybrid on validation
    meta_path = tmp_path / SEQUENCE_DIR / "predictor.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(dict(meta, val_ndcg10_blend=0.12)))
    predictor, desc = load_active_predictor(str(tmp_path), rec)
    assert isinstance(predictor, SequencePredictor) and predictor.alpha == 1.0
    assert "sequence predictor" in desc and "val NDCG@10 0.1000 -> 0.1200" in desc
    assert np.allclose(predictor.score(h, c), sp.score(h, c))


def test_blended_metrics_orders_the_list_like_rerank_top():
    labels = np.zeros(50, dtype=np.int64)
    labels[30] = 1
    hybrid = -np.arange(50, dtype=np.float64)  # the list in hybrid order: the target is 31st
    group = (None, np.arange(50), labels, 30, hybrid)
    assert blended_metrics([group], [np.zeros(50)], 0.0)["ndcg@10"] == 0.0
    pred = np.zeros(50)
    pred[30] = 10.0
    assert blended_metrics([group], [pred], 1.0)["ndcg@10"] == pytest.approx(1.0)


def test_the_transformers_own_guesses_join_the_reranked_list(world):
    from assistant.recsys.predictor import rerank_candidates, rerank_top

    rec, _, _, sp = world
    chain = _chain(9, 4)
    history = [(i, "purchase", float(t)) for t, i in enumerate(chain[:-1])]
    scores = rec.score_all(history).astype(np.float64)
    scores[chain[-1]] = -np.inf  # excluded by the caller: never brought back
    top = top_candidates(scores, 10)
    cands = rerank_candidates(scores, history, sp, 10)
    assert cands[:10].tolist() == top.tolist() and len(cands) == 10 + sp.extra_candidates
    assert len(set(cands.tolist())) == len(cands) and np.isfinite(scores[cands]).all()
    logp = sp.log_probs([h[0] for h in history])
    assert logp[cands[10]] >= logp[cands[-1]]  # the additions come best first
    out = rerank_top(scores, history, sp, top_n=10, alpha=1.0)
    assert set(top_candidates(out, len(cands)).tolist()) == set(cands.tolist())  # the whole list is lifted on top
    assert sp.features(history, cands).shape == (len(cands), len(sp.feature_names()))


def test_a_predictor_saved_before_feature_set_2_loads_as_it_was_trained(world, tmp_path):
    import joblib

    rec, _, seq, _ = world
    old = SequencePredictor(seq, rec, feature_set=1)
    assert old.extra_candidates == 0 and old.bag == 1
    groups = _chain_groups(rec, 40)
    old.fit_features(np.vstack([old.features(g[0], g[1]) for g in groups]), np.concatenate([g[2] for g in groups]))
    out = tmp_path / SEQUENCE_DIR
    old.save(str(out))
    joblib.dump(old.model[0], out / "model.joblib")  # the old format: one classifier, no feature set in the meta
    meta = json.loads((out / "predictor.json").read_text())
    for key in ("feature_set", "extra_candidates", "bag"):
        meta.pop(key, None)
    (out / "predictor.json").write_text(json.dumps(meta))
    loaded = SequencePredictor.load(str(out), rec)
    assert loaded.feature_set == 1 and loaded.extra_candidates == 0
    h, c = groups[0][0], groups[0][1]
    assert np.array_equal(loaded.expand_candidates(h, c, rec.score_all(h)), c)
    assert np.allclose(loaded.score(h, c), old.score(h, c))


def test_a_rare_last_item_borrows_the_transitions_of_its_nearest_item_by_text(world):
    _, _, seq, _ = world
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((N_ITEMS, 16)).astype(np.float32)
    emb[1] = emb[0] + 0.01 * rng.standard_normal(16)  # item 1 reads like item 0 ...
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    events = [(f"u{u}", i, "purchase", float(t)) for u in range(30) for t, i in enumerate((0, 2))]  # 0 then 2
    events += [("once", 1, "purchase", 0.0)]  # ... but nobody bought anything after item 1
    rec = HybridRecommender().fit(events, emb)
    sp = SequencePredictor(seq, rec)
    cands = np.array([2, 3, 4])
    X = sp.features([(1, "purchase", 0.0)], cands)
    names = sp.feature_names()  # after features(): the component columns are known then
    assert X[:, names.index("transition_last_raw")].tolist() == [0.0, 0.0, 0.0]
    borrowed = X[:, names.index("text_transition_last")]
    assert borrowed[0] > 0 and borrowed[1:].tolist() == [0.0, 0.0]  # item 0's next purchase, through its text
    assert X[0, names.index("transition_indegree")] > X[1, names.index("transition_indegree")]
    assert np.isfinite(sp.features([], cands)).all()  # no history: defined features, nothing borrowed


def test_predictors_of_every_feature_set_score_as_they_were_saved(world, tmp_path):
    rec, _, seq, _ = world
    groups = _chain_groups(rec, 60)
    for feature_set in (2, 3):
        sp = SequencePredictor(seq, rec, feature_set=feature_set, bag=2)
        sp.fit_features(np.vstack([sp.features(g[0], g[1]) for g in groups]), np.concatenate([g[2] for g in groups]),
                        [len(g[2]) for g in groups])
        sp.save(str(tmp_path / f"set{feature_set}"))
        loaded = SequencePredictor.load(str(tmp_path / f"set{feature_set}"), rec)
        assert loaded.feature_set == feature_set and len(loaded.model) == 2
        h, c = groups[0][0], groups[0][1]
        assert np.allclose(loaded.score(h, c), sp.score(h, c))
        assert loaded.score(h, c).max() <= 0.0  # log-probabilities
        assert int(np.argmax(loaded.score(h, c))) == int(np.flatnonzero(c == _chain(0, 4)[-1])[0])
