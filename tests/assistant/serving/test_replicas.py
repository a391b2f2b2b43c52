"""The replica sync (assistant/serving/replicas.py) on the session's shop: events another replica stored reach
this one's recommender, deletions another replica made drop the live history here, a catalog change refits."""
from __future__ import annotations

import time

from assistant.serving.replicas import ReplicaSync
from catalog.events import EventStore


def test_events_and_deletions_from_another_replica_reach_this_one(shop):
    other = EventStore(shop.events.path)  # another replica's handle on the same store
    sync = ReplicaSync(shop)
    try:
        sync.step()  # whatever earlier tests stored
        user, rec = "replica-user-1", shop.recommender
        item = rec.index_to_id[7]
        before = [p.id for p, _ in shop.recommend(user, k=8)]
        report = other.append_many([{"user_id": user, "item_id": item, "type": "purchase", "timestamp": time.time()}])
        assert rec.history_of(user) == []  # not seen yet
        assert sync.step() == 1
        assert [i for i, _, _ in rec.history_of(user)] == [7] and report.ids[0] == sync.cursor
        assert [p.id for p, _ in shop.recommend(user, k=8)] != before  # personalised now
        # This replica's own events are applied once, at once, and not again by the sync.
        shop.log_event(user, rec.index_to_id[8], "click")
        assert sync.step() == 0 and len(rec.history_of(user)) == 2
        other.delete_user(user)
        sync.step()
        assert rec.history_of(user) == []
    finally:
        sync.stop()
        shop._syncing = False
        other.close()


def test_skipped_sequence_numbers_are_asked_for_again(shop):
    sync = ReplicaSync(shop)
    try:
        sync.step()
        sync.gaps = {sync.cursor: time.monotonic()}  # as if a lower number had committed late
        assert sync.cursor in {s for s, _ in shop.events.since(sync.cursor, also=sorted(sync.gaps))}
        sync.step()
        assert sync.gaps == {}
    finally:
        sync.stop()
        shop._syncing = False


def test_refit_only_when_the_catalog_changed(shop):
    shop.refit()  # the first call takes the fingerprint (the start leaves that to the sync thread)
    assert shop.catalog_version and shop.refit() is False  # unchanged since
    version, rec = shop.catalog_version, shop.recommender
    shop.catalog_version = "an older catalog"
    try:
        assert shop.refit() is True
        assert shop.recommender is not rec and shop.assistant.ranker.recommender is shop.recommender
        assert shop.catalog_version == version and shop.recommend("u00001", k=3)
    finally:
        shop.catalog_version = version


def test_a_shared_store_going_away_is_a_503_not_a_traceback(shop):
    from fastapi.testclient import TestClient

    from assistant.serving.api import ApiSettings, create_api
    from assistant.sessions import RedisSessions
    from tests.servers import redis_server

    with redis_server() as url:
        sessions = RedisSessions(url)
        client = TestClient(create_api(shop, ApiSettings(api_key="k")))
        real, shop.assistant.sessions = shop.assistant.sessions, sessions
        try:
            ok = client.post("/api/v1/chat", json={"session_id": "gone-1", "message": "tent under $200"})
            assert ok.status_code == 200 and ok.json()["products"]
        except Exception:
            shop.assistant.sessions = real
            raise
    try:  # the Redis server is stopped now
        r = client.post("/api/v1/chat", json={"session_id": "gone-1", "message": "cheaper"})
        assert r.status_code == 503 and "try again" in r.json()["detail"] and "Traceback" not in r.text
        assert r.headers["retry-after"] == "5"
        streamed = client.post("/api/v1/chat/stream", json={"session_id": "gone-1", "message": "cheaper"})
        assert "event: error" in streamed.text and "try again" in streamed.text
    finally:
        shop.assistant.sessions = real
