"""Beneficiary shards: the one home of how a run splits its claims (issue 12 item 3).

Every rule from E1 to C3 (episodes, their lines, attribution, observed cost) looks at one beneficiary's
claims at a time, so the episode stage can run on N disjoint slices of the beneficiaries and give the
same rows as one run over all of them. What is not per beneficiary runs once over every shard:
  - ingest (N1 follows cross-walk chains across ids, N2 de-duplicates a claim line across files by a
    key without the beneficiary), which writes the shard files;
  - E5's last service date (the maximum over every shard's lines, read by each shard);
  - C4's winsorizing cap (a percentile over the cohort), R, B, Q, S, P and the reports.

A shard is `hash(bene_id) % N` of the current (N1) beneficiary id, computed by DuckDB when ingest
writes the beneficiary-keyed tables; the shard number is not a column, only a file name, so every
table holds the same rows whatever N is (tests/test_sharding.py compares 1 and 8 shards).

Layout: with N = 1 a table is one file, `<table>.parquet`; with N > 1 a sharded table is a folder
`<table>.parquet/` holding `shard-<k>-of-<N>.parquet` for every k (an empty shard is a file with the
schema and no rows). Readers take every file of a table (`pipelines.engine.warehouse.parquet_files`).
Nothing here imports Dagster.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

SHARD_KEY = "bene_id"
# Every shard is a step of the run (a process of its own with --workers), a file in each sharded table, and
# reads every shard's service dates (E5): beyond this many, the steps' overhead outgrows the work (issue 21).
MAX_SHARDS = 256

# Tables written one file per shard: the ingest tables keyed by beneficiary and the episode stage's
# per-beneficiary tables. Everything else is one file.
INGEST_SHARDED = ("partb_lines", "parta_claims", "beneficiaries")
EPISODE_SHARDED = ("episodes", "episode_lines", "episode_attribution", "episode_attribution_tin",
                   "episode_observed_costs")
SHARDED_TABLES = INGEST_SHARDED + EPISODE_SHARDED


class ShardError(ValueError):
    """A shard count or layout that cannot be used. str() is the user message."""


def check_shard_count(n: int) -> int:
    if isinstance(n, int) and n > MAX_SHARDS:
        raise ShardError(f"{n} shards is more than {MAX_SHARDS}: every shard is a step of its own, a file in each of "
                         f"the {len(SHARDED_TABLES)} sharded tables and a read of every shard's service dates, so "
                         "more shards only add overhead")
    if not isinstance(n, int) or not 1 <= n <= MAX_SHARDS:
        raise ShardError(f"shards must be a whole number from 1 to {MAX_SHARDS}, not {n!r}")
    return n


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0-based)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        check_shard_count(self.count)
        if not 0 <= self.index < self.count:
            raise ShardError(f"shard {self.index} does not exist in {self.count} shard(s)")

    @property
    def label(self) -> str:
        return f"{self.index + 1}/{self.count}"

    def file(self, table_path: Path) -> Path:
        """Where this shard of a table lives (the table's own path when there is one shard)."""
        return Path(table_path) if self.count == 1 else shard_file(table_path, self.index, self.count)


def shard_file(table_path: Path, index: int, count: int) -> Path:
    return Path(table_path) / f"shard-{index:03d}-of-{count:03d}.parquet"


def shard_expression(count: int, column: str = SHARD_KEY) -> str:
    """DuckDB expression of a row's shard number (0 .. count-1)."""
    return f'(hash("{column}") % {check_shard_count(count)})'


def prepare_sharded_target(table_path: Path, count: int) -> None:
    """Make `table_path` ready for `count` shard files written one by one (by steps that may run in
    parallel): a folder holding no file of another shard count. A leftover of a run with another count
    (a single file, or other shard files: only where tables are written in place, outside a staged run)
    is removed. Safe to call from several shard steps at once."""
    table_path = Path(table_path)
    if count == 1:
        if table_path.is_dir():
            shutil.rmtree(table_path, ignore_errors=True)
        return
    if table_path.is_file() or table_path.is_symlink():
        table_path.unlink(missing_ok=True)
    table_path.mkdir(parents=True, exist_ok=True)
    for f in table_path.glob("shard-*.parquet"):
        if not f.name.endswith(f"-of-{count:03d}.parquet"):
            f.unlink(missing_ok=True)


def missing_shards(table_path: Path, count: int) -> list[int]:
    """Shard numbers whose file is missing (empty when the table is complete)."""
    if count == 1:
        return [] if Path(table_path).is_file() else [0]
    return [k for k in range(count) if not shard_file(table_path, k, count).is_file()]
