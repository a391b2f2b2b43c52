"""Where conversations and carts live between messages: in this process (the default), or in Redis, where every
replica of the app sees the same ones, so a shopper's next message may land on any of them.

    store = MemorySessions(max_sessions=10_000)                         # python app.py
    store = RedisSessions("redis://localhost:6379/0", ttl_s=86_400)     # --state-url: shared by every replica
    with store.open("u1/s1") as session:        # locked for the whole turn (across processes with Redis)
        session.history.append(...)
        store.save("u1/s1", session)             # visible to every replica now (also done when the block ends)
    store.cart_add("u1/s1", "P1", user_id="u1"); store.cart("u1/s1"); store.forget_user("u1", key_prefix="u1/")

A block that ends in an exception saves nothing (Redis keeps the state from before the turn; the pipeline restores
its in-memory copy the same way). Redis holds each session as JSON (never pickle: whoever can write to Redis must
not be able to run code in the app), its cart as a list, and per user the set of their session keys (named by a
hash of the id) so "delete my data" finds them; every key expires `ttl_s` after its last use.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterator, Protocol

from assistant.dialogue.constraints import Constraints
from assistant.dialogue.context import SessionState
from catalog.events import StoreUnavailable
from catalog.schema import Product

log = logging.getLogger("assistant.sessions")

MAX_CART_ITEMS = 100  # products kept in one session's cart
LOCK_TTL_S = 30  # a replica that dies mid-turn blocks its conversation this long at most
LOCK_WAIT_S = 45  # how long a message waits for the same conversation's previous one (longer than LOCK_TTL_S)


@dataclass
class Session:
    state: SessionState = field(default_factory=SessionState)
    history: list[dict[str, str]] = field(default_factory=list)  # {"role", "content"} for the reply model
    user_ids: set[str] = field(default_factory=set)  # who chatted in it, so "delete my data" can drop it


class SessionBusy(RuntimeError):
    """Another message of the same conversation is still being answered (on this or another replica)."""


class SessionStore(Protocol):
    def open(self, key: str) -> contextlib.AbstractContextManager[Session]: ...
    def save(self, key: str, session: Session) -> None: ...
    def peek(self, key: str) -> Session | None: ...
    def reset(self, key: str) -> None: ...
    def forget_user(self, user_id: str, key_prefix: str | None = None) -> int: ...
    def cart(self, key: str) -> list[str]: ...
    def cart_add(self, key: str, product_id: str, user_id: str | None = None) -> None: ...
    def cart_remove(self, key: str, product_id: str) -> bool: ...


# ---- in this process ---------------------------------------------------------------------------------------------

class MemorySessions:
    """The single-process default: the least recently used sessions (and carts) are forgotten beyond max_sessions."""

    def __init__(self, max_sessions: int = 10_000):
        self.max_sessions = max_sessions
        # Each session with its lock, so whatever forgets a session (eviction, reset, deletion) forgets its lock too.
        self._sessions: OrderedDict[str, tuple[Session, threading.Lock]] = OrderedDict()
        self._carts: OrderedDict[str, list[str]] = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, key: str) -> tuple[Session, threading.Lock]:
        with self._lock:
            entry = self._sessions.pop(key, None) or (Session(), threading.Lock())
            self._sessions[key] = entry  # most recently used last
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
            return entry

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[Session]:
        session, lock = self._get(key)
        with lock:  # one message at a time per conversation
            yield session  # the object itself: changes are in place, nothing to save

    def save(self, key: str, session: Session) -> None:
        pass

    def peek(self, key: str) -> Session | None:
        entry = self._sessions.get(key)
        return entry[0] if entry else None

    def reset(self, key: str) -> None:
        with self._lock:
            self._sessions.pop(key, None)

    def forget_user(self, user_id: str, key_prefix: str | None = None) -> int:
        """Drop every session the user chatted in (and, with key_prefix, every session and cart under it)."""
        with self._lock:
            doomed = [k for k, (s, _) in self._sessions.items()
                      if user_id in s.user_ids or (key_prefix and k.startswith(key_prefix))]
            for k in doomed:
                del self._sessions[k]
            for k in [k for k in self._carts if key_prefix and k.startswith(key_prefix)]:
                del self._carts[k]
        return len(doomed)

    def cart(self, key: str) -> list[str]:
        return list(self._carts.get(key, []))

    def cart_add(self, key: str, product_id: str, user_id: str | None = None) -> None:
        with self._lock:
            cart = self._carts.pop(key, [])
            self._carts[key] = [*[i for i in cart if i != product_id], product_id][-MAX_CART_ITEMS:]
            while len(self._carts) > self.max_sessions:
                self._carts.popitem(last=False)

    def cart_remove(self, key: str, product_id: str) -> bool:
        with self._lock:
            cart = self._carts.get(key, [])
            if product_id not in cart:
                return False
            cart.remove(product_id)
            return True


# ---- in Redis, shared by every replica -----------------------------------------------------------------------------

def session_to_json(session: Session) -> str:
    state = session.state
    return json.dumps({"state": {"constraints": asdict(state.constraints), "topic_texts": state.topic_texts,
                                 "shown": [p.to_dict() for p in state.shown], "topic": state.topic,
                                 "last_referenced": [p.to_dict() for p in state.last_referenced],
                                 "last_kind": state.last_kind, "awaiting_pick": state.awaiting_pick,
                                 "seen": list(state.seen), "seen_models": list(state.seen_models)},
                       "history": session.history, "user_ids": sorted(session.user_ids)}, ensure_ascii=False)


def session_from_json(text: str | bytes) -> Session:
    data = json.loads(text)
    s = data["state"]
    known = {f.name for f in fields(Constraints)}  # a field an older or newer version wrote is ignored
    state = SessionState(constraints=Constraints(**{k: v for k, v in s["constraints"].items() if k in known}),
                         topic_texts=list(s["topic_texts"]), shown=[Product.from_dict(p) for p in s["shown"]],
                         topic=s["topic"], last_referenced=[Product.from_dict(p) for p in s["last_referenced"]],
                         last_kind=s.get("last_kind"), awaiting_pick=str(s.get("awaiting_pick") or ""),
                         seen=[str(i) for i in s.get("seen") or []],
                         seen_models=[str(m) for m in s.get("seen_models") or []])
    return Session(state, list(data["history"]), set(data["user_ids"]))


class RedisSessions:
    """Sessions, carts and per-user indexes in Redis (see the module docstring). `client` may be given instead of a
    URL (tests); the connection is checked at once so a wrong --state-url fails at start, not at the first chat."""

    def __init__(self, url: str | None = None, ttl_s: int = 86_400, prefix: str = "shop:", client: Any = None):
        import redis  # only a shop that scales out needs it

        self.redis = client or redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            raise RuntimeError(f"cannot reach the Redis server of --state-url (SHOP_STATE_URL): {exc}") from None
        self.ttl_s, self.prefix = int(ttl_s), prefix
        self._held: set[Any] = set()  # locks this process holds: kept alive while their turn runs
        self._held_lock = threading.Lock()
        threading.Thread(target=self._keep_locks, name="session-locks", daemon=True).start()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Redis gone (restarting, network) becomes StoreUnavailable: the API answers 503, not a traceback."""
        import redis

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable("the conversation store is not reachable right now; please try again shortly") from exc

    def _k(self, kind: str, key: str) -> str:
        return f"{self.prefix}{kind}:{key}"

    def _user_k(self, user_id: str) -> str:
        return self._k("user", hashlib.sha256(user_id.encode("utf-8", "replace")).hexdigest())

    def _keep_locks(self) -> None:
        while True:
            time.sleep(LOCK_TTL_S / 3)
            with self._held_lock:
                held = list(self._held)
            for lock in held:
                try:
                    lock.reacquire()  # back to LOCK_TTL_S: a live turn never loses its lock
                except Exception:  # released meanwhile, or Redis briefly away: the TTL decides
                    pass

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[Session]:
        # thread_local=False: a streamed turn may be resumed (and so release its lock) on another worker thread.
        lock = self.redis.lock(self._k("lock", key), timeout=LOCK_TTL_S, blocking_timeout=LOCK_WAIT_S,
                               thread_local=False)
        with self._guard():
            if not lock.acquire():
                raise SessionBusy("this conversation is still answering an earlier message; try again in a moment")
        with self._held_lock:
            self._held.add(lock)
        try:
            session = self.peek(key) or Session()
            try:
                yield session
            except Exception:
                raise  # a failed turn: what Redis holds is the state from before it
            except BaseException:  # the stream was closed early (client gone): keep what the turn did, as in memory
                self.save(key, session)
                raise
            self.save(key, session)
        finally:
            with self._held_lock:
                self._held.discard(lock)
            with contextlib.suppress(Exception):  # expired already: nothing to release
                lock.release()

    def save(self, key: str, session: Session) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self._k("session", key), session_to_json(session), ex=self.ttl_s)
        for user in session.user_ids:
            pipe.sadd(self._user_k(user), key)
            pipe.expire(self._user_k(user), self.ttl_s)
        pipe.expire(self._k("cart", key), self.ttl_s)  # a cart lives as long as its conversation
        with self._guard():
            pipe.execute()

    def peek(self, key: str) -> Session | None:
        with self._guard():
            raw = self.redis.get(self._k("session", key))
        if raw is None:
            return None
        try:
            return session_from_json(raw)
        except (ValueError, KeyError, TypeError) as exc:  # written by an incompatible version: start afresh
            log.warning("session %s could not be read (%s); starting a new one", key[-12:], exc)
            return None

    def reset(self, key: str) -> None:
        with self._guard():
            self.redis.delete(self._k("session", key))

    def forget_user(self, user_id: str, key_prefix: str | None = None) -> int:
        """Every session and cart of the user (the index holds both), on every replica at once."""
        user_k = self._user_k(user_id)
        with self._guard():
            keys = [k.decode("utf-8", "replace") if isinstance(k, bytes) else k for k in self.redis.smembers(user_k)]
            if keys:
                self.redis.delete(*[self._k(kind, k) for k in keys for kind in ("session", "cart")])
            self.redis.delete(user_k)
        return len(keys)

    def cart(self, key: str) -> list[str]:
        with self._guard():
            ids = self.redis.lrange(self._k("cart", key), 0, -1)
        return [i.decode("utf-8", "replace") if isinstance(i, bytes) else i for i in ids]

    def cart_add(self, key: str, product_id: str, user_id: str | None = None) -> None:
        cart_k = self._k("cart", key)
        pipe = self.redis.pipeline(transaction=True)  # atomic: two replicas adding at once lose neither
        pipe.lrem(cart_k, 0, product_id)
        pipe.rpush(cart_k, product_id)
        pipe.ltrim(cart_k, -MAX_CART_ITEMS, -1)
        pipe.expire(cart_k, self.ttl_s)
        if user_id:
            pipe.sadd(self._user_k(user_id), key)
            pipe.expire(self._user_k(user_id), self.ttl_s)
        with self._guard():
            pipe.execute()

    def cart_remove(self, key: str, product_id: str) -> bool:
        with self._guard():
            return bool(self.redis.lrem(self._k("cart", key), 0, product_id))


def open_sessions(state_url: str | None, max_sessions: int = 10_000, ttl_s: int = 86_400) -> SessionStore:
    """Redis when a URL is given (redis:// or rediss://), else this process's memory."""
    if not state_url:
        return MemorySessions(max_sessions)
    if not state_url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"--state-url must be a redis:// URL, not {state_url.split('://')[0]}://...")
    return RedisSessions(state_url, ttl_s=ttl_s)
