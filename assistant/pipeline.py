"""The assistant pipeline: one chat message in; ranked products with reasons, then a grounded, streamed reply out.

    assistant = Assistant(index, backend=TemplateBackend(), policies=PolicyIndex(index.client, index.embedder))
    for event in assistant.respond("session-1", "waterproof hiking jacket under $100"):
        ...  # {"type": "products", ...} first, then {"type": "token", "text": ...}, then {"type": "done", ...}

Flow per message: context (assistant/context.py: carried constraints, references, kind) -> intent embedding ->
filtered retrieval (catalog/index.py, about 50 candidates) -> re-ranking (similarity, the shopper's hybrid
recommender score when a user id is known, soft preferences, rating) -> top N with reasons -> reply from the
facts of exactly those products (assistant/generate.py) -> grounding check (assistant/grounding.py).
When nothing satisfies the hard constraints, the closest products are shown, labelled as not matching.
"""
from __future__ import annotations

import copy
import logging
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from assistant.context import SessionState, TurnContext, Vocabulary, update_context
from assistant.facts import ReplyFacts, short_title
from assistant.generate import TemplateBackend, word_chunks
from assistant.prompt import build_messages
from assistant.grounding import Verdict, verify
from assistant.limits import valid_text
from assistant.predictor import zscore
from catalog.index import ProductIndex, SearchFilters
from catalog.schema import Product

log = logging.getLogger("assistant.pipeline")

@dataclass
class AssistantConfig:
    top_n: int = 4  # products shown with each reply
    retrieve_k: int = 50  # candidates fetched from the index before re-ranking
    w_similarity: float = 1.0  # weight of the query-product cosine (z-scored over the candidates)
    w_personal: float = 0.35  # weight of the shopper's hybrid recommender score, when a user id has history
    w_predictor: float = 0.35  # weight of the purchase predictor's probability, when one is active and the user has history
    w_popularity: float = 0.1  # weight of the behaviour-log popularity: breaks near-ties for every shopper, cold start included
    w_soft: float = 0.5  # weight of soft preferences (price target, cheaper, feature words)
    w_rating: float = 0.15  # weight of the rating, shrunk towards 3.5 for products with few reviews
    history_turns: int = 6  # chat messages passed to the reply model
    max_sessions: int = 10_000  # least recently used sessions are forgotten beyond this


@dataclass
class RankedProduct:
    product: Product
    reason: str  # why it is shown, in words a shopper understands
    score: float
    matches: bool = True  # False for "closest alternatives" shown when nothing satisfies the constraints


@dataclass
class Session:
    state: SessionState = field(default_factory=SessionState)
    history: list[dict[str, str]] = field(default_factory=list)  # {"role", "content"} for the reply model
    lock: threading.Lock = field(default_factory=threading.Lock)  # one message at a time per session
    user_ids: set[str] = field(default_factory=set)  # who chatted in it, so "delete my data" can drop it


