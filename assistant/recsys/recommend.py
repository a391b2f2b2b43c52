"""Hybrid recommender over integer item indices 0..n_items-1: popularity, item-to-item CF, a next-item transition
component and content (attention-pooled item embeddings), blended with weights tuned on a validation split.

A history is a list of (item_index, event_type, timestamp) tuples, oldest first. Event types weight every part
(purchase > add_to_cart > click > view); position in the history gives recency (the last item counts most), so
data with order but no real timestamps works the same. Nothing is retrained when a user acts: `add_event` appends
to that user's state and the next `score_all(history_of(user))` scores the new history directly.

    rec = HybridRecommender(RecommenderConfig()).fit(interactions, item_embeddings, item_features)
    rec.tune_blend(valid_histories, valid_targets)        # coordinate ascent on NDCG@10
    idx, scores = rec.recommend([(12, "purchase", t0), (40, "view", t1)], k=10)
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import scipy.sparse as sp

EVENT_WEIGHTS = {"purchase": 1.0, "add_to_cart": 0.6, "click": 0.3, "view": 0.1}
COMPONENTS = ("pop", "knn", "user_knn", "transition", "content", "repeat", "sequence")  # "sequence" only when a sequence model is set

HistoryItem = tuple  # (item_index, event_type, timestamp)


@dataclass
class RecommenderConfig:
    knn_neighbours: int = 100  # similar items kept per item; keeps scoring sparse and fast on big catalogs
    knn_shrink: float = 50.0  # added to the cosine denominator so pairs seen once do not look perfectly similar
    knn_history_decay: float = 0.8  # an item j steps before the last one counts decay**j in item-CF scoring
    user_knn_neighbours: int = 100  # most similar users whose items are scored (session-kNN)
    user_knn_history_decay: float = 0.8  # history weights when matching users: recent items define the neighbours
    transition_window: int = 3  # "a then b" pairs are counted up to this many steps apart in training sequences
    transition_gap_decay: float = 0.4  # a pair g steps apart counts gap_decay**(g-1)
    transition_history_decay: float = 0.3  # transition scores from older history items fade faster: last item rules
    transition_backward: float = 0.3  # weight of "b then a" pairs: co-bought items follow each other both ways
    content_recency: float = 0.3  # attention logit drops by this per step back in the history
    content_temperature: float = 0.5  # softmax temperature of the attention over history items
    content_power: float = 3.0  # content scores are sharpened (cos+1)/2 ** power so near-duplicates stand out
    attribute_weight: float = 0.3  # scale of the structured attribute block (category/brand/price band) vs text
    content_dim: int | None = 128  # text vectors are projected to this many principal directions: scoring a
    # 100k-item catalog is one matrix-vector product, memory-bound, and 384 dims would cost 3x as much
    pop_half_life: float | None = None  # popularity recency half-life in timestamp units; None counts all alike
    weights: dict[str, float] = field(default_factory=lambda: {"pop": 0.05, "knn": 1.0, "transition": 1.0, "content": 0.5, "sequence": 0.5,
                                                                   "user_knn": 0.5, "repeat": 0.0})
    sequence_temperature: float = 3.0  # sequence-model logits become exp((logit - max) / T): a peaked [0, 1] score
    intent_weight: float = 1.0  # weight of the intent-vector (session/query) similarity when one is given
    cold_start_pop_weight: float = 0.2  # empty history + intent: popularity only breaks near-ties in intent match


def _normalise_max(x: np.ndarray) -> np.ndarray:
    m = float(x.max()) if x.size else 0.0
    return x / m if m > 0 else x


class FusedItemVectors:
    """Item vectors = [text embedding, attribute_weight * one-hot attributes] / norm, kept as a dense text part and
    a sparse attribute part: the dot product is the same as on the concatenation, but a 100k-item catalog with
    thousands of brands never becomes a dense 100k x thousands matrix."""

    def __init__(self, text: np.ndarray, item_features: np.ndarray | sp.spmatrix | None, attribute_weight: float):
        self.text = np.ascontiguousarray(text, dtype=np.float32)
        if item_features is None or attribute_weight <= 0:
            self.attrs = None
            sq = np.zeros(len(text), dtype=np.float32)
        else:
            feats = sp.csr_matrix(item_features, dtype=np.float32)
            norms = np.sqrt(np.asarray(feats.multiply(feats).sum(axis=1)).ravel())
            self.attrs = (sp.diags(attribute_weight / np.maximum(norms, 1e-12)) @ feats).astype(np.float32).tocsr()
            sq = np.asarray(self.attrs.multiply(self.attrs).sum(axis=1)).ravel().astype(np.float32)
        text_sq = np.einsum("ij,ij->i", self.text, self.text)
        self.inv_norm = (1.0 / np.sqrt(np.maximum(text_sq + sq, 1e-12))).astype(np.float32)

    def profile(self, items: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Weighted sum of the (normalised, fused) vectors of `items`, as (text part, attribute part)."""
        w = (weights * self.inv_norm[items]).astype(np.float32)
        t = w @ self.text[items]
        a = None if self.attrs is None else np.asarray(self.attrs[items].T @ w).ravel()
        return t, a

    def cosine(self, profile: tuple[np.ndarray, np.ndarray | None]) -> np.ndarray:
        t, a = profile
        norm = float(np.sqrt(t @ t + (a @ a if a is not None else 0.0)))
        dots = self.text @ t
        if a is not None:
            dots += self.attrs @ a
        return dots * (self.inv_norm / max(norm, 1e-12))


