"""Ingest a product file into the index: load -> clean -> embed what changed -> write, with full accounting.

Everything that can fail because of the user's input (the file, the mapping, every row) is checked before the
index is touched, and embedding happens before any write, so a failed ingest leaves the previous index as it was.
"""
from __future__ import annotations

import csv
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from catalog.clean import CleanResult, Reject, clean_table
from catalog.config import CatalogConfig
from catalog.index import ProductIndex, UpsertStats
from catalog.load import RawTable, load_table, suggest_mapping


@dataclass
class IngestReport:
    path: str
    input_rows: int
    loaded: int
    rejects: list[Reject]
    duplicates: dict[str, list[int]]
    warnings: list[Reject]
    upsert: UpsertStats
    seconds: float
    mapping: dict[str, str] = field(default_factory=dict)
    rejects_file: Path | None = None
    columns: list[str] = field(default_factory=list)  # the file's own column names

    @property
    def merged(self) -> int:
        return sum(len(rows) for rows in self.duplicates.values())

    def summary(self) -> str:
        u = self.upsert
        lines = [
            f"{self.path}: {self.input_rows} rows read -> {self.loaded} loaded, {len(self.rejects)} rejected, "
            f"{self.merged} merged duplicates (the last row with an id wins)",
            f"  index: {u.added} new, {u.updated} changed, {u.unchanged} unchanged (not re-embedded), "
            f"{u.deleted} deleted; embedding {u.embed_seconds:.1f}s, writing {u.write_seconds:.1f}s, "
            f"total {self.seconds:.1f}s",
        ]
        if self.rejects:
            reasons = Counter(_reason_kind(r.reason) for r in self.rejects)
            lines.append("  rejected: " + "; ".join(f"{n} x {kind}" for kind, n in reasons.most_common(6)))
            for r in self.rejects[:5]:
                lines.append(f"    row {r.row} (id {r.id or '-'}): {r.reason}")
            if len(self.rejects) > 5:
                lines.append(f"    ... {len(self.rejects) - 5} more")
        if self.duplicates:
            sample = ", ".join(f"{pid} (row {', '.join(map(str, rows))} replaced by a later row)"
                               for pid, rows in list(self.duplicates.items())[:3])
            lines.append(f"  duplicate ids merged: {sample}{' ...' if len(self.duplicates) > 3 else ''}")
        if self.warnings:
            lines.append(f"  {len(self.warnings)} values fixed and kept, e.g. row {self.warnings[0].row}: "
                         f"{self.warnings[0].reason}")
        if self.rejects_file:
            lines.append(f"  rejects, duplicates and fixes written to {self.rejects_file}")
        lines += self._mapping_advice()
        return "\n".join(lines)

    def _mapping_advice(self) -> list[str]:
        """When rows lack an id or title, the file most likely names them differently: say which columns it has,
        which it used, and the --map that would use the likely ones."""
        missing = sum(_reason_kind(r.reason) in ("missing id", "missing title") for r in self.rejects)
        if not missing:
            return []
        used = ", ".join(f"{ours}={theirs}" for ours, theirs in self.mapping.items()) or "none"
        lines = [f"  {missing} rows have no id or title under the names we know. The file's columns: "
                 f"{', '.join(self.columns[:30])}; used: {used}."]
        guesses = suggest_mapping(self.columns, self.mapping)
        flags = " ".join(f"--map {ours}={theirs if ' ' not in theirs else repr(theirs)}" for ours, theirs in guesses.items())
        lines.append(f"  Name the columns to use, e.g.: {flags}" if flags else
                     "  Name the columns to use with --map FIELD=COLUMN (fields: id, title, price, brand, category, ...)")
        return lines


def _reason_kind(reason: str) -> str:
    """Group 'price 'abc' is not a number' and 'price 'x1' is not a number' together in the summary."""
    for marker in ("missing id", "missing title", "negative price", "not a number", "above the plausible maximum",
                   "absurd outlier", "ambiguous number format", "not a finite number"):
        if marker in reason:
            return marker
    return reason


def write_rejects(config: CatalogConfig, source: str, result: CleanResult) -> Path | None:
    if not (result.rejects or result.duplicates or result.warnings):
        return None
    config.rejects_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    out = config.rejects_dir / f"{stamp}-{Path(source).stem}.csv"
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", "row", "id", "reason"])
        for r in result.rejects:
            writer.writerow(["rejected", r.row, r.id, r.reason])
        for pid, rows in result.duplicates.items():
            for row in rows:
                writer.writerow(["merged_duplicate", row, pid, "a later row has the same id and replaces this one"])
        for w in result.warnings:
            writer.writerow(["fixed", w.row, w.id, w.reason])
    return out


def load_and_clean(path: str | Path, fmt: str | None = None, mapping: dict[str, str] | None = None,
                   records_key: str | None = None, encoding: str = "utf-8") -> tuple[RawTable, CleanResult]:
    """Everything that depends on the user's input; raises LoadError for a malformed file."""
    table = load_table(path, fmt, mapping, records_key=records_key, encoding=encoding)
    result = clean_table(table)
    assert result.accounted(), "every input row must be loaded, rejected or merged"
    return table, result


def ingest_file(path: str | Path, config: CatalogConfig | None = None, fmt: str | None = None,
                mapping: dict[str, str] | None = None, records_key: str | None = None, encoding: str = "utf-8",
                delete_missing: bool = False, progress: bool = False, index: ProductIndex | None = None) -> IngestReport:
    """Load, clean and index one file. A malformed file raises LoadError before the index is opened."""
    config = config or CatalogConfig()
    started = time.perf_counter()
    table, result = load_and_clean(path, fmt, mapping, records_key=records_key, encoding=encoding)
    index = index or ProductIndex(config)
    stats = index.upsert(result.products, delete_missing=delete_missing, progress=progress)
    rejects_file = write_rejects(config, str(path), result)
    return IngestReport(
        path=str(path), input_rows=result.input_rows, loaded=len(result.products), rejects=result.rejects,
        duplicates=result.duplicates, warnings=result.warnings, upsert=stats,
        seconds=time.perf_counter() - started, mapping=table.mapping, rejects_file=rejects_file, columns=table.columns,
    )