class Assistant:
    def __init__(self, index: ProductIndex, backend: Any = None, policies: Any = None, recommender: Any = None,
                 vocab: Vocabulary | None = None, config: AssistantConfig | None = None, predictor: Any = None,
                 user_key: Callable[[str], str] | None = None):
        self.index = index
        self.backend = backend or TemplateBackend()
        self.template = TemplateBackend()
        self.policies = policies
        self.recommender = recommender  # a fitted HybridRecommender whose item ids are the catalog's product ids
        self.predictor = predictor  # purchase predictor with score(history, candidate item indices), or None
        self.user_key = user_key or (lambda user_id: user_id)  # the behaviour store's (pseudonymised) key of a user id
        self.config = config or AssistantConfig()
        self.vocab = vocab or Vocabulary.from_products(index.all_products())
        self.known_brands = sorted(self.vocab.brands)
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._sessions_lock = threading.Lock()

    # ---- sessions ------------------------------------------------------------------------------------------

    def session(self, session_id: str) -> Session:
        with self._sessions_lock:
            session = self._sessions.pop(session_id, None) or Session()
            self._sessions[session_id] = session  # most recently used last
            while len(self._sessions) > self.config.max_sessions:
                self._sessions.popitem(last=False)
            return session

    def reset(self, session_id: str) -> None:
        with self._sessions_lock:
            self._sessions.pop(session_id, None)

    def forget_user(self, user_id: str) -> int:
        """Drop every session the user chatted in; returns how many."""
        with self._sessions_lock:
            doomed = [sid for sid, s in self._sessions.items() if user_id in s.user_ids]
            for sid in doomed:
                del self._sessions[sid]
        return len(doomed)

    # ---- one message ---------------------------------------------------------------------------------------

    def respond(self, session_id: str, message: str, user_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Yield {"type": "products"} first, then {"type": "token"} chunks, then {"type": "done"} with the final,
        verified reply (the template reply when the model's was not grounded)."""
        if not isinstance(message, str) or not message.strip():
            raise ValueError("message must be a non-empty string")
        message = valid_text(message)  # lone surrogates: the tokenizer and every store would fail on them
        session = self.session(session_id)
        with session.lock:
            if user_id:
                session.user_ids.add(str(user_id))
            before = copy.deepcopy(session.state)
            try:
                yield from self._turn(session, message, user_id)
            except Exception:
                session.state = before  # a failed turn must not leave what it half-applied carried into the next
                raise

    def _turn(self, session: Session, message: str, user_id: str | None) -> Iterator[dict[str, Any]]:
        ctx = update_context(session.state, message, self.vocab)
        ranked, snippets = [], []
        if ctx.kind == "product_search":
            ranked = self.find_products(ctx, user_id)
        elif ctx.kind == "after_sales":
            snippets = self.policy_snippets(ctx)
        no_match = bool(ranked) and not any(r.matches for r in ranked)
        facts = ReplyFacts.from_products([r.product for r in ranked], [r.reason for r in ranked],
                                         no_match=no_match, constraints_text=ctx.constraints.describe(),
                                         policy_snippets=snippets, kind=ctx.kind, notices=ctx.notices)
        yield {"type": "products", "products": ranked, "kind": ctx.kind, "no_match": no_match,
               "constraints": ctx.constraints.describe(), "notices": ctx.notices, "policy_snippets": snippets}
        reply, verdict = yield from self._reply(facts, message, session)
        session.state.record_shown([r.product for r in ranked])
        keep = max(0, self.config.history_turns)  # the reply model never reads more than this
        session.history = [*session.history, {"role": "user", "content": message},
                           {"role": "assistant", "content": reply}][-keep:] if keep else []
        yield {"type": "done", "reply": reply, "grounded": verdict.ok, "problems": verdict.problems}

    def chat(self, session_id: str, message: str, user_id: str | None = None) -> dict[str, Any]:
        """The whole turn at once: {"reply", "products", "kind", "no_match", ...} (used by the REST API and tests)."""
        return collect_turn(self.respond(session_id, message, user_id))

    def _reply(self, facts: ReplyFacts, message: str, session: Session):
        """Stream the reply sentence by sentence, each verified (with everything before it) before the shopper
        sees it: the first sentence shows after a fraction of the generation time, and no ungrounded sentence is
        ever shown. When a sentence fails, generation stops and the template reply replaces the whole turn:
        a {"type": "replace"} event when some text was already shown, plain tokens otherwise."""
        if isinstance(self.backend, TemplateBackend):
            text = self.template.reply(facts, message)
            for chunk in word_chunks(text):
                yield {"type": "token", "text": chunk}
            return text, Verdict(True, [])
        messages = build_messages(facts, message, session.history[-self.config.history_turns:])
        shown, pending, problems = "", "", []
        # A backend that can continue a begun message gets the template's first sentence (grounded by construction)
        # as its start: the shopper reads it at once, instead of after the model's first sentence (seconds on CPU).
        lead = self.template.lead(facts) if getattr(self.backend, "supports_prefix", False) else ""
        if lead:
            shown = lead + " "
            for word in word_chunks(shown):
                yield {"type": "token", "text": word}
        stream = self.backend.stream(messages, facts, prefix=lead) if lead else self.backend.stream(messages, facts)
        try:
            for chunk in stream:
                pending += chunk
                cut = _sentence_end(pending)
                if cut is None:
                    continue
                verdict = verify(shown + pending[:cut], facts, self.known_brands)
                if not verdict.ok:
                    problems = verdict.problems
                    break
                piece = pending[:cut] if shown else pending[:cut].lstrip()
                shown, pending = shown + piece, pending[cut:]
                for word in word_chunks(piece):
                    yield {"type": "token", "text": word}
            else:
                rest = pending.rstrip() if shown else pending.strip()
                verdict = verify(shown + rest, facts, self.known_brands)
                if verdict.ok:
                    for word in word_chunks(rest):
                        yield {"type": "token", "text": word}
                    return shown + rest, verdict  # exactly the text streamed
                problems = verdict.problems
        except Exception as exc:  # noqa: BLE001 - a failing model must not take the shop down
            log.warning("reply backend failed, using the template reply: %s", exc)
            problems = [f"backend error: {exc}"]
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()  # stops the generation thread: its remaining tokens are not needed
        log.warning("ungrounded reply replaced by the template reply: %s | reply was: %r", "; ".join(problems),
                    (shown + pending)[:300])
        text = self.template.reply(facts, message)
        if shown:
            yield {"type": "replace", "text": text}
        else:
            for word in word_chunks(text):
                yield {"type": "token", "text": word}
        return text, Verdict(False, problems)

    # ---- retrieval and ranking -----------------------------------------------------------------------------

    def find_products(self, ctx: TurnContext, user_id: str | None = None) -> list[RankedProduct]:
        vector = self.index.embedder.encode_one(ctx.intent_text or "popular products")
        if ctx.reference_mode == "similar" and ctx.referenced:
            ids, vectors = self._vectors([p.id for p in ctx.referenced])
            if len(ids):
                vector = _normalise(vector + 2.0 * vectors.mean(axis=0))  # "more like that": mostly the item
        filters = ctx.filters()  # out-of-stock products stay findable unless asked; the reply says so
        hits = self.index.search(vector, k=self.config.retrieve_k, filters=filters, text=ctx.intent_text)
        matches = True
        if not hits:
            # Nothing satisfies every constraint: show the closest products, clearly labelled as not matching,
            # giving up the least essential constraints first (price, then colour/size/rating, then brands).
            matches = False
            for relaxed in _relaxations(filters):
                hits = self.index.search(vector, k=self.config.retrieve_k, filters=relaxed, text=ctx.intent_text)
                if hits:
                    break
        if not hits:
            return []
        scores = self._rank_scores(hits, ctx, user_id)
        order = _diverse(np.argsort(-scores, kind="stable"), [h.product for h in hits], self.config.top_n,
                         allow_variants=ctx.reference_mode == "variant")
        personal = self._personal_reasons(user_id, [hits[i].product for i in order])
        return [RankedProduct(hits[i].product, self._reason(hits[i].product, ctx, matches, personal.get(hits[i].product.id)),
                              float(scores[i]), matches) for i in order]

    def _rank_scores(self, hits, ctx: TurnContext, user_id: str | None) -> np.ndarray:
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
        history = self._history(user_id)
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

    def _history(self, user_id: str | None) -> list:
        if self.recommender is None or not user_id:
            return []
        return self.recommender.history_of(self.user_key(str(user_id)))

    def _personal_reasons(self, user_id: str | None, products: list[Product]) -> dict[str, str]:
        """"often bought with X" (item CF) or "similar to X you viewed" (content), from the shopper's own history."""
        rec = self.recommender
        history = self._history(user_id)[-20:]
        if not history:
            return {}
        seen = [i for i, _, _ in history]
        titles = {p.id: p.title for p in self.index.get([rec.index_to_id[i] for i in set(seen)])}
        reasons = {}
        for p in products:
            j = rec.id_to_index.get(p.id)
            if j is None:
                continue
            co = rec.knn[seen, j].toarray().ravel() if hasattr(rec, "knn") else np.zeros(len(seen))
            if co.size and co.max() > 0:
                reasons[p.id] = f"often bought with {short_title(titles.get(rec.index_to_id[seen[int(co.argmax())]], ''))}"
        return reasons

    def _reason(self, p: Product, ctx: TurnContext, matches: bool, personal: str | None) -> str:
        parts = []
        if not matches:
            parts.append("closest alternative, does not match every request")
        elif ctx.constraints.describe():
            parts.append(f"matches: {ctx.constraints.describe()}")
        stated = ctx.constraints.describe().lower()
        words = [w for w, v in ctx.constraints.soft.items() if isinstance(v, (int, float)) and w.isalpha() and
                 w not in ("prefer_cheaper", "prefer_pricier") and w in _product_text(p) and w not in stated]
        if words:
            parts.append(", ".join(words))
        if personal:
            parts.append(personal)
        if p.rating is not None and p.review_count:
            parts.append(f"rated {p.rating:.1f}/5 by {p.review_count} shoppers")
        return "; ".join(parts)

    def policy_snippets(self, ctx: TurnContext, k: int = 2) -> list[dict[str, str]]:
        if self.policies is None:
            return []
        snippets = []
        if ctx.after_sales_topic:
            doc = self.policies.get(ctx.after_sales_topic)
            if doc:
                snippets.append(doc)
        for doc in self.policies.search(ctx.intent_text, k=k):
            if all(doc["id"] != s["id"] for s in snippets) and len(snippets) < k:
                snippets.append({"id": doc["id"], "title": doc["title"], "text": doc["text"]})
        return snippets

    def _vectors(self, ids: list[str]) -> tuple[list[str], np.ndarray]:
        found = self.index.collection.get(ids=ids, include=["embeddings"])
        return found["ids"], np.asarray(found["embeddings"], dtype=np.float32)


def collect_turn(events: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """A respond() stream folded into one dict: the products event's fields and the done event's."""
    out: dict[str, Any] = {}
    for event in events:
        if event["type"] in ("products", "done"):
            out.update({k: v for k, v in event.items() if k != "type"})
    return out


_SENTENCE_END = re.compile(r"[.!?]\s+|\n+")


def _sentence_end(text: str) -> int | None:
    """Index just past the last complete sentence in text and the space after it (a full stop followed by space,
    or a line break): word_chunks carries whitespace at the end of a chunk, never at the start.
    "$52.49" and "4.5/5" have no space after the dot, so prices and ratings are never cut in two."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return ends[-1] if ends else None


def _relaxations(f: SearchFilters) -> list[SearchFilters]:
    keep = dict(category=f.category, exclude_ids=f.exclude_ids)
    return [
        SearchFilters(brands=f.brands, exclude_brands=f.exclude_brands, colour=f.colour, size=f.size,
                      min_rating=f.min_rating, in_stock_only=f.in_stock_only, **keep),
        SearchFilters(brands=f.brands, exclude_brands=f.exclude_brands, **keep),
        SearchFilters(**keep),
        SearchFilters(exclude_ids=f.exclude_ids),
    ]


def _diverse(order: np.ndarray, products: list[Product], n: int, allow_variants: bool = False) -> list[int]:
    """The best-ranked product of each model: four colours of one jacket are one option, not four. Variants
    are shown together only when the shopper asked for another colour or size of a product."""
    chosen, models = [], set()
    for i in order:
        model = (products[i].brand.lower(), short_title(products[i].title).lower())
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
    for word, value in soft.items():
        if isinstance(value, (int, float)) and word.isalpha() and word not in ("prefer_cheaper", "prefer_pricier"):
            score += 1.0 if word in text else 0.0
    avoid = soft.get("avoid_colour")
    if isinstance(avoid, str) and avoid and avoid.lower() in str(p.attributes.get("colour", "")).lower():
        score -= 1.0
    return score


def _product_text(p: Product) -> str:
    return " ".join([p.title, " ".join(map(str, p.attributes.values())), " ".join(p.tags)]).lower()


def _shrunk_rating(p: Product, prior: float = 3.5, strength: float = 10.0) -> float:
    """A 5.0 from 2 reviews should not beat a 4.6 from 300: Bayesian shrinkage towards the prior."""
    if p.rating is None:
        return prior
    return (p.rating * p.review_count + prior * strength) / (p.review_count + strength)


def _normalise(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) or 1.0)



