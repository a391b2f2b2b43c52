"""The running shop: catalog index, behaviour store, hybrid recommender, purchase predictor, policies and the
Assistant, loaded once and shared by the Gradio app and the REST API.

    shop = load_shop(CatalogConfig(), backend=make_backend("local"), prepare=ensure_fast_predictor)
    shop.chat("s1", "waterproof hiking jacket under $100", user_id="u00042")      # a Turn (assistant/events.py)
    shop.log_event("u00042", "P00017", "add_to_cart")            # stored durably and applied to the recommender at once
    shop.recommend("u00042", k=8)

Event writes go to SQLite first (the durable record) and then into the live recommender, so a shopper's click
changes the next answer without retraining. The recommender is built the one way training builds it
(assistant/recsys/build.py): the same typed events, the index's vectors and the blend weights training saved, so
the purchase predictor scores exactly the features it was trained and measured on. Serving imports no training
code: the app's first start passes `prepare` (the training step) in from its entry point.
"""
from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from assistant.dialogue.acts import ActClassifier
from assistant.dialogue.language import LanguageCheck
from assistant.dialogue.vocabulary import Vocabulary
from assistant.events import DoneEvent, Turn, TurnEvent, collect_turn
from assistant.pipeline import Assistant, AssistantConfig
from assistant.ranking import Ranker
from assistant.recsys.active import load_active_predictor
from assistant.recsys.build import shop_recommender
from assistant.recsys.data import LeaveOneOutDataset, shop_dataset
from assistant.recsys.features import ItemMeta
from assistant.recsys.predictor import Predictor, rank_for_user
from assistant.recsys.recommend import EVENT_WEIGHTS, HybridRecommender
from assistant.reply.backends import Backend
from assistant.serving.chatlog import ChatLog, PostgresChatLog, open_chatlog
from assistant.serving.limits import MAX_MESSAGE_CHARS, check_message
from assistant.sessions import SessionStore
from catalog.build import DemoReport, ensure_demo_catalog
from catalog.config import CatalogConfig
from catalog.demo import DEMO_CATEGORY_SYNONYMS
from catalog.events import AppendReport, BaseEventStore, deletion_hash
from catalog.index import ProductIndex
from catalog.policies import PolicyIndex
from catalog.schema import EVENT_TYPES, Event, Product, model_key
from catalog.stores import open_event_store
from catalog.text import valid_text

AGENT_REPLAY_MESSAGES = 6  # the customer's last messages replayed for agent assist: earlier constraints still apply


