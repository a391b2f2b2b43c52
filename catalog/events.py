"""The behaviour store: every view, click, add-to-cart and purchase as one row in SQLite, append-only.

Durable by default: WAL journal with synchronous=FULL, and an append returns only after its transaction
committed, so an acknowledged event survives a crash. Invalid events are never dropped silently: `append_many`
commits the valid ones and returns the rejected ones with their index and reason. When a pseudonym key is set,
user ids are stored as a keyed hash (HMAC-SHA256) and every lookup and delete hashes the same way.

    store = EventStore("data/events.sqlite3", pseudonym_key=os.environ.get("SHOP_PSEUDONYM_KEY"))
    report = store.append_many(events, known_items=set(catalog_ids))
    store.history("alice"); store.delete_user("alice")
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import math
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Iterable, Iterator

from catalog.schema import EVENT_TYPES, Event
from catalog.text import valid_text

PSEUDONYM_HEX_CHARS = 32  # 128 bits of the HMAC: collisions are out of reach for any shop's user count

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    type TEXT NOT NULL,
    timestamp REAL NOT NULL,
    session_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_user_time ON events (user_id, timestamp, id);
CREATE TABLE IF NOT EXISTS deletions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_hash TEXT NOT NULL,
    at REAL NOT NULL
);
"""
DELETION_NOTICE_S = 600  # how long "user X was deleted" stays for other replicas to drop their copies (then purged)


def deletion_hash(user_key: str) -> str:
    """How a deletion notice names the user: not the id itself (that is what was just deleted)."""
    return hashlib.sha256(user_key.encode("utf-8")).hexdigest()


class StoreUnavailable(RuntimeError):
    """A store's server (PostgreSQL, Redis) cannot be reached right now: the API answers 503, nothing is lost."""


@dataclass
class Reject:
    index: int  # position in the input batch (or CSV data row number, 1-based after the header)
    reason: str
    payload: Any = None


@dataclass
class AppendReport:
    accepted: int = 0
    rejected: list[Reject] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # the store's sequence numbers of the accepted events

    @property
    def ok(self) -> bool:
        return not self.rejected


