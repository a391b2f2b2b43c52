"""Purchase predictors that re-rank the hybrid recommender's top 50: a fast feature model (gradient boosting over
recommender scores, similarity, price, popularity, recency; trains in seconds) and a fine-tuned MiniLM cross-encoder
over (shopper context, candidate item) text pairs. Both implement the `Predictor` protocol.

Pure predictor order often loses to the hybrid's, so the final order over the top 50 is a blend
`alpha * z(predictor) + (1 - alpha) * z(hybrid)` with alpha tuned on validation (`rerank_top`, the one re-ranking
every caller uses); items below the top 50 keep their order underneath.

    predictor, description = load_active_predictor("runs/predictor-Scientific", recommender, item_meta)  # active.py
    order = rerank_top(recommender.score_all(history), history, predictor, top_n=50, alpha=predictor.alpha)
    items, scores = rank_for_user(recommender, history, predictor, k=8)       # what a shopper is recommended
"""
from __future__ import annotations

import json
import os
import time
from typing import Protocol, Sequence

import numpy as np

from assistant.recsys.recommend import COMPONENTS, HistoryItem, HybridRecommender

FEATURES_DIR, CROSS_ENCODER_DIR, META_FILE = "features", "cross_encoder", "predictor.json"
MIN_POSITIVES = 20  # fewer next purchases than this cannot train (or early-stop) a model worth serving


class Predictor(Protocol):
    """Scores a shopper's purchase likelihood for candidate items; `alpha` is its blend with the hybrid, tuned on
    validation; `meta` says what it is (kind, validation AUC, when it was trained)."""

    kind: str
    alpha: float
    meta: dict

    def score(self, user_history: Sequence[HistoryItem], candidate_item_indices: np.ndarray) -> np.ndarray: ...


def _items(history: Sequence) -> list[int]:
    """Item indices of a history given as (item, type, ts) tuples or bare indices, oldest first."""
    return [int(h) if np.isscalar(h) else int(h[0]) for h in history or ()]


def zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    sd = float(x.std()) if x.size else 0.0
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)


def rerank_top(scores: np.ndarray, history: Sequence, predictor, top_n: int = 50, alpha: float = 1.0,
               predictor_scores: np.ndarray | None = None) -> np.ndarray:
    """Scores over all items where the hybrid's top_n are re-ordered by alpha * z(predictor) + (1 - alpha) *
    z(hybrid) (ties by the hybrid) and lifted above every other item; the others keep their hybrid scores. A
    predictor with `expand_candidates(history, top, scores)` may add items to the re-ordered list (see
    rerank_candidates). predictor_scores (for rerank_candidates' list, in its order) skips the predictor call when the
    caller already has them."""
    scores = np.asarray(scores, dtype=np.float64).copy()
    n = min(top_n, int(np.isfinite(scores).sum()))
    if n == 0:
        return scores
    top = rerank_candidates(scores, history, predictor, n)
    pred = predictor.score(history, top) if predictor_scores is None else predictor_scores
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape != top.shape or not np.all(np.isfinite(pred)):
        raise ValueError(f"predictor returned {pred.shape} scores for {top.shape} candidates (or non-finite ones)")
    hybrid = zscore(scores[top])
    # Ties in the predictor (a shopper it knows little about can get one score for every candidate) keep the
    # hybrid's order, even at alpha 1: 1e-6 of a standard deviation reorders nothing else.
    blended = alpha * zscore(pred) + (1.0 - alpha) * hybrid + 1e-6 * hybrid
    rest = np.delete(scores, top)
    rest_max = float(rest.max()) if rest.size and np.isfinite(rest.max()) else 0.0
    scores[top] = rest_max + 1.0 + (blended - blended.min())
    return scores


def rerank_candidates(scores: np.ndarray, history: Sequence, predictor, top_n: int = 50) -> np.ndarray:
    """The list rerank_top re-orders: the hybrid's top_n (best first), then any items the predictor adds itself
    (`expand_candidates(history, top, scores)`, e.g. the sequence predictor's own best guesses)."""
    top = top_candidates(scores, min(top_n, int(np.isfinite(scores).sum())))
    expand = getattr(predictor, "expand_candidates", None)
    return top if expand is None or not len(top) else np.asarray(expand(history, top, scores), dtype=np.int64)


