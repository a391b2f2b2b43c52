"""Two app replicas (two `python app.py` processes on different ports) sharing Redis, PostgreSQL and a `chroma run`
server, as README "Deployment" runs them: a conversation moves between them with its constraints, an event posted
to one changes the other's recommendations within a second, killing one loses nothing it acknowledged, and
deleting a user on one removes their data from PostgreSQL and Redis. Skips with the reason when a server cannot
start (tests/servers.py)."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.servers import app_server, chroma_server, fresh_database, postgres_server, redis_server

REPO = Path(__file__).resolve().parents[1]
KEY = "replica-test-key"


def _chat(base: str, session: str, message: str, **extra) -> dict:
    r = httpx.post(base + "/api/v1/chat", json={"session_id": session, "message": message, **extra},
                   headers={"X-API-Key": KEY} if "user_id" in extra else {}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def _recommended(base: str, user: str) -> list[str]:
    r = httpx.get(base + "/api/v1/recommend", params={"user_id": user, "k": 8}, headers={"X-API-Key": KEY}, timeout=30)
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["products"]]


def test_two_replicas_share_conversations_events_and_deletions(tmp_path):
    import psycopg
    import redis

    with redis_server() as redis_url, postgres_server() as (pg_server, _), chroma_server(tmp_path) as chroma_url:
        db_url = fresh_database(pg_server, "shop")
        common = ["--llm-backend", "template", "--state-url", redis_url, "--db-url", db_url, "--chroma-url", chroma_url,
                  "--api-key", KEY]
        data = tmp_path / "data"  # the first replica builds it (demo, trained predictor); the others read it
        with app_server(data, common, tmp_path / "a.log") as (a, proc_a), \
                app_server(data, common, tmp_path / "b.log") as (b, _):
            # A conversation begun on A continues on B with its constraints, and back.
            first = _chat(a, "s1", "waterproof jacket under $150")
            assert first["products"] and "under $150" in first["constraints"], first
            cheaper = _chat(b, "s1", "cheaper")
            assert cheaper["kind"] == "refine" and cheaper["products"], cheaper
            cheapest_before = min(p["price"] for p in first["products"])
            assert "jacket" in cheaper["constraints"] and max(p["price"] for p in cheaper["products"]) < 150
            assert cheaper["constraints"] != first["constraints"] or \
                min(p["price"] for p in cheaper["products"]) <= cheapest_before
            brand = cheaper["products"][0]["brand"]
            other = _chat(a, "s1", "not that brand")
            assert f"not {brand.lower()}" in other["constraints"].lower(), other
            assert other["products"] and brand not in {p["brand"] for p in other["products"]}

            # An event accepted by A changes B's recommendations within a second.
            user = "replica-shopper"
            before = _recommended(b, user)
            posted = httpx.post(a + "/api/v1/events", headers={"X-API-Key": KEY}, timeout=30,
                                json=[{"user_id": user, "item_id": pid, "type": "purchase"} for pid in before[:3]])
            assert posted.status_code == 200 and posted.json()["accepted"] == 3, posted.text
            t0, changed = time.monotonic(), None
            while time.monotonic() - t0 < 1.0:
                if _recommended(b, user) != before:
                    changed = time.monotonic() - t0
                    break
                time.sleep(0.05)
            assert changed is not None, "B's recommendations did not change within 1 s of the event on A"
            print(f"event on A -> B's recommendations changed after {changed * 1000:.0f} ms")

            # Killing A loses nothing it acknowledged: the conversation and the events go on on B.
            _chat(a, "s1", "any in blue?")
            proc_a.send_signal(signal.SIGKILL)
            proc_a.wait(timeout=20)
            after_kill = _chat(b, "s1", "show me more")
            assert f"not {brand.lower()}" in after_kill["constraints"].lower(), after_kill
            assert "under $150" in after_kill["constraints"] or "cheaper" in after_kill["constraints"].lower() or \
                all(p["price"] < 150 for p in after_kill["products"])
            assert not set(before[:3]) & set(_recommended(b, user))  # bought: never recommended again

            # "Delete my data" on B removes the user's events and transcripts (PostgreSQL) and sessions (Redis).
            _chat(b, "s2", "a tent for two", user_id=user)
            r = redis.Redis.from_url(redis_url)
            assert any(user.encode() in k for k in r.keys("*"))
            with psycopg.connect(db_url) as conn:
                assert conn.execute("SELECT COUNT(*) FROM events WHERE user_id = %s", (user,)).fetchone()[0] == 3
                assert conn.execute("SELECT COUNT(*) FROM messages WHERE user_id = %s", (user,)).fetchone()[0] == 2
            deleted = httpx.delete(b + f"/api/v1/users/{user}", headers={"X-API-Key": KEY}, timeout=60)
            assert deleted.status_code == 200, deleted.text
            assert deleted.json()["deleted"] == {"events": 3, "sessions": 1, "messages": 2}
            with psycopg.connect(db_url) as conn:
                for table in ("events", "messages"):
                    assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE user_id = %s", (user,)).fetchone()[0] == 0
            assert not any(user.encode() in k for k in r.keys("*"))
            assert not any(user.encode() in (r.get(k) or b"") for k in r.keys("*") if r.type(k) == b"string")