@dataclass
class Shop:
    config: CatalogConfig
    index: ProductIndex
    events: BaseEventStore
    recommender: HybridRecommender
    policies: PolicyIndex
    assistant: Assistant
    chatlog: ChatLog | PostgresChatLog | None = None  # redacted transcripts, for the agent-assist view
    predictor: Predictor | None = None  # the active purchase predictor (None: hybrid ranking alone)
    predictor_description: str = ""
    build_report: DemoReport | None = None  # set when this start built the demo shop
    demo: bool = False  # the built-in demo shop: its users are synthetic, so anyone may act as one
    unavailable: frozenset[int] = frozenset()  # recommender indices of out-of-stock products: never recommended
    synced_upto: int = 0  # the last event sequence number the live recommender holds (assistant/serving/replicas.py)
    # index_version() the models were fitted on; "" until the replica sync's first poll takes it (a full read of the
    # index's metadata, seconds at 10k products: the start does not wait for it)
    catalog_version: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)  # recommender histories are shared state
    # Stored and applied here, not yet seen by the replica sync: it must not apply them a second time.
    _applied_here: set[int] = field(default_factory=set)
    _syncing: bool = False  # a ReplicaSync runs (only then is _applied_here kept)

    # ---- catalog -------------------------------------------------------------------------------------------

    def product(self, product_id: str) -> Product | None:
        found = self.index.get([str(product_id)])
        return found[0] if found else None

    # ---- chat --------------------------------------------------------------------------------------------------

    def session_key(self, session_id: str, user_id: str | None) -> str:
        """The conversation a client's session id names, bound to its (proven) user: another user sending the
        same session id gets a conversation of their own, never this one's constraints or products."""
        # Unambiguous: a user's key is escaped so it has no "/" and no lone "%", and "%" alone is anonymous.
        # Otherwise user "a/b" in session "c" and user "a" in session "b/c" (or a user called "anonymous" and
        # every anonymous caller) would share one conversation.
        owner = self.events.user_key(str(user_id)).replace("%", "%25").replace("/", "%2F") if user_id else "%"
        return f"{owner}/{session_id}"

    def respond(self, session_id: str, message: str, user_id: str | None = None) -> Iterator[TurnEvent]:
        """Assistant.respond in the user's own session, with both sides of the turn written to the (redacted)
        chat log. `user_id` must already be proven (a signed token, the API key, or a demo user): it personalises
        and it owns the transcript. Raises ValueError (InputTooLong) before any work for an over-long message."""
        message = valid_text(check_message(message))  # a lone surrogate could not be written to the chat log
        key = self.session_key(session_id, user_id)
        for event in self.assistant.respond(key, message, user_id):
            if isinstance(event, DoneEvent) and self.chatlog is not None:  # stored before the shopper sees the end
                owner = self.events.user_key(str(user_id)) if user_id else None
                self.chatlog.append(key, owner, "user", message)
                self.chatlog.append(key, owner, "assistant", event.reply)
            yield event

    def reset(self, session_id: str, user_id: str | None = None) -> None:
        self.assistant.reset(self.session_key(session_id, user_id))

    def transcripts_of(self, user_id: str) -> list[str]:
        """The stored chat sessions of a user, newest first (for agent assist)."""
        return self.chatlog.sessions_of(self.events.user_key(str(user_id))) if self.chatlog is not None else []

    def chat(self, session_id: str, message: str, user_id: str | None = None) -> Turn:
        """The whole turn at once."""
        return collect_turn(self.respond(session_id, message, user_id))

    def suggest(self, customer_messages: list[str], user_id: str | None = None) -> Turn:
        """Agent assist: the customer's messages replayed in order through a throwaway session (so constraints
        said earlier still apply), reset afterwards. Assistant.chat, not Shop.chat: the replay must not be written
        to the customer's chat log. Only the last AGENT_REPLAY_MESSAGES are replayed. Returns the last turn."""
        session_id = f"agent-{uuid.uuid4().hex}"
        out = Turn()
        said = [valid_text(m[:MAX_MESSAGE_CHARS]) for m in customer_messages if m and m.strip()][-AGENT_REPLAY_MESSAGES:]
        try:
            for message in said:
                out = self.assistant.chat(session_id, message, user_id)
        finally:
            self.assistant.reset(session_id)
        return out

    # ---- cart ----------------------------------------------------------------------------------------------

    def cart(self, session_id: str, user_id: str | None = None) -> list[Product]:
        """What this shopper put in the cart in this session, oldest first."""
        ids = self.assistant.sessions.cart(self.session_key(session_id, user_id))
        found = {p.id: p for p in self.index.get(ids)}
        return [found[i] for i in ids if i in found]

    def add_to_cart(self, session_id: str, user_id: str | None, product_id: str) -> bool:
        return self.cart_action(self.session_key(session_id, user_id), user_id or f"anon-{session_id}", product_id, "add")

    def remove_from_cart(self, session_id: str, user_id: str | None, product_id: str) -> bool:
        return self.cart_action(self.session_key(session_id, user_id), user_id or f"anon-{session_id}", product_id,
                                "remove")

    def chat_cart_action(self, key: str, user_id: str | None, product_id: str, op: str) -> bool:
        """The pipeline's cart requests: in the session the chat runs in (an anonymous REST shopper is the session)."""
        return self.cart_action(key, user_id or f"anon-{key}", product_id, op)

    def cart_action(self, key: str, user_id: str, product_id: str, op: str) -> bool:
        """Add ("add": an add_to_cart event, stored and applied to the recommender) or remove a product; False when
        the product is unknown (or not in the cart). Carts live beside the sessions (assistant/sessions.py)."""
        carts = self.assistant.sessions
        if op == "add":
            if not self.log_event(user_id, product_id, "add_to_cart", session_id=key).accepted:
                return False
            carts.cart_add(key, product_id, user_id=str(user_id))
            return True
        return carts.cart_remove(key, product_id)

    # ---- behaviour -----------------------------------------------------------------------------------------

    def log_event(self, user_id: str, item_id: str, event_type: str, session_id: str = "",
                  timestamp: float | None = None) -> AppendReport:
        """Validate, store durably, then apply to the live recommender. A rejected event comes back in the
        report with its reason; nothing is applied."""
        event = {"user_id": user_id, "item_id": item_id, "type": event_type, "session_id": session_id,
                 "timestamp": time.time() if timestamp is None else timestamp}
        report = self.events.append(event, known_items=self.recommender.id_to_index.keys())
        if report.accepted:
            with self._lock:
                self.recommender.add_event(self.events.user_key(str(user_id)), self.recommender.id_to_index[str(item_id)],
                                           event_type, float(event["timestamp"]))
                if self._syncing:
                    self._applied_here.update(report.ids)
        return report

    def apply_stored(self, rows: list[tuple[int, Event]]) -> int:
        """Events other replicas stored (sequence number, event), into the live recommender; the ones this replica
        applied itself are skipped. Returns how many were applied."""
        applied = 0
        with self._lock:
            rec = self.recommender
            for seq, e in rows:
                if seq in self._applied_here:
                    self._applied_here.discard(seq)
                elif seq > self.synced_upto and e.item_id in rec.id_to_index:  # older ones are in the fit already
                    rec.add_event(e.user_id, rec.id_to_index[e.item_id], e.type, e.timestamp)
                    applied += 1
        return applied

    def forget_deleted(self, hashes: set[str]) -> int:
        """Another replica deleted these users (deletion_hash of their keys): drop their live histories here too."""
        with self._lock:
            doomed = [u for u in self.recommender.user_histories if deletion_hash(u) in hashes]
            for u in doomed:
                self.recommender.user_histories.pop(u, None)
        return len(doomed)

    def refit(self) -> bool:
        """Fit the recommender, predictor and vocabulary again on the catalog as it is now and every stored event
        (a catalog changed by `catalog ingest` or another replica). Runs beside serving; the swap is atomic.
        Returns False when the catalog has not changed since the last fit (or the fit's was not taken yet: then
        it is taken now)."""
        version = index_version(self.index)
        if version == self.catalog_version or not self.catalog_version:
            self.catalog_version = version
            return False
        fit = fit_models(self.config, self.index, self.events, synonyms=self.assistant.vocab.synonyms or None)
        with self._lock:
            later = self.events.since(fit.upto)  # stored while fitting: applied on top, as the sync would
            self.recommender, self.predictor, self.predictor_description = fit.recommender, fit.predictor, fit.description
            self.unavailable, self.catalog_version, self.synced_upto = fit.unavailable, version, fit.upto
            self._applied_here.clear()
            self.assistant.ranker.recommender, self.assistant.ranker.predictor = fit.recommender, fit.predictor
            self.assistant.vocab, self.assistant.known_brands = fit.vocab, sorted(fit.vocab.brands)
        self.apply_stored(later)
        if later:
            self.synced_upto = max(self.synced_upto, later[-1][0])
        return True

    def history(self, user_id: str) -> list[tuple[Product, str, float]]:
        """(product, event type, timestamp), oldest first, from the durable store."""
        events = self.events.history(user_id)
        products = {p.id: p for p in self.index.get(sorted({e.item_id for e in events}))}
        return [(products[e.item_id], e.type, e.timestamp) for e in events if e.item_id in products]

    def recommend(self, user_id: str | None, k: int = 8) -> list[tuple[Product, float]]:
        """The shopper's top k (assistant.recsys.predictor.rank_for_user: the hybrid, re-ranked by the purchase
        predictor when one is active), without what they bought or put in the cart; an unknown or anonymous
        shopper gets the popularity ranking."""
        rec = self.recommender
        with self._lock:
            history = rec.history_of(self.events.user_key(str(user_id))) if user_id else []
        # Bought or in the cart: no recommendation. Out of stock: not something to recommend either.
        owned = [rec.index_to_id[i] for i, t, _ in history if t in ("purchase", "add_to_cart")]
        excluded = {rec.id_to_index[i] for i in owned if i in rec.id_to_index} | self.unavailable
        # A few times k: the same model in another colour or size (of one owned, or of one listed) is dropped below.
        top, scores = rank_for_user(rec, history, self.predictor, k=3 * k, exclude=sorted(excluded))
        ids = [rec.index_to_id[i] for i in top]
        products = {p.id: p for p in self.index.get(list(dict.fromkeys(ids + owned)))}
        models = {model_key(products[i]) for i in owned if i in products}
        out = []
        for item_id, score in zip(ids, scores):
            p = products.get(item_id)
            if p is None or model_key(p) in models:
                continue
            models.add(model_key(p))
            out.append((p, float(score)))
            if len(out) == k:
                break
        return out

    def profile(self, user_id: str, recent: int = 5) -> dict[str, Any]:
        """What an agent needs at a glance: recent purchases, and preferences inferred from the whole history
        (categories and brands weighted by event strength, typical price)."""
        history = self.history(user_id)
        categories, brands, prices = Counter(), Counter(), []
        for p, etype, _ in history:
            w = EVENT_WEIGHTS.get(etype, 1.0)
            if p.category:
                categories[p.category] += w
            if p.brand:
                brands[p.brand] += w
            if etype in ("purchase", "add_to_cart") and p.price:
                prices.append(p.price)
        def latest(kinds: tuple[str, ...]) -> list[Product]:  # most recent first, each product once
            return list({p.id: p for p, etype, _ in reversed(history) if etype in kinds}.values())[:recent]

        return {"user_id": user_id, "events": len(history), "recent_purchases": latest(("purchase",)),
                "recently_viewed": latest(("view", "click", "add_to_cart")),
                "top_categories": [c for c, _ in categories.most_common(3)], "top_brands": [b for b, _ in brands.most_common(3)],
                "typical_price": float(np.median(prices)) if prices else None}

    def demo_users(self, n: int = 5) -> list[str]:
        """The users with the longest histories: good examples for the "signed in as" selector. None when user
        ids are pseudonymised: the stored keys cannot be turned back into ids (that is the point)."""
        if self.events.pseudonymised:
            return []
        counts = Counter()
        for user, hist in self.recommender.user_histories.items():
            counts[user] = len(hist)
        return [u for u, _ in counts.most_common(n)]

    def delete_user(self, user_id: str) -> dict[str, int]:
        """"Delete my data": the user's stored events, live history and chat sessions."""
        events = self.events.delete_user(user_id)
        with self._lock:
            self.recommender.user_histories.pop(self.events.user_key(str(user_id)), None)
        # "<user key>/": every session and cart of the user starts with it
        sessions = self.assistant.forget_user(str(user_id), key_prefix=self.session_key("", user_id))
        messages = self.chatlog.delete_user(self.events.user_key(str(user_id))) if self.chatlog is not None else 0
        return {"events": events, "sessions": sessions, "messages": messages}