def parse_timestamp(value: Any) -> float:
    """Unix seconds (number or numeric string) or ISO 8601 (naive means UTC). Raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("timestamp must be a number or an ISO 8601 string, not a boolean")
    if isinstance(value, (int, float)):
        try:
            ts = float(value)
        except OverflowError:  # an integer with hundreds of digits
            raise ValueError(f"timestamp {value!r} is not finite") from None
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            ts = float(text)
        except ValueError:
            try:
                dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"timestamp {value!r} is neither unix seconds nor ISO 8601") from None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            try:
                ts = dt.timestamp()
            except (OverflowError, ValueError):  # "0001-01-01T00:00:00+14:00" is before year 1 in UTC
                raise ValueError(f"timestamp {value!r} is out of range") from None
    else:
        raise ValueError(f"timestamp {value!r} is neither unix seconds nor ISO 8601")
    if not math.isfinite(ts):
        raise ValueError(f"timestamp {value!r} is not finite")
    return ts


def validate_event(event: Any, known_items: set[str] | None = None) -> tuple[Event | None, str]:
    """(Event, "") when valid, else (None, reason). Accepts an Event or a dict with the same fields."""
    if isinstance(event, Event):
        data = {"user_id": event.user_id, "item_id": event.item_id, "type": event.type,
                "timestamp": event.timestamp, "session_id": event.session_id}
    elif isinstance(event, dict):
        data = event
    else:
        return None, f"expected an Event or a dict, got {type(event).__name__}"
    for key in ("user_id", "item_id", "type", "timestamp"):
        if key not in data or data[key] is None:
            return None, f"missing field {key!r}"
    user_id, item_id = data["user_id"], data["item_id"]
    if not isinstance(user_id, (str, int)) or not str(user_id).strip():
        return None, "empty or invalid user_id"
    if not isinstance(item_id, (str, int)) or not str(item_id).strip():
        return None, "empty or invalid item_id"
    if data["type"] not in EVENT_TYPES:
        return None, f"unknown event type {data['type']!r}; expected one of {', '.join(EVENT_TYPES)}"
    try:
        ts = parse_timestamp(data["timestamp"])
    except ValueError as e:
        return None, str(e)
    item_id = valid_text(str(item_id).strip())
    if known_items is not None and item_id not in known_items:
        return None, f"unknown item id {item_id!r} (not in the catalog)"
    session = valid_text(str(data.get("session_id") or ""))
    return Event(str(user_id).strip(), item_id, data["type"], ts, session), ""


class BaseEventStore:
    """What every behaviour store shares: validation, pseudonymised user keys. A store adds the storage: SQLite
    here, PostgreSQL in catalog/events_pg.py (`open_event_store` picks one). Every event gets a sequence number;
    `since` reads the ones after a number, so each replica can apply what the others stored."""

    _key: bytes | None = None

    def __enter__(self) -> BaseEventStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        pass

    @property
    def pseudonymised(self) -> bool:
        return self._key is not None

    def user_key(self, user_id: str) -> str:
        """What is stored for a user id: the id itself, or its keyed hash when pseudonymisation is on."""
        # A lone surrogate (valid in JSON, not in UTF-8) could be neither stored nor hashed: replaced, as everywhere.
        user_id = valid_text(str(user_id).strip())
        if self._key is None:
            return user_id
        return hmac.new(self._key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]

    def append(self, event: Event | dict, known_items: set[str] | None = None) -> AppendReport:
        return self.append_many([event], known_items)

    def append_many(self, events: Iterable[Event | dict], known_items: set[str] | None = None) -> AppendReport:
        """Validate every event; commit all valid ones in one transaction; report the rest with reasons."""
        report = AppendReport()
        rows = []
        for n, raw in enumerate(events):
            event, reason = validate_event(raw, known_items)
            if event is None:
                report.rejected.append(Reject(n, reason, raw))
                continue
            rows.append((self.user_key(event.user_id), event.item_id, event.type, event.timestamp, event.session_id))
        if rows:
            report.ids = self._insert(rows)
        report.accepted = len(rows)
        return report

    def _insert(self, rows: list[tuple]) -> list[int]:
        raise NotImplementedError

    def all_events(self) -> list[Event]:
        return list(self.iter_events())

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        """A query's rows; `?` placeholders (each store speaks its own driver's style)."""
        raise NotImplementedError

    def _param(self, text: str) -> str:
        return text  # PostgreSQL cannot hold NUL in text: its store replaces it

    def history(self, user_id: str, limit: int | None = None) -> list[Event]:
        """The user's events, oldest first; with limit, the most recent `limit` of them (still oldest first)."""
        key = self._param(self.user_key(user_id))
        if limit is not None:
            if limit <= 0:
                return []
            rows = self._rows("SELECT user_id, item_id, type, timestamp, session_id FROM events WHERE user_id = ? "
                              "ORDER BY timestamp DESC, id DESC LIMIT ?", (key, int(limit)))
            return [Event(*r) for r in reversed(rows)]
        return [Event(*r) for r in self._rows("SELECT user_id, item_id, type, timestamp, session_id FROM events "
                                              "WHERE user_id = ? ORDER BY timestamp, id", (key,))]

    def iter_events(self, batch_size: int = 10000, upto: int | None = None) -> Iterator[Event]:
        """Every event in insertion order (up to sequence number `upto`), streamed in batches, for training."""
        last_id, upto = 0, (2 ** 62 if upto is None else upto)
        while True:
            rows = self._rows("SELECT id, user_id, item_id, type, timestamp, session_id FROM events "
                              "WHERE id > ? AND id <= ? ORDER BY id LIMIT ?", (last_id, upto, batch_size))
            if not rows:
                return
            for r in rows:
                yield Event(*r[1:])
            last_id = rows[-1][0]

    def last_id(self) -> int:
        return int(self._rows("SELECT COALESCE(MAX(id), 0) FROM events")[0][0])

    def deletions_since(self, after: int) -> list[tuple[int, str]]:
        """(notice number, deletion_hash of the user key) of the users deleted after notice `after`."""
        return [(int(i), h) for i, h in self._rows("SELECT id, user_hash FROM deletions WHERE id > ? ORDER BY id",
                                                   (after,))]

    def last_deletion(self) -> int:
        return int(self._rows("SELECT COALESCE(MAX(id), 0) FROM deletions")[0][0])

    def count(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM events")[0][0])

    def users(self) -> list[str]:
        """Stored user ids (pseudonyms when a key is configured)."""
        return [r[0] for r in self._rows("SELECT DISTINCT user_id FROM events ORDER BY user_id")]


class EventStore(BaseEventStore):
    """SQLite-backed, append-only event log. Thread-safe: one connection per thread, WAL lets readers run
    alongside the single writer."""

    def __init__(self, path: str, pseudonym_key: str | None = None):
        self.path = path
        self._key = pseudonym_key.encode("utf-8") if pseudonym_key else None
        self._local = threading.local()
        self._write_lock = threading.Lock()
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        conn = self._conn()
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal" and path != ":memory:":
            raise RuntimeError(f"could not switch {path} to WAL journal mode (got {mode!r})")
        conn.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)  # explicit BEGIN/COMMIT below
            conn.execute("PRAGMA synchronous=FULL")  # a committed transaction is on disk before append returns
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA secure_delete=ON")  # "delete my data" overwrites the freed pages, not just unlinks
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _insert(self, rows: list[tuple]) -> list[int]:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")  # the one writer: the rows get consecutive ids
            try:
                conn.executemany("INSERT INTO events (user_id, item_id, type, timestamp, session_id) VALUES (?, ?, ?, ?, ?)", rows)
                last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return list(range(last - len(rows) + 1, last + 1))

    def since(self, after: int, also: Iterable[int] = (), limit: int = 10000) -> list[tuple[int, Event]]:
        """(sequence number, event) after `after`, plus the numbers in `also` (ones skipped earlier), in order."""
        also = [int(i) for i in also][:500]
        extra = f" OR id IN ({','.join('?' * len(also))})" if also else ""
        rows = self._conn().execute(
            f"SELECT id, user_id, item_id, type, timestamp, session_id FROM events WHERE id > ?{extra} "
            "ORDER BY id LIMIT ?", (after, *also, limit)).fetchall()
        return [(r[0], Event(*r[1:])) for r in rows]

    def delete_user(self, user_id: str) -> int:
        """"Delete my data": removes every event of the user; returns the number of rows deleted. A notice (a hash
        of the key, kept DELETION_NOTICE_S) tells the other replicas to drop the user's live history too."""
        conn = self._conn()
        key = self.user_key(user_id)
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                n = conn.execute("DELETE FROM events WHERE user_id = ?", (key,)).rowcount
                now = time.time()
                conn.execute("DELETE FROM deletions WHERE at < ?", (now - DELETION_NOTICE_S,))
                conn.execute("INSERT INTO deletions (user_hash, at) VALUES (?, ?)", (deletion_hash(key), now))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        # Deleted rows may linger in the WAL until a checkpoint; fold it in so the data is gone from disk too.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(n)

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._conn().execute(sql, params).fetchall()


def load_events_csv(path: str, known_items: set[str] | None = None) -> tuple[list[Event], list[Reject]]:
    """Read a CSV with columns user_id,item_id,type,timestamp[,session_id]; timestamp is unix seconds or ISO 8601.
    Returns the valid events and the rejected rows (row number counted from 1 after the header) with reasons."""
    events, rejects = [], []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("user_id", "item_id", "type", "timestamp") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; found {reader.fieldnames}")
        for n, row in enumerate(reader, start=1):
            if None in row:  # more cells than header columns
                rejects.append(Reject(n, f"row has {len(row) - 1 + len(row[None])} cells, header has {len(row) - 1}", row))
                continue
            event, reason = validate_event({k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}, known_items)
            if event is None:
                rejects.append(Reject(n, reason, row))
            else:
                events.append(event)
    return events, rejects