def project_principal(vectors: np.ndarray, dim: int | None, max_rows: int = 50000, seed: int = 0) -> np.ndarray:
    """Project rows onto their top `dim` (uncentred) principal directions and renormalise: dot products, which
    are all the content part uses, are kept as well as `dim` directions allow. Uses the eigenvectors of the
    d x d Gram matrix (LAPACK SVD of a tall matrix is far slower on a busy 2-core box)."""
    if dim is None or vectors.shape[1] <= dim or vectors.shape[0] <= dim:
        return vectors
    rng = np.random.default_rng(seed)
    sample = vectors[rng.choice(len(vectors), size=min(max_rows, len(vectors)), replace=False)].astype(np.float64)
    _, eigvecs = np.linalg.eigh(sample.T @ sample)  # ascending eigenvalues
    basis = eigvecs[:, ::-1][:, :dim].astype(np.float32)
    projected = vectors @ basis
    return np.ascontiguousarray(projected / np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-12))


def _sharpen(cos: np.ndarray, power: float) -> np.ndarray:
    """((cos + 1) / 2) ** power in [0, 1]; integer powers by repeated multiplication (float pow is slow)."""
    x = np.clip((cos + 1.0) * 0.5, 0.0, 1.0).astype(np.float32)
    if float(power).is_integer() and 0 < power <= 8:
        out = x.copy()
        for _ in range(int(power) - 1):
            out *= x
        return out
    return x ** np.float32(power)