_ROLE = re.compile(r"^\s*(customer|shopper|user|client|agent|assistant|support)\s*:\s*", re.I)


def parse_conversation(text: str) -> list[tuple[str, str]]:
    """A pasted conversation: one message a line, "customer:"/"agent:" (or user/shopper/client, assistant/support)
    prefixes optional; a line without one is the customer's. Returns ("customer" | "agent", text) pairs."""
    turns = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        m = _ROLE.match(line)
        role = "agent" if m and m.group(1).lower() in ("agent", "assistant", "support") else "customer"
        turns.append((role, line[m.end():].strip() if m else line.strip()))
    return [(r, t) for r, t in turns if t]


@dataclass
class FittedModels:
    """What is fitted on the catalog and the stored events: built at start, and again by Shop.refit."""

    recommender: HybridRecommender
    predictor: Predictor | None
    description: str  # which predictor is active, for /agent/ and /healthz
    vocab: Vocabulary
    unavailable: frozenset[int]
    titles: list[str]
    upto: int  # the last event sequence number it was fitted on


def fit_models(config: CatalogConfig, index: ProductIndex, events: BaseEventStore, synonyms: dict[str, str] | None,
               prepare: Callable[[LeaveOneOutDataset, ItemMeta, str], object] | None = None) -> FittedModels:
    upto = events.last_id()  # what came after it reaches the recommender through the replica sync
    ids, vectors = index.all_vectors()
    by_id = {p.id: p for p in index.all_products()}
    data, meta = shop_dataset([by_id[i] for i in ids], vectors, events.iter_events(upto=upto), name="shop")
    models = str(config.data_dir / "models" / "predictor")
    if prepare is not None:
        prepare(data, meta, models)
    rec = shop_recommender(data, meta, models)
    predictor, description = load_active_predictor(models, rec, meta, data.item_text)
    # Shown on /agent/ and /healthz: the data directory's place on the server is nobody's business.
    description = description.replace(models, "models/predictor")
    vocab = Vocabulary.from_products(by_id.values(), synonyms=synonyms)
    unavailable = frozenset(i for i, pid in enumerate(data.item_ids) if not by_id[pid].in_stock)
    return FittedModels(rec, predictor, description, vocab, unavailable, [p.title for p in by_id.values()], upto)