def fit_purchase_classifier(X: np.ndarray, y: np.ndarray, who: str, started: float, **params):
    """(gradient-boosted purchase classifier with early stopping, its meta) for feature rows X and 0/1 labels y;
    ValueError when the behaviour is too thin to learn from. `params` go to HistGradientBoostingClassifier;
    `started` (perf_counter) dates fit_s from the caller's feature computation."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    y = _checked_labels(y, who)
    model = HistGradientBoostingClassifier(early_stopping=True, **params).fit(X, y)
    return model, _fit_meta(y, started)


def fit_subsampled_classifier(X: np.ndarray, y: np.ndarray, sizes: Sequence[int] | None, who: str, started: float,
                              seed: int = 0, held_out: float = 0.15, **params):
    """(LightGBM purchase classifier, its meta): as fit_purchase_classifier, but each tree sees 80% of the rows and
    of the features (on Amazon Scientific validation this bagging gained ~0.001 NDCG@10 over sklearn's trees, which
    cannot subsample rows). sizes: rows per shopper, in order; early stopping holds out whole shoppers, so one
    shopper's candidates never sit on both sides. No early stopping when the held-out part has no purchase."""
    import lightgbm as lgb

    y = _checked_labels(y, who)
    sizes = np.asarray(sizes if sizes is not None else np.ones(len(y), dtype=np.int64), dtype=np.int64)
    if sizes.sum() != len(y):
        raise ValueError(f"sizes add up to {int(sizes.sum())} rows, the features have {len(y)}")
    held = np.repeat(np.random.default_rng(seed).random(len(sizes)) < held_out, sizes)
    p = dict(objective="binary", n_estimators=300, learning_rate=0.05, num_leaves=15, min_child_samples=50,
             reg_lambda=1.0, subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed, verbose=-1)
    p.update(params)
    model = lgb.LGBMClassifier(**p)
    if y[held].any() and len(np.unique(y[~held])) == 2:
        model.fit(X[~held], y[~held], eval_X=(X[held],), eval_y=(y[held],),
                  callbacks=[lgb.early_stopping(30, verbose=False)])
    else:
        model.fit(X, y)
    return model, _fit_meta(y, started)


def _checked_labels(y: np.ndarray, who: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.int64)
    if len(np.unique(y)) < 2 or y.sum() < MIN_POSITIVES:
        raise ValueError(f"too little behaviour to learn from: {int(y.sum())} next purchases among the candidates "
                         f"(the {who} needs at least {MIN_POSITIVES})")
    return y


def _fit_meta(y: np.ndarray, started: float) -> dict:
    return {"n_train_rows": int(len(y)), "n_positive": int(y.sum()),
            "fit_s": round(time.perf_counter() - started, 2), "trained_at": time.strftime("%Y-%m-%d %H:%M")}


def top_candidates(scores: np.ndarray, n: int = 50) -> np.ndarray:
    """The n best item indices, best first (ties by index, so the order is deterministic)."""
    n = min(n, scores.size)
    top = np.argpartition(-scores, n - 1)[:n] if n < scores.size else np.arange(scores.size)
    return top[np.lexsort((top, -scores[top]))]