def _top_k_rows(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of every row (the diagonal already removed)."""
    m = m.tocsr()
    rows, cols, vals = [], [], []
    for i in range(m.shape[0]):
        start, end = m.indptr[i], m.indptr[i + 1]
        if end == start:
            continue
        v, c = m.data[start:end], m.indices[start:end]
        if end - start > k:
            keep = np.argpartition(-v, k - 1)[:k]
            v, c = v[keep], c[keep]
        rows.append(np.full(len(c), i, dtype=np.int32))
        cols.append(c)
        vals.append(v)
    if not rows:
        return sp.csr_matrix(m.shape, dtype=np.float32)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=m.shape, dtype=np.float32)


class HybridRecommender:
    def __init__(self, config: RecommenderConfig | None = None):
        self.config = config or RecommenderConfig()
        self.n_items = 0
        self.user_histories: dict[str, list[HistoryItem]] = defaultdict(list)
        self.sequence_model = None
        self.id_to_index: dict[str, int] = {}
        self.index_to_id: list[str] = []

    # ---------------------------------------------------------------- training
    def fit(
        self,
        interactions: Sequence[tuple[str, int, str, float]],
        item_embeddings: np.ndarray,
        item_features: np.ndarray | sp.spmatrix | None = None,
        item_ids: Sequence[str] | None = None,
        sequence_model: object | None = None,
    ) -> HybridRecommender:
        """interactions: (user_id, item_index, event_type, timestamp). item_embeddings: (n_items, d), L2-normalised;
        its row count defines the catalog, so items without any event are still scored by content.
        sequence_model: optional trained next-item model with score_batch(histories) -> (B, n_items) logits."""
        cfg = self.config
        self.sequence_model = sequence_model
        self.n_items = int(item_embeddings.shape[0])
        self.index_to_id = list(item_ids) if item_ids is not None else [str(i) for i in range(self.n_items)]
        self.id_to_index = {item_id: i for i, item_id in enumerate(self.index_to_id)}
        self.text_vectors = np.asarray(item_embeddings, dtype=np.float32)
        self.item_vectors = FusedItemVectors(project_principal(self.text_vectors, cfg.content_dim), item_features, cfg.attribute_weight)

        self.user_histories = defaultdict(list)
        for user, item, etype, ts in interactions:
            if 0 <= int(item) < self.n_items:
                self.user_histories[str(user)].append((int(item), etype, float(ts)))
        for hist in self.user_histories.values():
            hist.sort(key=lambda e: e[2])  # stable: equal timestamps keep insertion (sequence) order
        self._fit_popularity()
        self._fit_item_cf()
        self._fit_transitions()
        return self

    def _fit_popularity(self) -> None:
        """Type-weighted counts, optionally decayed with age so what sells now ranks first."""
        cfg = self.config
        t_max = max((h[-1][2] for h in self.user_histories.values() if h), default=0.0)
        pop = np.zeros(self.n_items, dtype=np.float64)
        for hist in self.user_histories.values():
            for item, etype, ts in hist:
                w = EVENT_WEIGHTS.get(etype, 1.0)
                if cfg.pop_half_life:
                    w *= 0.5 ** ((t_max - ts) / cfg.pop_half_life)
                pop[item] += w
        self.popularity = _normalise_max(np.log1p(pop)).astype(np.float32)

    def _fit_item_cf(self) -> None:
        """Item CF: cosine between item columns of the user x item matrix (strongest event per user-item pair),
        and the same matrix for neighbour users (session-kNN: whose whole history overlaps, lengths normalised)."""
        cfg = self.config
        user_pos = {u: n for n, u in enumerate(self.user_histories)}
        r, c, v = [], [], []
        for u, hist in self.user_histories.items():
            best: dict[int, float] = {}
            for item, etype, _ in hist:
                best[item] = max(best.get(item, 0.0), EVENT_WEIGHTS.get(etype, 1.0))
            for item, w in best.items():
                r.append(user_pos[u])
                c.append(item)
                v.append(w)
        ui = sp.csr_matrix((np.array(v, np.float32), (np.array(r, np.int64), np.array(c, np.int64))),
                           shape=(len(user_pos), self.n_items))
        co = (ui.T @ ui).tocsr()
        norms = np.sqrt(co.diagonal()).astype(np.float32)
        co.setdiag(0.0)
        co.eliminate_zeros()
        co = co.tocoo()
        denom = norms[co.row] * norms[co.col] + cfg.knn_shrink
        sim = sp.csr_matrix((co.data / denom, (co.row, co.col)), shape=co.shape, dtype=np.float32)
        self.knn = _top_k_rows(sim, cfg.knn_neighbours)
        self.user_items = ui.tocsr()
        self.item_users = ui.T.tocsr()
        user_len = np.asarray((ui > 0).sum(axis=1)).ravel().astype(np.float32)
        self.user_norm = 1.0 / np.sqrt(np.maximum(user_len, 1.0))

    def _fit_transitions(self) -> None:
        """"a then b" within a short window of each sequence, plus weaker "b then a"; row-normalised so a frequent
        item does not drown the others."""
        cfg = self.config
        tr, tc, tv = [], [], []
        for hist in self.user_histories.values():
            items = [e[0] for e in hist]
            for a in range(len(items)):
                for g in range(1, cfg.transition_window + 1):
                    b = a + g
                    if b >= len(items) or items[a] == items[b]:
                        continue
                    w = cfg.transition_gap_decay ** (g - 1) * EVENT_WEIGHTS.get(hist[b][1], 1.0)
                    tr += [items[a], items[b]]
                    tc += [items[b], items[a]]
                    tv += [w, w * cfg.transition_backward]
        trans = sp.csr_matrix((np.array(tv, np.float32), (np.array(tr, np.int64), np.array(tc, np.int64))),
                              shape=(self.n_items, self.n_items))
        out = np.asarray(trans.sum(axis=1)).ravel()
        self.transition = _top_k_rows(sp.diags(1.0 / (out + 1.0)).astype(np.float32) @ trans, cfg.knn_neighbours)

    # ---------------------------------------------------------------- scoring
    def _sparse_scores(self, matrix: sp.csr_matrix, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
        scores = np.zeros(self.n_items, dtype=np.float32)
        for item, w in zip(items, weights):
            s, e = matrix.indptr[item], matrix.indptr[item + 1]
            scores[matrix.indices[s:e]] += w * matrix.data[s:e]
        return scores

    def check_history(self, history: Sequence) -> tuple[list[HistoryItem], list[tuple[int, str]]]:
        """Split a history into usable (item, type, ts) entries and rejected ones as (position, reason). Accepts
        tuples or bare item indices (counted as purchases in order). Scoring uses the clean part; callers that
        take input from outside report the rejects instead of dropping them silently."""
        clean, rejects = [], []
        for n, h in enumerate(history or ()):
            try:
                if np.isscalar(h):
                    item, etype, ts = h, "purchase", float(n)
                else:
                    item, etype, ts = h[0], (h[1] if len(h) > 1 else "purchase"), (h[2] if len(h) > 2 else float(n))
                item, ts = int(item), float(ts)
            except (TypeError, ValueError, IndexError) as e:
                rejects.append((n, f"malformed history entry {h!r}: {e}"))
                continue
            if not 0 <= item < self.n_items:
                rejects.append((n, f"item index {item} is outside the catalog (0..{self.n_items - 1})"))
            elif etype not in EVENT_WEIGHTS:
                rejects.append((n, f"unknown event type {etype!r}"))
            elif not math.isfinite(ts):
                rejects.append((n, f"timestamp {ts!r} is not finite"))
            else:
                clean.append((item, etype, ts))
        return clean, rejects

    def _user_knn_scores(self, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
        n_users = self.user_items.shape[0]
        if n_users == 0:
            return np.zeros(self.n_items, dtype=np.float32)
        sims = np.zeros(n_users, dtype=np.float32)
        for item, w in zip(items, weights):
            s, e = self.item_users.indptr[item], self.item_users.indptr[item + 1]
            sims[self.item_users.indices[s:e]] += w
        sims *= self.user_norm
        k = min(self.config.user_knn_neighbours, n_users)
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[sims[top] > 0]
        if top.size == 0:
            return np.zeros(self.n_items, dtype=np.float32)
        scores = np.asarray(self.user_items[top].T @ sims[top]).ravel().astype(np.float32)
        return _normalise_max(scores)

    def _clean(self, history: Sequence) -> list[HistoryItem]:
        return self.check_history(history)[0]

    def component_scores(self, history: Sequence, intent_vector: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Each part's scores over all items, each scaled to max 1 (content: sharpened cosine in [0, 1])."""
        cfg = self.config
        hist = self._clean(history)
        out = {"pop": self.popularity}
        if not hist:
            zeros = np.zeros(self.n_items, dtype=np.float32)
            out.update(knn=zeros, user_knn=zeros, transition=zeros, content=zeros, repeat=zeros)
            if self.sequence_model is not None:
                out["sequence"] = zeros
        else:
            items = np.array([h[0] for h in hist], dtype=np.int64)
            type_w = np.array([EVENT_WEIGHTS.get(h[1], 1.0) for h in hist], dtype=np.float32)
            steps_back = np.arange(len(hist) - 1, -1, -1, dtype=np.float32)
            out["knn"] = _normalise_max(self._sparse_scores(self.knn, items, type_w * cfg.knn_history_decay ** steps_back))
            out["user_knn"] = self._user_knn_scores(items, type_w * cfg.user_knn_history_decay ** steps_back)
            # Items already in the history: the blend learns on validation whether shoppers come back to them.
            repeat = np.zeros(self.n_items, dtype=np.float32)
            np.maximum.at(repeat, items, cfg.knn_history_decay ** steps_back)
            out["repeat"] = repeat
            out["transition"] = _normalise_max(self._sparse_scores(self.transition, items, type_w * cfg.transition_history_decay ** steps_back))
            # Attention over history items: recency and action type set the logits, a softmax pools the vectors.
            logits = (np.log(type_w) - cfg.content_recency * steps_back) / cfg.content_temperature
            att = np.exp(logits - logits.max())
            cos = self.item_vectors.cosine(self.item_vectors.profile(items, att / att.sum()))
            out["content"] = _sharpen(cos, cfg.content_power)
            if self.sequence_model is not None:
                logits = self.sequence_model.score_batch([[h[0] for h in hist]])[0]
                out["sequence"] = np.exp((logits - logits.max()) / cfg.sequence_temperature).astype(np.float32)
        if intent_vector is not None:
            q = np.asarray(intent_vector, dtype=np.float32)
            cos = self.text_vectors @ (q / max(float(np.linalg.norm(q)), 1e-12))
            out["intent"] = _sharpen(cos, cfg.content_power)
        return out

    def score_all(self, history: Sequence, intent_vector: np.ndarray | None = None) -> np.ndarray:
        parts = self.component_scores(history, intent_vector)
        if not self._clean(history):
            # Cold start: popularity, plus what the session/query says the shopper wants when we know it.
            if "intent" in parts:
                return self.config.cold_start_pop_weight * parts["pop"] + self.config.intent_weight * parts["intent"]
            return parts["pop"].copy()
        w = self.config.weights
        scores = sum(w.get(name, 0.0) * parts[name] for name in COMPONENTS if name in parts)
        if "intent" in parts:
            scores = scores + self.config.intent_weight * parts["intent"]
        return np.asarray(scores, dtype=np.float32)

    def recommend(
        self,
        history: Sequence,
        k: int = 10,
        exclude: set[int] | None = None,
        intent_vector: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and their scores, best first. `exclude` removes items (e.g. already purchased).
        A purchase predictor re-orders the top with assistant.recsys.predictor.rank_for_user."""
        scores = self.score_all(history, intent_vector)
        if exclude:
            scores[np.fromiter((i for i in exclude if 0 <= i < self.n_items), dtype=np.int64)] = -np.inf
        k = min(k, self.n_items)
        top = np.argpartition(-scores, k - 1)[:k] if k < self.n_items else np.arange(self.n_items)
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[np.isfinite(scores[top])]
        return top, scores[top]

    # ---------------------------------------------------------------- real time, by user id
    def add_event(self, user_id: str, item_index: int, event_type: str = "view", timestamp: float | None = None) -> None:
        """Append one event to the user's live history: the next recommendation reflects it, no retraining."""
        if not 0 <= int(item_index) < self.n_items:
            raise ValueError(f"item index {item_index} is outside the catalog (0..{self.n_items - 1})")
        if event_type not in EVENT_WEIGHTS:
            raise ValueError(f"unknown event type {event_type!r}; expected one of {sorted(EVENT_WEIGHTS)}")
        hist = self.user_histories[str(user_id)]
        ts = float(timestamp) if timestamp is not None else (hist[-1][2] + 1.0 if hist else 0.0)
        hist.append((int(item_index), event_type, ts))
        hist.sort(key=lambda e: e[2])

    def history_of(self, user_id: str) -> list[HistoryItem]:
        return list(self.user_histories.get(str(user_id), []))

    # ---------------------------------------------------------------- blend tuning
    def tune_blend(self, histories: Sequence[Sequence], targets: Sequence[int], grid: Sequence[float] | None = None,
                   rounds: int = 3, fixed: dict[str, float] | None = None) -> dict[str, float]:
        """Coordinate ascent on NDCG@10 over the blend weights (knn fixed at 1 as the scale; `fixed` pins others).
        Component scores are computed once per user, so each trial is a weighted sum and a rank count."""
        grid = grid if grid is not None else (0.0, 0.01, 0.03, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
        negative = (-3.0, -1.0, -0.5, -0.2, -0.1, 0.0, 0.1, 0.3, 1.0)  # repeats may be rare: allow a penalty
        names = [n for n in COMPONENTS if n != "sequence" or self.sequence_model is not None]
        parts = [self.component_scores(h) for h in histories]
        stacks = {name: np.stack([p[name] for p in parts]) for name in names}
        tgt = np.asarray(targets, dtype=np.int64)
        rows = np.arange(len(tgt))

        def ndcg(weights: dict[str, float]) -> float:
            s = sum(weights[n] * stacks[n] for n in names)
            t = s[rows, tgt][:, None]
            rank = (s >= t).sum(axis=1)  # ties count against the target, as in evaluation
            return float(np.where(rank <= 10, 1.0 / np.log2(rank + 1.0), 0.0).mean())

        best = {n: float(self.config.weights.get(n, 0.0)) for n in names}
        best["knn"] = 1.0
        best.update({n: float(v) for n, v in (fixed or {}).items() if n in best})
        best_score = ndcg(best)
        for _ in range(rounds):
            improved = False
            for name in [n for n in names if n != "knn" and n not in (fixed or {})]:
                for g in (negative if name == "repeat" else grid):
                    trial = dict(best, **{name: g})
                    s = ndcg(trial)
                    if s > best_score + 1e-9:
                        best, best_score, improved = trial, s, True
            if not improved:
                break
        self.config.weights = best
        self.tuned_ndcg = best_score
        return best


def build_item_features(categories: Sequence[str], brands: Sequence[str], prices: Sequence[float | None] | None = None,
                        min_count: int = 2) -> sp.csr_matrix:
    """One-hot structured attributes per item: category (full path and top level), brand and a price band
    (quantile bucket). Values seen on fewer than min_count items carry no shared signal and are left out."""
    columns: dict[str, int] = {}
    rows, cols = [], []
    values_per_item: list[list[str]] = []
    for cat, brand in zip(categories, brands):
        vals = []
        if cat:
            vals += ["cat=" + cat.strip().lower(), "cattop=" + cat.split(">")[0].strip().lower()]
        if brand:
            vals.append("brand=" + brand.strip().lower())
        values_per_item.append(vals)
    if prices is not None:
        known = np.array([p for p in prices if p is not None and np.isfinite(p) and p >= 0], dtype=np.float64)
        if known.size:
            edges = np.quantile(known, [0.2, 0.4, 0.6, 0.8])
            for n, p in enumerate(prices):
                if p is not None and np.isfinite(p) and p >= 0:
                    values_per_item[n].append(f"price={int(np.searchsorted(edges, p))}")
    counts: dict[str, int] = defaultdict(int)
    for vals in values_per_item:
        for v in set(vals):
            counts[v] += 1
    for n, vals in enumerate(values_per_item):
        for v in set(vals):
            if counts[v] >= min_count:
                rows.append(n)
                cols.append(columns.setdefault(v, len(columns)))
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(values_per_item), max(len(columns), 1)))