def index_version(index: ProductIndex) -> str:
    """A fingerprint of the catalog (every id and content hash): changes when any product is added, edited or
    removed, by this replica or another, or by `python -m catalog ingest`."""
    digest = hashlib.sha256()
    for pid, content in sorted(index.existing_hashes().items()):
        digest.update(f"{pid}\x1f{content}\x1e".encode("utf-8", "replace"))
    return digest.hexdigest()


def load_shop(config: CatalogConfig | None = None, backend: Backend | None = None, build_demo: bool = True,
              assistant_config: AssistantConfig | None = None, log: Callable[[str], None] = print,
              index: ProductIndex | None = None,
              prepare: Callable[[LeaveOneOutDataset, ItemMeta, str], object] | None = None,
              sessions: SessionStore | None = None) -> Shop:
    """Open (and on first run build) everything the shop serves from. build_demo=False serves whatever catalog
    the index already holds (e.g. one ingested with `python -m catalog ingest`). prepare(data, meta, model_dir)
    runs once the shop's data is read and before the predictor is loaded: the app passes the first-start
    training of the fast predictor there. sessions: where conversations live (default: this process's memory;
    assistant/sessions.py)."""
    config = config or CatalogConfig()
    index = index or ProductIndex(config)
    report = ensure_demo_catalog(config, index=index) if build_demo else None
    if report:
        log(report.summary())
    if index.count() == 0:
        raise RuntimeError(f"the catalog in {config.data_dir} is empty: ingest one with `python -m catalog ingest FILE`")
    events = open_event_store(config)
    demo = build_demo and (config.data_dir / "demo" / "demo_products.jsonl").exists()
    fit = fit_models(config, index, events, synonyms=DEMO_CATEGORY_SYNONYMS if demo else None, prepare=prepare)
    policies = PolicyIndex(index.client, index.embedder)
    assistant_config = assistant_config or AssistantConfig()
    ranker = Ranker(index, fit.recommender, fit.predictor, user_key=events.user_key, config=assistant_config.ranking)
    language = LanguageCheck.for_catalog(fit.titles, multilingual="multilingual" in (config.embed_model or "").lower())
    assistant = Assistant(index, backend=backend, policies=policies, ranker=ranker, vocab=fit.vocab,
                          config=assistant_config, acts=ActClassifier.load(embedder=index.embedder), language=language,
                          sessions=sessions)
    chatlog = open_chatlog(config)
    shop = Shop(config, index, events, fit.recommender, policies, assistant, chatlog, fit.predictor, fit.description,
                report, demo=demo, unavailable=fit.unavailable, synced_upto=fit.upto)
    assistant.on_cart = shop.chat_cart_action  # "add it to my cart" in the chat fills the same cart as the button
    return shop


__all__ = ["Shop", "load_shop", "parse_conversation", "EVENT_TYPES"]
