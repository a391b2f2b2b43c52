"""The behaviour store in PostgreSQL, for a shop that runs several app replicas (`--db-url`, SHOP_DB_URL): the same
schema, validation, pseudonymisation and deletion guarantees as the SQLite store (catalog/events.py), and the same
API, so the shop, training and evaluation use it unchanged. `pg_pool` is shared with the chat log.

    store = PostgresEventStore("postgresql://shop:pw@localhost:5432/shop", pseudonym_key=None)
    store.append_many(events, known_items=ids); store.since(0); store.delete_user("alice")

Durability: a commit returns after PostgreSQL flushed it (synchronous_commit on, its default), so an acknowledged
event survives a crash of the app or of the database. Deletion: the rows are deleted and the table rewritten at once
(VACUUM FULL), so the deleted values leave the table's files, as SQLite's secure_delete makes them (a test scans the
files); like any database, PostgreSQL's write-ahead log keeps the old records until its segments are recycled
(README, "Security").
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Iterable, Iterator

from catalog.events import DELETION_NOTICE_S, BaseEventStore, StoreUnavailable, deletion_hash
from catalog.schema import Event

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    type TEXT NOT NULL,
    timestamp DOUBLE PRECISION NOT NULL,
    session_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_user_time ON events (user_id, timestamp, id);
CREATE TABLE IF NOT EXISTS deletions (
    id BIGSERIAL PRIMARY KEY,
    user_hash TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
"""
_SCHEMA_LOCK = 7_306_264  # advisory lock: two replicas starting at once must not race on CREATE TABLE
_POOLS: dict[str, Any] = {}
_POOLS_LOCK = threading.Lock()


def pg_pool(url: str) -> Any:
    """One connection pool per URL and process (autocommit connections; explicit transactions where needed).
    Fails at once with a clear message when the server cannot be reached."""
    with _POOLS_LOCK:
        if url not in _POOLS:
            import psycopg
            from psycopg_pool import ConnectionPool

            try:  # one direct attempt first: a wrong URL is one clear line at start, not a pool retrying for ever
                psycopg.connect(url, connect_timeout=10).close()
            except psycopg.Error as exc:
                reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                raise RuntimeError(f"cannot connect to the PostgreSQL server of --db-url (SHOP_DB_URL): {reason}") from None
            pool = ConnectionPool(url, min_size=1, max_size=8, kwargs={"autocommit": True}, open=False)
            pool.open(wait=True, timeout=30)
            _POOLS[url] = pool
        return _POOLS[url]


@contextlib.contextmanager
def pg_connection(url: str) -> Iterator[Any]:
    """A pooled connection; the server gone (restarting, network) becomes StoreUnavailable, a clear 503."""
    import psycopg
    from psycopg_pool import PoolTimeout

    try:
        with pg_pool(url).connection(timeout=10) as conn:
            yield conn
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise StoreUnavailable("the shop's database is not reachable right now; please try again shortly") from exc


def ensure_schema(url: str, ddl: str) -> None:
    with pg_connection(url) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        conn.execute(ddl)


def pg_text(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL (SQLite can): replaced like a lone surrogate, so no input fails a write."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def vacuum(url: str, table: str) -> None:
    """Deleted rows out of the table's files now. Plain VACUUM is not enough: it prunes dead tuples but leaves
    their bytes in the pages' free space (PostgreSQL has no secure_delete), so the table and its indexes are
    rewritten (VACUUM FULL: new files, the old ones truncated at commit). It locks the table while it runs:
    appends wait (README, "Security", for the measured time). It cannot run inside a transaction: autocommit."""
    with pg_connection(url) as conn:
        conn.execute(f"VACUUM FULL {table}")  # table: a constant of this package, never user text


class PostgresEventStore(BaseEventStore):
    def __init__(self, url: str, pseudonym_key: str | None = None):
        self.url = url
        self._key = pseudonym_key.encode("utf-8") if pseudonym_key else None
        ensure_schema(url, _SCHEMA)

    def _insert(self, rows: list[tuple]) -> list[int]:
        rows = [tuple(pg_text(v) for v in row) for row in rows]
        ids: list[int] = []
        with pg_connection(self.url) as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany("INSERT INTO events (user_id, item_id, type, timestamp, session_id) "
                            "VALUES (%s, %s, %s, %s, %s) RETURNING id", rows, returning=True)
            while True:
                ids.append(int(cur.fetchone()[0]))
                if not cur.nextset():
                    break
        return ids

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with pg_connection(self.url) as conn:  # the shared readers write "?"; psycopg's placeholder is "%s"
            return conn.execute(sql.replace("?", "%s"), params).fetchall()

    def _param(self, text: str) -> str:
        return pg_text(text)

    def since(self, after: int, also: Iterable[int] = (), limit: int = 10000) -> list[tuple[int, Event]]:
        """As EventStore.since. With several writers a lower id can commit after a higher one was read: the
        caller passes the skipped numbers back in `also` until they appear or time out (see assistant/serving/replicas.py)."""
        rows = self._rows("SELECT id, user_id, item_id, type, timestamp, session_id FROM events "
                          "WHERE id > ? OR id = ANY(?) ORDER BY id LIMIT ?",
                          (after, [int(i) for i in also][:500], limit))
        return [(int(r[0]), Event(*r[1:])) for r in rows]

    def delete_user(self, user_id: str) -> int:
        key = self._param(self.user_key(user_id))
        with pg_connection(self.url) as conn, conn.transaction():
            n = conn.execute("DELETE FROM events WHERE user_id = %s", (key,)).rowcount
            now = time.time()
            conn.execute("DELETE FROM deletions WHERE at < %s", (now - DELETION_NOTICE_S,))
            conn.execute("INSERT INTO deletions (user_hash, at) VALUES (%s, %s)", (deletion_hash(key), now))
        vacuum(self.url, "events")
        return int(n)
