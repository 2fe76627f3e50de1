"""Reading and writing warehouse tables: the one home of the atomic write (temporary name in the
target's folder, then rename) and of the renames publishing is built from, of the sorted table write
(pipelines.engine.tables) and of where a run reads and writes its tables (`OutFolder`: staging,
published, snapshots). Publishing a run as one atomic switch is pipelines.engine.snapshots, which
also describes the layout of an output folder. Nothing here imports Dagster.
"""
from __future__ import annotations

import ctypes
import errno
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import polars as pl

from pipelines.engine.tables import sort_columns, table_name

PARQUET_COMPRESSION = "zstd"
# DuckDB writes one row group per thread at a time: at 122,880 rows (DuckDB's own default) a sorted 10M-row
# partb_lines is written in 13 s against 18 s at 1,000,000 (benchmarks/RESULTS.md, 2026-12-02).
ROW_GROUP_SIZE = 122_880


# --------------------------------------------------------------------------------------------
# Atomic writes


def _temporary_name(path: Path, suffix: str = "tmp") -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.{suffix}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path` (the caller writes a file or a folder there); on success
    it replaces `path` in one rename, on failure it is removed. A crash never leaves half a file under
    the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    try:
        yield tmp
        if tmp.is_dir() or path.is_dir():  # a folder table, or one replacing a folder: swapped whole
            swap_dir(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_frame(df: pl.DataFrame, path: str | Path) -> int:
    """A Polars frame to Parquet (zstd), atomically, rows sorted by the table's key then every other
    column (pipelines.engine.tables), so the same frame always gives the same bytes. Returns the row count."""
    order = sort_columns(table_name(path), df.columns)
    with atomic_path(path) as tmp:
        df.sort(order, nulls_last=True, maintain_order=True).write_parquet(tmp, compression=PARQUET_COMPRESSION)
    return df.height


def _copy_sorted(con, query: str, order: str, target: Path) -> int:
    from pipelines.engine.duck import sql_literal

    con.execute(f"COPY (SELECT * FROM ({query}) ORDER BY {order}) TO {sql_literal(str(target))} "
                f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
    return con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(str(target))})").fetchone()[0]


def write_query(con, query: str, path: str | Path, shards: int = 1) -> int:
    """A DuckDB query's result to Parquet (zstd), atomically, sorted like write_frame. Returns the row
    count. With `shards` > 1 the table is a folder of one file per beneficiary shard (pipelines.engine.shards):
    the result is materialized once, then each shard's rows are written sorted (an ORDER BY per file is
    what makes the bytes the same on every rerun; DuckDB's PARTITION_BY writes are not)."""
    from pipelines.engine.shards import SHARD_KEY, shard_expression, shard_file

    columns = [r[0] for r in con.execute(f"DESCRIBE {query}").fetchall()]
    order = ", ".join(f'"{c}" NULLS LAST' for c in sort_columns(table_name(path), columns))
    if shards == 1:
        with atomic_path(path) as tmp:
            return _copy_sorted(con, query, order, tmp)
    if SHARD_KEY not in columns:
        raise ValueError(f"{table_name(path)} has no {SHARD_KEY} column to shard by")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _shard_rows AS SELECT *, {shard_expression(shards)} AS _shard "
                f"FROM ({query})")
    rows = 0
    try:
        with atomic_path(path) as tmp:
            tmp.mkdir()
            for k in range(shards):
                rows += _copy_sorted(con, f"SELECT * EXCLUDE (_shard) FROM _shard_rows WHERE _shard = {k}", order,
                                     shard_file(tmp, k, shards))
    finally:
        con.execute("DROP TABLE IF EXISTS _shard_rows")
    return rows


def rewrite_sorted(source: str | Path, drop: list[int], added, path: str | Path, table: str = "") -> int:
    """`source` (a table file written sorted by write_query) without its rows at positions `drop`, with the
    Arrow table `added` (the same columns, sorted the same way, no null in the sort key) merged in, written
    to `path` atomically one row group at a time: a change of a few rows costs one pass over the file, not a
    sort of it, and little memory. The next row group is read and merged while one is written (Arrow
    releases the GIL). `table` names the table when `path` is one of its shard files. Returns the row count."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    src = pq.ParquetFile(source)
    groups = _merged_row_groups(src, drop, added, sort_columns(table or table_name(path), src.schema_arrow.names))
    rows = 0
    with atomic_path(path) as tmp, ThreadPoolExecutor(1) as reader:
        with pq.ParquetWriter(tmp, src.schema_arrow, compression=PARQUET_COMPRESSION) as writer:
            ahead = reader.submit(next, groups, None)
            while (group := ahead.result()) is not None:
                ahead = reader.submit(next, groups, None)
                writer.write_table(group, row_group_size=ROW_GROUP_SIZE)
                rows += group.num_rows
    return rows


def _merged_row_groups(src, drop: list[int], added, order: list[str]):
    """rewrite_sorted's row groups: each of `src`'s less its dropped rows, with the added rows sorting up
    to its last row merged in (the last one takes the rest)."""
    import bisect

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = src.schema_arrow
    added = pa.Table.from_arrays([added.column(n).cast(f.type) for n, f in zip(schema.names, schema)], schema=schema)
    added_keys = list(zip(*(added.column(c).to_pylist() for c in order)))
    drop = np.asarray(sorted(drop), dtype=np.int64)
    start = taken = 0
    for i in range(src.num_row_groups):
        group = src.read_row_group(i)
        n = group.num_rows
        last = tuple(group.column(c)[n - 1].as_py() for c in order) if n else None
        lo, hi = np.searchsorted(drop, [start, start + n])
        if hi > lo:
            keep = np.ones(n, dtype=bool)
            keep[drop[lo:hi] - start] = False
            group = group.filter(pa.array(keep))
        start += n
        upto = len(added_keys) if i == src.num_row_groups - 1 or last is None else \
            bisect.bisect_right(added_keys, last, lo=taken)
        if upto > taken:
            group = pa.concat_tables([group, added.slice(taken, upto - taken)])
            group = group.take(pc.sort_indices(group, sort_keys=[(c, "ascending") for c in order]))
            taken = upto
        yield group
    if taken < added.num_rows:  # a source without row groups
        yield added.slice(taken)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def swap_dir(src: Path, dst: Path) -> None:
    """Replace `dst` by `src`, either of them a folder or a file (two renames on one file system; the
    old copy is removed afterwards)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    old = _temporary_name(dst, "old")
    if dst.exists() or dst.is_symlink():
        os.replace(dst, old)
    os.replace(src, dst)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Reading


def parquet_files(path: str | Path) -> list[str]:
    """The Parquet files of a table (the file, or every Parquet file of a sharded table's folder), as an
    explicit list: paths are never globbed, so `[` or `]` in a folder name works."""
    path = Path(path)
    return sorted(str(p) for p in path.glob("*.parquet")) if path.is_dir() else [str(path)]


def scan_frame(path: str | Path) -> pl.LazyFrame:
    return pl.scan_parquet(parquet_files(path), glob=False)


def read_frame(path: str | Path, columns: list[str] | None = None) -> pl.DataFrame:
    return pl.read_parquet(parquet_files(path), columns=columns, glob=False)


def parquet_row_count(path: str | Path) -> int:
    import pyarrow.parquet as pq

    path = Path(path)
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


class TableMissing(Exception):
    """An upstream table this stage reads has not been written. str() is the user message."""


# --------------------------------------------------------------------------------------------
# Where a run reads and writes

# The output folder's layout: the one home of every name in OUT (readers and writers use OutFolder).
WAREHOUSE, REPORTS = "warehouse", "reports"  # links through CURRENT into the published snapshot
SNAPSHOTS, CURRENT = "snapshots", "current"  # published snapshots; the link to the current one
STAGING = ".staging"  # a run's tables, reports and input manifest until publish (.staging/<run id>/)
TMP = ".tmp"  # DuckDB's spill folder
DQ_RESULTS = "dq_results"  # every check outcome of every run
HISTORY = "history"  # the projection's history during the PY (outside the snapshots)
SUMMARY_FILE = "run_summary.json"  # the last run's summary
REPORT_SUMMARY_FILE = "report_summary.json"  # the last `asm report`'s record (pipelines.engine.reports.trace)
KEYS = "keys"  # secrets of this OUT, never published: keys/episode-id.key (pipelines.engine.reports.episode_ids)
INSTANCE_FOLDER = ".dagster"  # the Dagster instance when DAGSTER_HOME is not set
LOCK_FILE = ".asm.lock"  # one run per OUT
STAGING_CACHE = ".ingest"  # typed input files by name and SHA-256 (the nightly run's cache)
SENSITIVITY = ".sensitivity"  # asm sensitivity's scratch folders
WHATIF = ".whatif"  # asm whatif's scratch folders (pipelines.engine.rerun)
BACKFILL = ".backfill"  # asm backfill --monthly's scratch folder (month inputs, tables, staging cache)


@dataclass(frozen=True)
class OutFolder:
    """Paths of one output folder (the layout above), for one run (`run_tag` = the Dagster run id; empty
    for library use, where tables are written straight to OUT/warehouse)."""

    out_dir: Path
    run_tag: str = ""

    @property
    def warehouse_dir(self) -> Path:
        return self.out_dir / WAREHOUSE

    @property
    def reports_dir(self) -> Path:
        return self.out_dir / REPORTS

    @property
    def staging_root(self) -> Path:
        return self.out_dir / STAGING

    @property
    def tmp_dir(self) -> Path:
        return self.out_dir / TMP

    @property
    def dq_results_dir(self) -> Path:
        return self.out_dir / DQ_RESULTS

    @property
    def history_dir(self) -> Path:
        return self.out_dir / HISTORY

    @property
    def summary_file(self) -> Path:
        return self.out_dir / SUMMARY_FILE

    @property
    def report_summary_file(self) -> Path:
        return self.out_dir / REPORT_SUMMARY_FILE

    @property
    def episode_key_file(self) -> Path:
        return self.out_dir / KEYS / "episode-id.key"

    @property
    def instance_dir(self) -> Path:
        return self.out_dir / INSTANCE_FOLDER

    @property
    def lock_file(self) -> Path:
        return self.out_dir / LOCK_FILE

    @property
    def staging_cache_dir(self) -> Path:
        return self.out_dir / STAGING_CACHE

    @property
    def sensitivity_dir(self) -> Path:
        return self.out_dir / SENSITIVITY

    @property
    def whatif_dir(self) -> Path:
        return self.out_dir / WHATIF

    @property
    def backfill_dir(self) -> Path:
        return self.out_dir / BACKFILL

    @property
    def staging_dir(self) -> Path | None:
        return self.staging_root / self.run_tag if self.run_tag else None

    @property
    def snapshots_dir(self) -> Path:
        return self.out_dir / SNAPSHOTS

    @property
    def current_link(self) -> Path:
        return self.out_dir / CURRENT

    def current_snapshot(self) -> Path | None:
        """The snapshot folder OUT/current points to (None before the first publish)."""
        link = self.current_link
        return link.resolve() if link.is_symlink() and link.exists() else None

    def published_path(self, table: str) -> Path:
        return self.warehouse_dir / f"{table}.parquet"

    def table_path(self, table: str) -> Path:
        """Where this run writes `table`: its staging folder during a run, else the warehouse."""
        return (self.staging_dir / f"{table}.parquet") if self.staging_dir else self.published_path(table)

    def read_path(self, table: str) -> Path:
        """This run's staged copy if it wrote one, else the published table (a run of part of the
        graph reads upstream tables from the warehouse)."""
        staged = self.table_path(table)
        return staged if staged.exists() else self.published_path(table)

    @property
    def reports_write_dir(self) -> Path:
        """A run's staging folder; outside a run (`asm report`), the published snapshot's reports folder that
        OUT/reports links to: the link itself is only ever switched by a publish (issue 21)."""
        if self.staging_dir:
            return self.staging_dir / REPORTS
        link = self.reports_dir
        return link.resolve() if link.is_symlink() and link.exists() else link

    def exists(self, table: str) -> bool:
        return self.read_path(table).exists()

    def read(self, table: str, columns: list[str] | None = None) -> pl.DataFrame:
        path = self.read_path(table)
        if not path.exists():
            raise TableMissing(f"table {table} not found at {path}; run the stage that writes it first")
        return read_frame(path, columns)

    def write(self, table: str, df: pl.DataFrame) -> int:
        return write_frame(df, self.table_path(table))


# --------------------------------------------------------------------------------------------
# Renames publishing is built from (pipelines.engine.snapshots): the atomic rename has one home


def _rename(src: Path, dst: Path) -> None:
    """Rename `src` to `dst` in one step (same file system): the whole folder appears at once."""
    os.rename(src, dst)


def _move(src: Path, dst: Path) -> None:
    """Rename `src` to `dst`; across file systems (EXDEV), copy then remove the source."""
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        if src.is_dir():
            shutil.copytree(src, dst)
            shutil.rmtree(src)
        else:
            shutil.copy2(src, dst)
            src.unlink()


def _symlink_replace(target: str, link: Path) -> None:
    """Make `link` a symlink to `target` in one rename (a temporary link replaces it)."""
    tmp = _temporary_name(link, "link")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where not supported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _dir_to_symlink(path: Path, target: str) -> None:
    """Replace the real folder `path` by a symlink to `target` whose content is the same: one atomic
    exchange where the system has it, else two renames (a moment without `path`)."""
    tmp = _temporary_name(path, "link")
    os.symlink(target, tmp)
    if not _exchange(tmp, path):
        old = _temporary_name(path, "old")
        os.rename(path, old)
        os.rename(tmp, path)
        tmp = old
    shutil.rmtree(tmp, ignore_errors=True)