def rank_for_user(recommender: HybridRecommender, history: Sequence[HistoryItem], predictor: Predictor | None = None,
                  k: int = 8, exclude: Sequence[int] = (), top_n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """A shopper's top k (item indices, scores): the hybrid's scores without the excluded items, the predictor's
    blend over the top when one is active and the shopper has a history (cold start stays popularity)."""
    scores = recommender.score_all(history).astype(np.float64)
    if len(exclude):
        scores[np.asarray(list(exclude), dtype=np.int64)] = -np.inf
    if predictor is not None and history:
        scores = rerank_top(scores, history, predictor, top_n=max(top_n, k), alpha=predictor.alpha)
    top = top_candidates(scores, min(k, int(np.isfinite(scores).sum())))
    return top, scores[top]


# ----------------------------------------------------------------------------- fast feature model

class FeaturePredictor:
    """Gradient boosting over per-candidate features computed from the fitted recommender and item metadata."""

    kind = "features"

    def __init__(self, recommender: HybridRecommender | None = None, item_meta=None, max_iter: int = 200, seed: int = 0):
        self.recommender, self.item_meta = recommender, item_meta
        self.max_iter, self.seed = max_iter, seed
        self.model = None
        self.components: list[str] = []
        self.meta: dict = {"kind": self.kind}
        self.alpha = 1.0

    def attach(self, recommender: HybridRecommender, item_meta=None) -> FeaturePredictor:
        """Scoring reads the live recommender (its component scores) and catalog metadata; neither is pickled."""
        self.recommender, self.item_meta = recommender, item_meta
        return self

    def feature_names(self) -> list[str]:
        return ([f"score_{c}" for c in self.components] +
                ["blend", "blend_rank", "blend_gap", "cos_last", "cos_last3", "popularity", "in_history", "is_last",
                 "price", "price_known", "log_price_gap", "price_gap_known", "same_brand_last", "same_category_last"])

    def features(self, history: Sequence, candidates: np.ndarray) -> np.ndarray:
        rec = self.recommender
        if rec is None:
            raise RuntimeError("FeaturePredictor has no recommender attached: call attach(recommender, item_meta)")
        if not self.components:
            self.components = [c for c in COMPONENTS if c != "sequence" or rec.sequence_model is not None]
        cand = np.asarray(candidates, dtype=np.int64)
        parts = rec.component_scores(history)
        w = rec.config.weights
        items = _items(rec.check_history(history)[0])
        if items:  # the same weighted sum score_all makes, without computing every component twice
            blend = sum(w.get(c, 0.0) * parts[c] for c in COMPONENTS if c in parts)
        else:
            blend = rec.score_all(history)
        cols = [parts[c][cand] if c in parts else np.zeros(len(cand)) for c in self.components]
        b = np.asarray(blend, dtype=np.float64)[cand]
        rank = np.empty(len(cand))
        rank[np.lexsort((cand, -b))] = np.arange(len(cand))
        vec = rec.text_vectors
        if items:
            cos_last = vec[cand] @ vec[items[-1]]
            cos_last3 = vec[cand] @ vec[items[-3:]].mean(axis=0)
        else:
            cos_last = cos_last3 = np.zeros(len(cand))
        hist_set = set(items)
        in_hist = np.array([c in hist_set for c in cand], dtype=np.float64)
        is_last = (cand == items[-1]).astype(np.float64) if items else np.zeros(len(cand))
        price = price_known = gap = gap_known = same_brand = same_cat = np.zeros(len(cand))
        meta = self.item_meta
        if meta is not None and getattr(meta, "prices", None) is not None and len(meta.prices):
            p = np.asarray(meta.prices, dtype=np.float64)[cand]
            price_known = np.isfinite(p) & (p > 0)
            price = np.where(price_known, p, 0.0)
            hp = np.asarray(meta.prices, dtype=np.float64)[items] if items else np.array([])
            hp = hp[np.isfinite(hp) & (hp > 0)]
            if hp.size:
                gap_known = price_known.astype(np.float64)
                gap = np.where(price_known, np.abs(np.log(np.where(price_known, p, 1.0)) - np.log(hp.mean())), 0.0)
            price_known = price_known.astype(np.float64)
        if meta is not None and items:
            last = items[-1]
            if meta.brands and meta.brands[last]:
                same_brand = np.array([meta.brands[c] == meta.brands[last] for c in cand], dtype=np.float64)
            if meta.categories and meta.categories[last]:
                same_cat = np.array([meta.categories[c] == meta.categories[last] for c in cand], dtype=np.float64)
        cols += [b, rank, b - b.max(), cos_last, cos_last3, rec.popularity[cand], in_hist, is_last,
                 price, price_known, gap, gap_known, same_brand, same_cat]
        return np.column_stack([np.asarray(c, dtype=np.float64) for c in cols])

    def fit(self, histories: Sequence[Sequence], candidate_lists: Sequence[np.ndarray],
            label_lists: Sequence[np.ndarray]) -> FeaturePredictor:
        t = time.perf_counter()
        X = np.vstack([self.features(h, c) for h, c in zip(histories, candidate_lists)])
        y = np.concatenate([np.asarray(labels, dtype=np.int64) for labels in label_lists])
        # Early stopping on an internal 10% split keeps it to seconds on a few hundred thousand rows.
        self.model, fitted = fit_purchase_classifier(X, y, "feature predictor", t, random_state=self.seed,
                                                     max_iter=self.max_iter, learning_rate=0.1, max_leaf_nodes=31,
                                                     validation_fraction=0.1)
        self.meta.update(fitted)
        return self

    def score(self, user_history: list, candidate_item_indices: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("FeaturePredictor is not fitted")
        from threadpoolctl import threadpool_limits

        X = self.features(user_history, candidate_item_indices)
        # 50 rows: OpenMP start-up costs ~100x the work on a busy machine (measured 98 ms vs 0.3 ms single-threaded).
        with threadpool_limits(1):
            return self.model.predict_proba(X)[:, 1]

    def save(self, out_dir: str) -> None:
        import joblib

        os.makedirs(out_dir, exist_ok=True)
        joblib.dump(self.model, os.path.join(out_dir, "model.joblib"))
        meta = dict(self.meta, kind=self.kind, components=self.components, features=self.feature_names(), alpha=self.alpha)
        with open(os.path.join(out_dir, META_FILE), "w") as f:
            json.dump(meta, f, indent=2)

    @classmethod
    def load(cls, out_dir: str, recommender: HybridRecommender | None = None, item_meta=None) -> FeaturePredictor:
        import joblib

        with open(os.path.join(out_dir, META_FILE)) as f:
            meta = json.load(f)
        p = cls(recommender, item_meta)
        p.model = joblib.load(os.path.join(out_dir, "model.joblib"))
        p.components, p.alpha, p.meta = list(meta["components"]), float(meta.get("alpha", 1.0)), meta
        return p


# ----------------------------------------------------------------------------- cross-encoder

def context_text(titles: Sequence[str], history: Sequence, intent: str = "", n_recent: int = 5) -> str:
    """What the cross-encoder reads about the shopper: the last n_recent item titles, most recent first."""
    items = _items(history)[-n_recent:][::-1]
    return "recent: " + " ; ".join(titles[i] for i in items) + " | intent: " + (intent or "")


class CrossEncoderPredictor:
    """A BERT-family sequence classifier (2 classes: not purchased / purchased) over (context, candidate text)."""

    kind = "cross-encoder"

    def __init__(self, model, tokenizer, item_text: Sequence[str] | None = None, titles: Sequence[str] | None = None,
                 max_length: int = 128, batch_size: int = 64, device: str | None = None, meta: dict | None = None):
        import torch

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # bf16 halves memory traffic on GPUs; CPU bf16 matmuls are slow on most CPUs, so CPU stays fp32.
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.model = model.to(self.device, dtype=dtype).eval()
        self.tokenizer = tokenizer
        self.item_text, self.titles = item_text, titles
        self.max_length, self.batch_size = max_length, batch_size
        self.meta = dict(meta or {}, kind=self.kind)  # describe() reads the kind before the first save
        self.alpha = float(self.meta.get("alpha", 1.0))

    def attach(self, item_text: Sequence[str], titles: Sequence[str] | None = None) -> CrossEncoderPredictor:
        self.item_text, self.titles = list(item_text), list(titles) if titles is not None else list(item_text)
        return self

    def pair_logits(self, contexts: Sequence[str], candidates: Sequence[str]) -> np.ndarray:
        """Log-odds of purchase, logit[1] - logit[0], for each (context, candidate) pair."""
        import torch

        out = []
        with torch.inference_mode():
            for s in range(0, len(contexts), self.batch_size):
                enc = self.tokenizer(list(contexts[s:s + self.batch_size]), list(candidates[s:s + self.batch_size]),
                                     truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
                logits = self.model(**{k: v.to(self.device) for k, v in enc.items()}).logits.float()
                out.append((logits[:, 1] - logits[:, 0]).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def score(self, user_history: list, candidate_item_indices: np.ndarray, intent: str = "") -> np.ndarray:
        if self.item_text is None:
            raise RuntimeError("CrossEncoderPredictor has no item texts: call attach(item_text, titles)")
        cand = [int(c) for c in candidate_item_indices]
        ctx = context_text(self.titles or self.item_text, user_history, intent)
        return self.pair_logits([ctx] * len(cand), [self.item_text[c] for c in cand]).astype(np.float64)

    def save(self, out_dir: str) -> None:
        os.makedirs(out_dir, exist_ok=True)
        self.model.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        with open(os.path.join(out_dir, META_FILE), "w") as f:
            json.dump(dict(self.meta, kind=self.kind, max_length=self.max_length, alpha=self.alpha), f, indent=2)

    @classmethod
    def load(cls, out_dir: str, item_text: Sequence[str] | None = None, titles: Sequence[str] | None = None,
             device: str | None = None, batch_size: int = 64) -> CrossEncoderPredictor:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        with open(os.path.join(out_dir, META_FILE)) as f:
            meta = json.load(f)
        model = AutoModelForSequenceClassification.from_pretrained(out_dir)
        tokenizer = AutoTokenizer.from_pretrained(out_dir)
        return cls(model, tokenizer, item_text, titles, int(meta.get("max_length", 128)), batch_size, device, meta)


# ----------------------------------------------------------------------------- which one is active

def describe(meta: dict) -> str:
    """One line for the app: which predictor, trained when, how good on validation."""
    bits = [f"checkpoint {meta['trained_at'][:10]}"] if meta.get("trained_at") else []
    if meta.get("val_auc") is not None:
        bits.append(f"val AUC {meta['val_auc']:.2f}")
    if meta.get("alpha") is not None:
        bits.append(f"blend alpha {meta['alpha']:g}")
    if meta.get("kind") == "cross-encoder":
        name = f"fine-tuned cross-encoder ({meta.get('base_model_name', 'BERT')}"
    elif meta.get("kind") == "sequence":
        name = "sequence predictor (next-item transformer over MiniLM item embeddings + gradient-boosted re-ranker"
        if meta.get("val_ndcg10_blend") is not None and meta.get("val_ndcg10_hybrid") is not None:
            bits.append(f"val NDCG@10 {meta['val_ndcg10_hybrid']:.4f} -> {meta['val_ndcg10_blend']:.4f}")
    else:
        name = "fast feature model (gradient boosting over recommender scores"
    return name + "".join(", " + b for b in bits) + ")"
