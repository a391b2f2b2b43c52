"""The PostgreSQL behaviour store and chat log (--db-url) against a real server: the same answers as the SQLite
store, sequence numbers for the replica sync, and deletion that leaves nothing in the table files."""
from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from catalog.config import CatalogConfig
from catalog.events import EventStore, deletion_hash
from catalog.stores import open_event_store
from tests.servers import fresh_database


@pytest.fixture
def pg_url(postgres):
    server, _ = postgres
    return fresh_database(server, f"t_{uuid.uuid4().hex[:12]}")


def _events(now: float) -> list[dict]:
    return [{"user_id": "alice", "item_id": "P1", "type": "view", "timestamp": now - 30},
            {"user_id": "bob", "item_id": "P2", "type": "click", "timestamp": now - 20},
            {"user_id": "alice", "item_id": "P3", "type": "purchase", "timestamp": now - 10, "session_id": "S1"},
            {"user_id": "alice", "item_id": "P9", "type": "return", "timestamp": now},  # unknown type: rejected
            {"user_id": "carol", "item_id": "P1", "type": "view", "timestamp": True}]  # a boolean: rejected


def test_same_answers_as_sqlite(pg_url, tmp_path):
    now = time.time()
    pg = open_event_store(CatalogConfig(data_dir=tmp_path, db_url=pg_url, pseudonym_key="k3y"))
    lite = EventStore(str(tmp_path / "events.sqlite3"), pseudonym_key="k3y")
    for store in (pg, lite):
        report = store.append_many(_events(now), known_items={"P1", "P2", "P3", "P9"})
        assert report.accepted == 3 and report.ids == [1, 2, 3]
        assert [(r.index, r.reason.split(" ")[0]) for r in report.rejected] == [(3, "unknown"), (4, "timestamp")]
    assert pg.history("alice") == lite.history("alice") and len(pg.history("alice")) == 2
    assert pg.history("alice", limit=1) == lite.history("alice", limit=1)
    assert pg.all_events() == lite.all_events() and list(pg.iter_events(upto=2)) == list(lite.iter_events(upto=2))
    assert pg.since(1) == lite.since(1) and [s for s, _ in pg.since(2, also=[1])] == [1, 3]
    assert pg.users() == lite.users() and "alice" not in pg.users()  # pseudonymised: keys, not ids
    assert pg.count() == lite.count() == 3 and pg.last_id() == 3
    assert pg.delete_user("alice") == lite.delete_user("alice") == 2
    assert pg.history("alice") == [] and pg.count() == 1
    assert pg.deletions_since(0)[0][1] == lite.deletions_since(0)[0][1] == deletion_hash(pg.user_key("alice"))


def test_nul_and_surrogates_in_ids_are_stored_not_a_server_error(pg_url, tmp_path):
    pg = open_event_store(CatalogConfig(data_dir=tmp_path, db_url=pg_url))
    report = pg.append({"user_id": "ev\x00il\ud800", "item_id": "P1", "type": "view", "timestamp": time.time()})
    assert report.accepted == 1 and len(pg.history("ev\x00il\ud800")) == 1


def test_concurrent_appends_from_threads_and_replicas_are_all_committed(pg_url, tmp_path):
    config = CatalogConfig(data_dir=tmp_path, db_url=pg_url)
    stores = [open_event_store(config), open_event_store(config)]  # two "replicas" (pools are per process)

    def writer(n: int) -> None:
        for i in range(25):
            stores[n % 2].append({"user_id": f"u{n}", "item_id": f"P{i}", "type": "view", "timestamp": time.time()})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stores[0].count() == 150 and len({s for s, _ in stores[1].since(0)}) == 150


def test_deleted_rows_leave_the_table_files(postgres, pg_url, tmp_path):
    """The user's id and chat words are in the database's files before "delete my data" and gone after it (the
    write-ahead log is the documented exception: README, Security)."""
    import psycopg

    from assistant.serving.chatlog import PostgresChatLog

    _, data_dir = postgres
    pg = open_event_store(CatalogConfig(data_dir=tmp_path, db_url=pg_url))
    log = PostgresChatLog(pg_url)
    marker, word = f"zelda{uuid.uuid4().hex[:8]}", f"xylo{uuid.uuid4().hex[:8]}"
    pg.append_many([{"user_id": marker, "item_id": f"P{i}", "type": "view", "timestamp": time.time()} for i in range(50)])
    pg.append({"user_id": "other", "item_id": "P1", "type": "view", "timestamp": time.time()})
    log.append("s1", marker, "user", f"my {word} broke, mail me at ann@example.com")
    log.append("s2", "other", "user", "hello")
    assert log.conversation("s1")[0]["content"].endswith("mail me at [email]")  # redacted before storing
    assert log.sessions_of(marker) == ["s1"]

    def files_with(needle: str) -> list[str]:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")  # every page on disk
            oid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
        base = Path(data_dir) / "base" / str(oid)
        return [p.name for p in base.iterdir() if p.is_file() and needle.encode() in p.read_bytes()]

    assert files_with(marker) and files_with(word)
    assert pg.delete_user(marker) == 50 and log.delete_user(marker) == 1
    assert files_with(marker) == [] and files_with(word) == []
    assert pg.count() == 1 and log.conversation("s2") and log.conversation("s1") == []


def test_an_unreachable_database_is_a_clear_error(tmp_path):
    from tests.servers import free_port

    config = CatalogConfig(data_dir=tmp_path, db_url=f"postgresql://shop@127.0.0.1:{free_port()}/x?connect_timeout=1")
    with pytest.raises(RuntimeError, match="cannot connect to the PostgreSQL server"):
        open_event_store(config)


def test_a_database_going_away_is_store_unavailable(tmp_path):
    from catalog.events import StoreUnavailable
    from tests.servers import postgres_server

    with postgres_server() as (server, _):
        store = open_event_store(CatalogConfig(data_dir=tmp_path, db_url=fresh_database(server, "gone")))
        assert store.append({"user_id": "u", "item_id": "P1", "type": "view", "timestamp": time.time()}).accepted
    with pytest.raises(StoreUnavailable, match="try again"):  # the server is stopped now
        store.append({"user_id": "u", "item_id": "P1", "type": "view", "timestamp": time.time()})
    with pytest.raises(StoreUnavailable):
        store.history("u")
