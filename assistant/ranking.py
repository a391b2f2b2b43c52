"""Ranking the products of one turn: filtered retrieval (dense + BM25, catalog/index.py), then a score per candidate
from the query similarity, soft preferences, rating, popularity and, for a shopper with a history, the hybrid
recommender and the purchase predictor; diversity (one colour of a model); a reason per product in a shopper's words.
When nothing satisfies the hard constraints, the closest products are shown, labelled as not matching.
An audience ("for women") leaves out the candidates whose own title or attributes name only another audience
("Men's ..."); products that name none stay. A reason claims a feature ("waterproof") only where the product's own
text says it.

    ranker = Ranker(index, recommender, predictor, user_key=events.user_key)
    ranked = ranker.find_products(turn_context, user_id="u00042")     # [RankedProduct, ...] best first
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from assistant.dialogue.context import TurnContext
from assistant.dialogue.vocabulary import fits_audience, product_audiences
from assistant.events import RankedProduct
from assistant.recsys.predictor import Predictor, zscore
from assistant.recsys.recommend import HistoryItem, HybridRecommender
from catalog.index import ProductIndex, SearchFilters, SearchHit
from catalog.schema import Product, model_key, short_title

log = logging.getLogger("assistant.ranking")
AUDIENCE_OVERFETCH = 3  # with an audience, fetch this many times the candidates: some are left out afterwards
NOT_WORD_PREFS = ("prefer_cheaper", "prefer_pricier")  # soft keys that are not words to find in a product
YES = ("yes", "true")


@dataclass
class RankingConfig:
    top_n: int = 4  # products shown with each reply
    retrieve_k: int = 50  # candidates fetched from the index before re-ranking
    w_similarity: float = 1.0  # weight of the query-product cosine (z-scored over the candidates)
    w_personal: float = 0.35  # weight of the shopper's hybrid recommender score, when a user id has history
    w_predictor: float = 0.35  # weight of the purchase predictor's probability, when one is active and the user has history
    w_popularity: float = 0.1  # weight of the behaviour-log popularity: breaks near-ties for every shopper, cold start included
    w_soft: float = 0.5  # weight of soft preferences (price target, cheaper, feature words)
    w_rating: float = 0.15  # weight of the rating, shrunk towards 3.5 for products with few reviews
    # "Show me more": a product whose cosine to the request is under this share of the best one already shown is
    # not more of the same (in a shop without categories the next-nearest products are soon unrelated: a baby
    # scale after "bluetooth speaker"); calibrated on the demo (same-kind products 0.78-1.0 of the best) and ESCI.
    more_floor: float = 0.75


class Ranker:
    def __init__(self, index: ProductIndex, recommender: HybridRecommender | None = None,
                 predictor: Predictor | None = None, user_key: Callable[[str], str] | None = None,
                 config: RankingConfig | None = None):
        self.index = index
        self.recommender = recommender  # fitted on the catalog's product ids (assistant/recsys/build.py)
        self.predictor = predictor
        self.user_key = user_key or (lambda user_id: user_id)  # the behaviour store's (pseudonymised) key of a user id
        self.config = config or RankingConfig()

    def find_products(self, ctx: TurnContext, user_id: str | None = None) -> list[RankedProduct]:
        vector = self.index.embedder.encode_one(ctx.intent_text or "popular products")
        if ctx.reference_mode == "similar" and ctx.referenced:
            ids, vectors = self.index.vectors([p.id for p in ctx.referenced])
            if len(ids):
                vector = _normalise(vector + 2.0 * vectors.mean(axis=0))  # "more like that": mostly the item
        filters = ctx.filters()  # out-of-stock products stay findable unless asked; the reply says so
        floor = self._more_floor(vector, ctx)
        hits = self._search(vector, filters, ctx, floor=floor)
        matches = True
        if not hits:
            # Nothing satisfies every constraint: show the closest products, clearly labelled as not matching,
            # giving up the least essential constraints first (price, then colour/size/rating, then brands, and
            # last the audience).
            matches = False
            for relaxed in _relaxations(filters):
                hits = self._search(vector, relaxed, ctx, floor=floor)
                if hits:
                    break
            if not hits and ctx.constraints.audience:
                hits = self._search(vector, SearchFilters(exclude_ids=filters.exclude_ids), ctx, audience=False,
                                    floor=floor)
        if not hits:
            return []
        scores = self._rank_scores(hits, ctx, user_id)
        order = _diverse(np.argsort(-scores, kind="stable"), [h.product for h in hits], self.config.top_n,
                         allow_variants=ctx.reference_mode == "variant")
        personal = self._personal_reasons(user_id, [hits[i].product for i in order])
        return [RankedProduct(hits[i].product, self._reason(hits[i].product, ctx, matches, personal.get(hits[i].product.id)),
                              float(scores[i]), matches) for i in order]

    def _more_floor(self, vector: np.ndarray, ctx: TurnContext) -> float | None:
        """For "show me more": the least cosine to the request a further product needs (config.more_floor of the
        best product the topic already showed); None otherwise."""
        if not ctx.more or not ctx.exclude_ids:
            return None
        ids, vectors = self.index.vectors(ctx.exclude_ids)
        return float((vectors @ vector).max()) * self.config.more_floor if len(ids) else None

    def _search(self, vector: np.ndarray, filters: SearchFilters, ctx: TurnContext,
                audience: bool = True, floor: float | None = None) -> list[SearchHit]:
        """Filtered retrieval; with an audience, more candidates are fetched and those made for another dropped;
        with a floor, products less similar to the request than it are dropped (see RankingConfig.more_floor)."""
        wanted = ctx.constraints.audience if audience else None
        owned = {c.lower() for c in ctx.constraints.exclude_categories}
        k = self.config.retrieve_k * (AUDIENCE_OVERFETCH if wanted or owned else 1)
        hits = self.index.search(vector, k=k, filters=filters, text=ctx.intent_text)
        if ctx.exclude_models:  # "show me more": not the same model again in another colour or size
            hits = [h for h in hits if model_key(h.product) not in ctx.exclude_models]
        if floor is not None and hits:
            ids, vectors = self.index.vectors([h.product.id for h in hits])
            close = {i for i, c in zip(ids, vectors @ vector) if c >= floor}
            hits = [h for h in hits if h.product.id in close]
        if owned:  # "he already has a coffee maker": no product in that category, at any level of its path
            hits = [h for h in hits if not owned & {x.strip().lower() for x in h.product.category.split(">")}]
        if wanted:
            hits = [h for h in hits if fits_audience(wanted, product_audiences(h.product))]
        return hits[:self.config.retrieve_k]

    def _rank_scores(self, hits: list[SearchHit], ctx: TurnContext, user_id: str | None) -> np.ndarray:
        cfg = self.config
        similarity = zscore(np.array([h.score for h in hits]))
        soft = np.array([_soft_score(h.product, ctx) for h in hits])
        rating = np.array([_shrunk_rating(h.product) for h in hits])
        total = cfg.w_similarity * similarity + cfg.w_soft * soft + cfg.w_rating * zscore(rating)
        rec = self.recommender
        if rec is None:
            return total
        ids = [h.product.id for h in hits]
        known = np.array([i in rec.id_to_index for i in ids])
        positions = np.array([rec.id_to_index.get(i, 0) for i in ids], dtype=np.int64)
        total += cfg.w_popularity * zscore(np.where(known, rec.popularity[positions], 0.0))
        history = self.history(user_id)
        if history:
            personal = rec.score_all(history)[positions]
            total += cfg.w_personal * zscore(np.where(known, personal, 0.0))
            if self.predictor is not None and known.any():
                predicted = np.zeros(len(hits))
                try:
                    predicted[known] = self.predictor.score(history, positions[known])
                    total += cfg.w_predictor * zscore(predicted)
                except Exception as exc:  # noqa: BLE001 - ranking still works without the predictor
                    log.warning("purchase predictor failed, ranking without it: %s", exc)
        return total

    def history(self, user_id: str | None) -> list[HistoryItem]:
        if self.recommender is None or not user_id:
            return []
        return self.recommender.history_of(self.user_key(str(user_id)))

    def _personal_reasons(self, user_id: str | None, products: list[Product]) -> dict[str, str]:
        """"often bought with X" (item CF) or "similar to X you viewed" (content), from the shopper's own history."""
        rec = self.recommender
        history = self.history(user_id)[-20:]
        if not history:
            return {}
        seen = [i for i, _, _ in history]
        titles = {p.id: p.title for p in self.index.get([rec.index_to_id[i] for i in set(seen)])}
        reasons = {}
        for p in products:
            j = rec.id_to_index.get(p.id)
            if j is None:
                continue
            co = rec.knn[seen, j].toarray().ravel()
            if co.size and co.max() > 0:
                reasons[p.id] = f"often bought with {short_title(titles.get(rec.index_to_id[seen[int(co.argmax())]], ''))}"
        return reasons

    def _reason(self, p: Product, ctx: TurnContext, matches: bool, personal: str | None) -> str:
        """"matches: <the hard constraints>, <the audience and soft words this product's own text names>"; a
        soft word the product lacks ("waterproof" on a jacket that does not say so) is never claimed."""
        c = ctx.constraints
        text = _product_text(p)
        own = [w for w in _word_prefs(c.soft) if _has_word(text, w)]
        if c.audience and c.audience in product_audiences(p):
            own.insert(0, "unisex" if c.audience == "unisex" else f"for {c.audience}")
        parts = []
        if not matches:  # no "matches:" claim; the words the product does name still help the shopper choose
            parts.append("closest alternative, does not match every request")
            parts += [", ".join(own)] if own else []
        elif c.describe(soft=False) or own:
            parts.append("matches: " + ", ".join(x for x in [c.describe(soft=False), *own] if x))
        if personal:
            parts.append(personal)
        if p.rating is not None and p.review_count:
            parts.append(f"rated {p.rating:.1f}/5 by {p.review_count} shoppers")
        return "; ".join(parts)


