"""Stored chat logs (for the agent-assist view and quality review), with e-mail addresses and phone numbers
redacted before anything reaches the disk.

    log = ChatLog("data/chats.sqlite3")          # or PostgresChatLog(url); open_chatlog(config) picks one
    log.append("s1", "u00042", "user", "mail me at ann@example.com")   # stored as "mail me at [email]"
    log.conversation("s1")
"""
from __future__ import annotations

import os
import re
import sqlite3
import threading
import time

from catalog.config import CatalogConfig

# Both patterns see raw user text, so both must run in linear time: every run is bounded ({1,64}, {5,24}) and
# may only start where the run of its characters starts (the look-behinds), so no position is rescanned more
# than a bounded number of times. An unbounded `[...]+@` rescans a long run of word characters from every
# start: quadratic, and one 20,000-character message held the interpreter for a second.
EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
# International or local numbers: 7+ digits with optional +, spaces, dots, dashes and one bracketed area code.
# Prices ("$1,299.99") and short numbers (sizes, years) have too few digits or a currency sign, so they stay.
PHONE = re.compile(r"(?<![\w$€£+])(?:\+|00)?\d[\d\s().-]{5,24}\d(?![\w%])")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    user_id TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    timestamp REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_session ON messages (session_id, id);
CREATE INDEX IF NOT EXISTS messages_user ON messages (user_id);
"""


def redact(text: str) -> str:
    text = EMAIL.sub("[email]", text)
    return PHONE.sub(lambda m: "[phone]" if sum(c.isdigit() for c in m.group()) >= 7 else m.group(), text)


class ChatLog:
    def __init__(self, path: str):
        self.path = path
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten with zeros, not just unlinked
            self._local.conn = conn
        return conn

    def append(self, session_id: str, user_id: str | None, role: str, text: str) -> None:
        with self._write_lock:
            self._conn().execute("INSERT INTO messages (session_id, user_id, role, text, timestamp) VALUES (?, ?, ?, ?, ?)",
                                 (session_id, user_id or "", role, redact(text), time.time()))

    def conversation(self, session_id: str) -> list[dict[str, str]]:
        rows = self._conn().execute("SELECT role, text FROM messages WHERE session_id = ? ORDER BY id", (session_id,))
        return [{"role": r, "content": t} for r, t in rows.fetchall()]

    def sessions_of(self, user_id: str) -> list[str]:
        rows = self._conn().execute("SELECT DISTINCT session_id FROM messages WHERE user_id = ? ORDER BY id DESC", (user_id,))
        return [r[0] for r in rows.fetchall()]

    def delete_user(self, user_id: str) -> int:
        """Exactly the user's messages (another user's turns in a session they shared stay), overwritten on disk:
        secure_delete zeroes the freed pages and the WAL, which still holds the old pages, is checkpointed and
        truncated. Returns how many messages were deleted."""
        conn = self._conn()
        with self._write_lock:
            n = conn.execute("DELETE FROM messages WHERE user_id = ?", (user_id,)).rowcount
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(n)


_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL,
    user_id TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    timestamp DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_session ON messages (session_id, id);
CREATE INDEX IF NOT EXISTS messages_user ON messages (user_id);
"""


class PostgresChatLog:
    """The same log in PostgreSQL (--db-url), shared by every replica: agent assist on any of them sees the chat.
    Deleting vacuums the table at once, as the event store does (catalog/postgres.py)."""

    def __init__(self, url: str):
        from catalog.postgres import ensure_schema, pg_connection, pg_text, vacuum

        self.url, self._connection, self._text, self._vacuum = url, pg_connection, pg_text, vacuum
        ensure_schema(url, _PG_SCHEMA)

    def append(self, session_id: str, user_id: str | None, role: str, text: str) -> None:
        row = tuple(self._text(v) for v in (session_id, user_id or "", role, redact(text)))
        with self._connection(self.url) as conn:
            conn.execute("INSERT INTO messages (session_id, user_id, role, text, timestamp) VALUES (%s, %s, %s, %s, %s)",
                         (*row, time.time()))

    def conversation(self, session_id: str) -> list[dict[str, str]]:
        with self._connection(self.url) as conn:
            rows = conn.execute("SELECT role, text FROM messages WHERE session_id = %s ORDER BY id",
                                (self._text(session_id),)).fetchall()
        return [{"role": r, "content": t} for r, t in rows]

    def sessions_of(self, user_id: str) -> list[str]:
        with self._connection(self.url) as conn:
            rows = conn.execute("SELECT session_id FROM messages WHERE user_id = %s GROUP BY session_id "
                                "ORDER BY MAX(id) DESC", (self._text(user_id),)).fetchall()
        return [r[0] for r in rows]

    def delete_user(self, user_id: str) -> int:
        with self._connection(self.url) as conn:
            n = conn.execute("DELETE FROM messages WHERE user_id = %s", (self._text(user_id),)).rowcount
        self._vacuum(self.url, "messages")
        return int(n)


def open_chatlog(config: CatalogConfig) -> ChatLog | PostgresChatLog:
    """PostgreSQL when config.db_url is set, else a SQLite file in the data directory."""
    return PostgresChatLog(config.db_url) if config.db_url else ChatLog(str(config.data_dir / "chats.sqlite3"))
