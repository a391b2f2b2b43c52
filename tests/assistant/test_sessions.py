"""Conversations and carts between messages: the in-process store and the Redis one behave alike, and Redis
shares them between replicas (two store objects stand for two app processes)."""
from __future__ import annotations

import threading
import time

import pytest

from assistant.dialogue.constraints import Constraints
from assistant.sessions import (
    MemorySessions,
    RedisSessions,
    Session,
    SessionBusy,
    open_sessions,
    session_from_json,
    session_to_json,
)
from catalog.schema import Product


def _session() -> Session:
    s = Session()
    s.state.constraints = Constraints(max_price=100.0, exclude_brands=["Northpeak"], category="Jackets",
                                      soft={"prefer_cheaper": 1.0, "avoid_colour": "red"})
    s.state.record_shown([Product("P1", "Rain Jacket", price=79.0, attributes={"colour": "Blue"}, tags=["waterproof"])])
    s.state.last_referenced = list(s.state.shown)
    s.state.topic, s.state.topic_texts = "Jackets", ["rain jacket"]
    s.history = [{"role": "user", "content": "rain jacket under $100"}, {"role": "assistant", "content": "Here."}]
    s.user_ids = {"u1"}
    return s


def test_session_json_round_trip_keeps_everything_the_next_turn_reads():
    s = _session()
    back = session_from_json(session_to_json(s))
    assert back.state.constraints == s.state.constraints and back.state.shown == s.state.shown
    assert back.state.last_referenced == s.state.last_referenced and back.state.topic == "Jackets"
    assert back.history == s.history and back.user_ids == {"u1"}
    assert back.state.seen == ["P1"] and back.state.seen_models == s.state.seen_models == ["|rain jacket"]


@pytest.fixture(params=["memory", "redis"])
def stores(request, redis_url):
    """Two handles on one store: the same object in memory, two clients of one server for Redis."""
    if request.param == "memory":
        store = MemorySessions(max_sessions=100)
        return store, store
    import redis

    prefix = f"t{time.time_ns()}:"
    return (RedisSessions(redis_url, ttl_s=120, prefix=prefix),
            RedisSessions(client=redis.Redis.from_url(redis_url), ttl_s=120, prefix=prefix))


def test_a_conversation_continues_through_the_other_handle(stores):
    a, b = stores
    with a.open("u1/s1") as session:
        session.state.constraints = _session().state.constraints
        session.user_ids.add("u1")
    seen = b.peek("u1/s1")
    assert seen is not None and seen.state.constraints.max_price == 100.0
    assert seen.state.constraints.exclude_brands == ["Northpeak"]
    b.reset("u1/s1")
    assert a.peek("u1/s1") is None


def test_a_failed_turn_saves_nothing(stores):
    a, b = stores
    with a.open("k/fail") as session:
        session.history.append({"role": "user", "content": "first"})
    if isinstance(a, RedisSessions):  # in memory the pipeline restores its state itself (tests/assistant)
        with pytest.raises(RuntimeError), a.open("k/fail") as session:
            session.history.append({"role": "user", "content": "half done"})
            raise RuntimeError("boom")
        assert [m["content"] for m in b.peek("k/fail").history] == ["first"]


def test_carts_and_forgetting_a_user(stores):
    a, b = stores
    a.cart_add("u9/s1", "P1", user_id="u9")
    b.cart_add("u9/s1", "P2", user_id="u9")
    a.cart_add("u9/s1", "P1", user_id="u9")  # again: moves to the end, never twice
    assert b.cart("u9/s1") == ["P2", "P1"]
    assert a.cart_remove("u9/s1", "P2") and not b.cart_remove("u9/s1", "P2")
    with a.open("u9/s2") as session:
        session.user_ids.add("u9")
    with a.open("u8/s1") as session:
        session.user_ids.add("u8")
    b.forget_user("u9", key_prefix="u9/")
    assert a.peek("u9/s2") is None and a.cart("u9/s1") == [] and a.peek("u8/s1") is not None


def test_one_message_at_a_time_per_conversation_across_replicas(redis_url, monkeypatch):
    import assistant.sessions as sessions

    monkeypatch.setattr(sessions, "LOCK_WAIT_S", 0.5)
    prefix = f"lock{time.time_ns()}:"
    a, b = RedisSessions(redis_url, prefix=prefix), RedisSessions(redis_url, prefix=prefix)
    entered = threading.Event()
    release = threading.Event()

    def first_turn():
        with a.open("u/s") as session:
            session.history.append({"role": "user", "content": "slow one"})
            entered.set()
            release.wait(5)

    t = threading.Thread(target=first_turn)
    t.start()
    entered.wait(5)
    with pytest.raises(SessionBusy), b.open("u/s"):
        pass
    release.set()
    t.join()
    with b.open("u/s") as session:  # free again, and it sees the first turn
        assert session.history[-1]["content"] == "slow one"


def test_redis_keys_expire_and_hold_json_not_pickle(redis_url):
    import redis

    prefix = f"ttl{time.time_ns()}:"
    store = RedisSessions(redis_url, ttl_s=90, prefix=prefix)
    with store.open("u/s") as session:
        session.user_ids.add("u")
    store.cart_add("u/s", "P1", user_id="u")
    r = redis.Redis.from_url(redis_url)
    keys = r.keys(prefix + "*")
    assert len(keys) == 3 and all(0 < r.ttl(k) <= 90 for k in keys)
    assert r.get(prefix + "session:u/s").startswith(b"{")
    r.set(prefix + "session:u/s", b"\x80\x04not json")  # planted or from an incompatible version: a fresh start
    assert store.peek("u/s") is None


def test_a_bad_state_url_is_a_clear_error():
    with pytest.raises(ValueError, match="redis://"):
        open_sessions("http://localhost:6379")
    with pytest.raises(RuntimeError, match="cannot reach the Redis server"):
        open_sessions("redis://127.0.0.1:1/0")
    assert isinstance(open_sessions(None), MemorySessions)


def test_every_field_of_the_state_travels_through_redis():
    """A field added to SessionState or Session must be written to Redis too, or replicas would silently lose it."""
    import json
    from dataclasses import fields

    from assistant.dialogue.context import SessionState

    data = json.loads(session_to_json(_session()))
    assert set(data["state"]) == {f.name for f in fields(SessionState)}
    assert set(data) - {"state"} == {f.name for f in fields(Session)} - {"state"}