def _relaxations(f: SearchFilters) -> list[SearchFilters]:
    keep = dict(category=f.category, exclude_ids=f.exclude_ids)
    return [
        SearchFilters(brands=f.brands, exclude_brands=f.exclude_brands, colour=f.colour, colours=f.colours,
                      size=f.size, min_rating=f.min_rating, in_stock_only=f.in_stock_only, **keep),
        SearchFilters(brands=f.brands, exclude_brands=f.exclude_brands, **keep),
        SearchFilters(**keep),
        SearchFilters(exclude_ids=f.exclude_ids),
    ]


def _diverse(order: np.ndarray, products: list[Product], n: int, allow_variants: bool = False) -> list[int]:
    """The best-ranked product of each model: four colours of one jacket are one option, not four. Variants
    are shown together only when the shopper asked for another colour or size of a product."""
    chosen, models = [], set()
    for i in order:
        model = model_key(products[i])
        if allow_variants or model not in models:
            chosen.append(int(i))
            models.add(model)
        if len(chosen) == n:
            break
    return chosen


def _soft_score(p: Product, ctx: TurnContext) -> float:
    """Soft preferences as a bonus: closeness to a price target, cheapness when asked, feature words present."""
    soft = ctx.constraints.soft
    score = 0.0
    target = soft.get("price_target")
    if isinstance(target, (int, float)) and target > 0 and p.price and p.price > 0:
        score -= abs(math.log(p.price / target))
    if soft.get("prefer_cheaper") and p.price:
        score -= 0.3 * math.log1p(p.price)
    if soft.get("prefer_pricier") and p.price:
        score += 0.3 * math.log1p(p.price)
    text = _product_text(p)
    score += sum(1.0 for word in _word_prefs(soft) if _has_word(text, word))
    avoid = soft.get("avoid_colour")
    if isinstance(avoid, str) and avoid and _has_word(str(p.attributes.get("colour") or p.title).lower(), avoid.lower()):
        score -= 1.0
    return score


