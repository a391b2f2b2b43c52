"""The behaviour store: durability, deletion, pseudonymisation, validation with reasons, CSV import."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from catalog.events import EventStore, load_events_csv
from catalog.schema import Event


def _events():
    return [
        Event("alice", "p1", "view", 100.0, "s1"),
        Event("alice", "p2", "purchase", 300.0, "s1"),
        Event("alice", "p3", "click", 200.0, "s1"),
        Event("bob", "p1", "add_to_cart", 150.0, "s2"),
    ]


def test_append_history_is_time_ordered_and_durable_across_reopen(tmp_path):
    path = str(tmp_path / "events.sqlite3")
    store = EventStore(path)
    report = store.append_many(_events())
    assert report.accepted == 4 and report.ok
    store.close()

    store = EventStore(path)
    assert store.count() == 4
    assert [e.item_id for e in store.history("alice")] == ["p1", "p3", "p2"]
    assert [e.item_id for e in store.history("alice", limit=2)] == ["p3", "p2"]
    assert store.history("nobody") == []
    assert sorted(store.users()) == ["alice", "bob"]
    assert [e.item_id for e in store.all_events()] == ["p1", "p2", "p3", "p1"]
    # What we read back is the committed file itself, in WAL mode.
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 4


def test_delete_user_removes_rows_and_they_stay_gone_after_reopen(tmp_path):
    path = str(tmp_path / "events.sqlite3")
    store = EventStore(path)
    store.append_many(_events())
    assert store.delete_user("alice") == 3
    assert store.delete_user("alice") == 0
    store.close()
    store = EventStore(path)
    assert store.history("alice") == []
    assert store.count() == 1 and store.users() == ["bob"]
    store.close()
    raw = open(path, "rb").read() + ((tmp_path / "events.sqlite3-wal").read_bytes() if (tmp_path / "events.sqlite3-wal").exists() else b"")
    assert b"alice" not in raw and b"bob" in raw  # the bytes are gone from disk, not only from queries


def test_pseudonymised_ids_are_not_stored_in_clear(tmp_path):
    path = str(tmp_path / "events.sqlite3")
    store = EventStore(path, pseudonym_key="secret-key")
    store.append_many(_events())
    stored = {r[0] for r in sqlite3.connect(path).execute("SELECT user_id FROM events")}
    assert "alice" not in stored and "bob" not in stored
    assert store.user_key("alice") in stored and len(store.user_key("alice")) == 32
    assert len(store.history("alice")) == 3  # lookups hash the same way
    assert EventStore(path, pseudonym_key="other-key").history("alice") == []
    assert store.delete_user("alice") == 3
    raw = open(path, "rb").read() + (open(path + "-wal", "rb").read() if (tmp_path / "events.sqlite3-wal").exists() else b"")
    assert b"alice" not in raw


def test_invalid_events_are_reported_with_index_and_reason_and_valid_ones_kept(tmp_path):
    store = EventStore(str(tmp_path / "e.sqlite3"))
    batch = [
        Event("u1", "p1", "view", 1.0),
        Event("", "p1", "view", 1.0),
        Event("u1", "", "view", 1.0),
        Event("u1", "p1", "wishlist", 1.0),
        Event("u1", "p1", "view", float("nan")),
        {"user_id": "u1", "item_id": "p1", "type": "click"},
        "not an event",
        {"user_id": "u1", "item_id": "ghost", "type": "click", "timestamp": "2024-05-01T10:00:00Z"},
        {"user_id": "u1", "item_id": "p2", "type": "purchase", "timestamp": "2024-05-01T10:00:00Z"},
    ]
    report = store.append_many(batch, known_items={"p1", "p2"})
    assert report.accepted == 2
    reasons = {r.index: r.reason for r in report.rejected}
    assert set(reasons) == {1, 2, 3, 4, 5, 6, 7}
    assert "user_id" in reasons[1] and "item_id" in reasons[2] and "wishlist" in reasons[3]
    assert "finite" in reasons[4] and "timestamp" in reasons[5] and "Event" in reasons[6] and "ghost" in reasons[7]
    hist = store.history("u1")
    assert [e.item_id for e in hist] == ["p1", "p2"] and hist[1].timestamp == 1714557600.0


def test_concurrent_appends_from_threads_are_all_committed(tmp_path):
    store = EventStore(str(tmp_path / "e.sqlite3"))

    def work(n):
        for i in range(25):
            store.append(Event(f"user{n}", f"p{i}", "view", float(i)))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 100 and len(store.history("user3")) == 25


def test_load_events_csv_reports_bad_rows(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,item_id,type,timestamp,session_id\n"
        "u1,p1,view,1700000000,s\n"
        "u1,p2,purchase,2023-11-14T22:13:20+00:00,s\n"
        "u2,p1,like,1700000000,s\n"
        "u2,p1,view,yesterday,s\n"
        ",p1,view,1700000000,s\n"
        "u3,p1,view,1700000000,s,extra\n"
    )
    events, rejects = load_events_csv(str(path))
    assert [(e.user_id, e.item_id, e.timestamp) for e in events] == [("u1", "p1", 1700000000.0), ("u1", "p2", 1700000000.0)]
    assert [r.index for r in rejects] == [3, 4, 5, 6]
    assert "like" in rejects[0].reason and "yesterday" in rejects[1].reason and "user_id" in rejects[2].reason
    assert "cells" in rejects[3].reason
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item\nu1,p1\n")
    with pytest.raises(ValueError, match="missing column"):
        load_events_csv(str(bad))
