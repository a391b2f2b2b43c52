"""Keeps one replica's live recommender in step with the others: every replica writes events to the same behaviour
store (PostgreSQL with --db-url), and each tails it by sequence number, so a click accepted by any replica changes
every replica's recommendations within a poll interval. Deletions travel the same way (a notice naming a hash of
the user's key), and a periodic refit picks up catalog changes (a new ingest, another replica's upsert).

    sync = ReplicaSync(shop, interval_s=0.25, refit_s=3600).start()   # app.py starts it; tests call step()

Why tail the store instead of publishing on Redis: the store is the durable record, so nothing can be missed by a
replica that was busy, restarting or briefly cut off; it needs no second channel to keep consistent with the first.
One subtlety: with several writers a transaction holding a lower sequence number can commit after a higher one was
read, so numbers skipped over are asked for again until they appear or GAP_WAIT_S passes (a rolled-back insert
leaves a hole for ever).
"""
from __future__ import annotations

import logging
import threading
import time

from assistant.serving.shop import Shop

log = logging.getLogger("assistant.replicas")

GAP_WAIT_S = 10.0  # how long a skipped sequence number is looked for again


class ReplicaSync:
    def __init__(self, shop: Shop, interval_s: float = 0.25, refit_s: float = 0.0):
        self.shop, self.interval_s, self.refit_s = shop, interval_s, refit_s
        self.cursor = shop.synced_upto  # the recommender was fitted on everything up to here
        self.deletion_cursor = shop.events.last_deletion()
        self.gaps: dict[int, float] = {}  # skipped sequence number -> when first missed
        # The first poll takes the catalog's fingerprint (the start does not wait for it), then every refit_s.
        self._next_refit = time.monotonic() if refit_s > 0 else float("inf")
        self._stop = threading.Event()
        shop._syncing = True

    def step(self) -> int:
        """One poll: apply what other replicas stored and drop what they deleted. Returns events applied."""
        rows = self.shop.events.since(self.cursor, also=sorted(self.gaps))
        now = time.monotonic()
        for seq, _ in rows:
            self.gaps.pop(seq, None)
        seqs = [seq for seq, _ in rows if seq > self.cursor]
        if seqs:
            for missing in sorted(set(range(self.cursor + 1, seqs[-1])) - set(seqs))[:1000]:
                self.gaps.setdefault(missing, now)
            self.cursor = seqs[-1]
        self.gaps = {seq: t for seq, t in self.gaps.items() if now - t < GAP_WAIT_S}
        applied = self.shop.apply_stored(rows)
        notices = self.shop.events.deletions_since(self.deletion_cursor)
        if notices:
            self.deletion_cursor = notices[-1][0]
            self.shop.forget_deleted({h for _, h in notices})
        if now >= self._next_refit:
            self._next_refit = now + self.refit_s
            if self.shop.refit():
                log.warning("catalog changed: recommender and vocabulary refitted")
                self.cursor = max(self.cursor, self.shop.synced_upto)
        return applied

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.step()
            except Exception as exc:  # the database briefly away: try again next poll, never stop syncing
                log.warning("replica sync: %s", exc)

    def start(self) -> ReplicaSync:
        threading.Thread(target=self._run, name="replica-sync", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