def _word_prefs(soft: dict[str, float | str]) -> list[str]:
    """The soft preferences that are words to find in a product: features, materials, colour words ("waterproof",
    "stainless steel", "powder-free"), not the price keys ("price_target") or flags ("prefer_cheaper")."""
    return [w for w, v in soft.items() if isinstance(v, (int, float)) and w not in NOT_WORD_PREFS and "_" not in w]


def _has_word(text: str, word: str) -> bool:
    """Whole words only: "warm" is not in "swarm", "blue" not in "bluetooth"; "-" and " " alike ("powder free")."""
    words = [re.escape(w) for w in re.split(r"[\s-]+", word.lower()) if w]
    return bool(words) and re.search(r"(?<![a-z0-9])" + r"[\s-]*".join(words) + r"(?![a-z0-9])", text) is not None


def _product_text(p: Product) -> str:
    """What a product says about itself: title, attribute values, the names of its yes/no attributes that are yes
    ("waterproof: yes"), and tags."""
    flags = [str(k).replace("_", " ") for k, v in p.attributes.items() if str(v).strip().lower() in YES]
    return " ".join([p.title, " ".join(map(str, p.attributes.values())), *flags, " ".join(p.tags)]).lower()


def _shrunk_rating(p: Product, prior: float = 3.5, strength: float = 10.0) -> float:
    """A 5.0 from 2 reviews should not beat a 4.6 from 300: Bayesian shrinkage towards the prior."""
    if p.rating is None:
        return prior
    return (p.rating * p.review_count + prior * strength) / (p.review_count + strength)


def _normalise(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) or 1.0)



