"""Which behaviour store a shop uses: SQLite in the data directory (the default), or PostgreSQL when --db-url
(SHOP_DB_URL) is set, shared by every replica. Both have one API (catalog/events.py BaseEventStore).

    events = open_event_store(CatalogConfig.from_env())
"""
from __future__ import annotations

from catalog.config import CatalogConfig
from catalog.events import BaseEventStore, EventStore


def open_event_store(config: CatalogConfig) -> BaseEventStore:
    if config.db_url:
        from catalog.postgres import PostgresEventStore  # only a shop that scales out needs psycopg

        return PostgresEventStore(config.db_url, pseudonym_key=config.pseudonym_key)
    return EventStore(str(config.events_path), pseudonym_key=config.pseudonym_key)
