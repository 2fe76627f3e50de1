"""Reading and writing warehouse tables: the one home of the atomic write (temporary name in the
target's folder, then rename), of the sorted table write (pipelines.engine.tables), of where a run reads and
writes its tables and of publishing a run as one atomic switch.

Layout of an output folder OUT (data-contracts "Outputs"; README "Outputs"):
  OUT/snapshots/<run id>/warehouse/<table>.parquet   one published run's tables (the whole set)
  OUT/snapshots/<run id>/reports/, provenance.json   ... its reports and provenance
  OUT/current -> snapshots/<run id>                  the pointer publish switches in one rename
  OUT/warehouse -> current/warehouse, OUT/reports -> current/reports   what users and readers open
  OUT/.staging/<run id>/<table>.parquet, .../reports/        a run's outputs until every check passed
Nothing here imports Dagster.
"""
from __future__ import annotations

import ctypes
import errno
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
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

SNAPSHOTS = "snapshots"
CURRENT = "current"
PUBLISHED_PARTS = ("warehouse", "reports")  # OUT/<part> -> current/<part>


@dataclass(frozen=True)
class Warehouse:
    """Paths of one output folder, for one run (`run_tag` = the Dagster run id; empty for library
    use, where tables are written straight to OUT/warehouse)."""

    out_dir: Path
    run_tag: str = ""

    @property
    def warehouse_dir(self) -> Path:
        return self.out_dir / "warehouse"

    @property
    def reports_dir(self) -> Path:
        return self.out_dir / "reports"

    @property
    def staging_root(self) -> Path:
        return self.out_dir / ".staging"

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
        return (self.staging_dir / "reports") if self.staging_dir else self.reports_dir

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
# Publishing a run: build a whole snapshot, then switch OUT/current to it in one rename
# (issue 13: a crash or kill -9 at any moment leaves the old set or the new one, never a mix).


def _checkpoint(step: str) -> None:
    """Called between the steps of a publish; the crash tests replace it to kill the process there."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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


def _link_copy(src: Path, dst: Path) -> None:
    """Copy a file or folder as hard links (no data copied; a published file is never modified in
    place, only replaced), or as a real copy where links are not possible."""
    def link_or_copy(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    if src.is_dir():
        shutil.copytree(src, dst, copy_function=link_or_copy, symlinks=False)
    else:
        link_or_copy(src, dst)


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


def published_location(path: Path) -> Path:
    """Where a table staged at OUT/.staging/<run id>/<table>.parquet will be once the run is
    published (OUT/snapshots/<run id>/warehouse/<table>.parquet); other paths unchanged."""
    path = Path(path)
    if path.parent.parent.name == ".staging":
        return path.parent.parent.parent / SNAPSHOTS / path.parent.name / "warehouse" / path.name
    return path


class LayoutError(Exception):
    """OUT holds something publish must not replace. str() is the one-line user message."""


def _foreign(out: Path, part: str) -> str | None:
    path = out / part
    if path.is_symlink():
        target = os.readlink(path)
        ok = target.startswith(f"{SNAPSHOTS}/") if part == CURRENT else target == f"{CURRENT}/{part}"
        return None if ok else f"a link to {target} made outside asm"
    if path.is_dir() and os.path.ismount(path):
        return "a mount point"
    if path.exists() and not path.is_dir():
        return "a file"
    return None


def check_layout(out_dir: Path) -> None:
    """Refuse (LayoutError) an OUT whose warehouse/reports/current asm cannot manage as links."""
    out = Path(out_dir)
    for part in (*PUBLISHED_PARTS, CURRENT):
        what = _foreign(out, part)
        if what:
            raise LayoutError(
                f"{out / part} is {what}; asm publishes each run as OUT/snapshots/<run> and manages "
                f"OUT/{part} as a link (to keep the tables on another file system, make OUT/{SNAPSHOTS} a link "
                f"there, or choose --out there): move it away and run again")


def ensure_layout(out_dir: Path) -> None:
    """Bring OUT to the snapshot layout and repair its links. Real folders at OUT/warehouse,
    OUT/reports or OUT/current (an older version's layout, library writes, a copied folder) are
    adopted into a new snapshot first, so every link switch shows the same content as before."""
    wh = Warehouse(Path(out_dir))
    out = wh.out_dir
    check_layout(out)
    real = {part: out / part for part in (*PUBLISHED_PARTS, CURRENT)
            if (out / part).is_dir() and not (out / part).is_symlink()}
    if real:
        current = wh.current_snapshot() or real.get(CURRENT)
        adopted = wh.snapshots_dir / f"adopted-{uuid.uuid4().hex[:12]}"
        partial = wh.snapshots_dir / f".{adopted.name}.partial"
        partial.mkdir(parents=True)
        for part in PUBLISHED_PARTS:
            src = real.get(part) or (current / part if current is not None else None)
            if src is not None and src.is_dir():
                _link_copy(src, partial / part)
        os.rename(partial, adopted)
        _checkpoint("adopted")
        if CURRENT in real:
            _dir_to_symlink(out / CURRENT, f"{SNAPSHOTS}/{adopted.name}")
        else:
            _symlink_replace(f"{SNAPSHOTS}/{adopted.name}", out / CURRENT)
        _checkpoint("adopted-current")
        for part in PUBLISHED_PARTS:
            if part in real:
                _dir_to_symlink(out / part, f"{CURRENT}/{part}")
                _checkpoint(f"adopted-{part}")
    if wh.current_snapshot() is None:
        return
    for part in PUBLISHED_PARTS:
        link = out / part
        if not link.is_symlink() or os.readlink(link) != f"{CURRENT}/{part}":
            _symlink_replace(f"{CURRENT}/{part}", link)


@dataclass
class Published:
    tables: list[str] = field(default_factory=list)  # tables this run wrote
    kept: list[str] = field(default_factory=list)  # tables carried over from the previous snapshot
    reports: bool = False  # whether this run wrote the reports
    snapshot: Path | None = None


def _build_snapshot(wh: Warehouse, staging: Path, partial: Path, extra_files: dict[str, str]) -> Published:
    """Fill `partial` with the run's staged tables and reports, plus every table (and the reports)
    of the current snapshot that this run did not write, so the new snapshot is whole."""
    current = wh.current_snapshot()
    result = Published()
    (partial / "warehouse").mkdir(parents=True)
    for src in sorted(staging.glob("*.parquet")):
        if not src.name.startswith("."):
            _move(src, partial / "warehouse" / src.name)
            result.tables.append(src.name.removesuffix(".parquet"))
    if current is not None and (current / "warehouse").is_dir():
        for src in sorted((current / "warehouse").glob("*.parquet")):
            if not (partial / "warehouse" / src.name).exists():
                _link_copy(src, partial / "warehouse" / src.name)
                result.kept.append(src.name.removesuffix(".parquet"))
    if (staging / "reports").is_dir():
        _move(staging / "reports", partial / "reports")
        result.reports = True
    elif current is not None and (current / "reports").is_dir():
        _link_copy(current / "reports", partial / "reports")
    for name, text in extra_files.items():
        (partial / name).write_text(text, encoding="utf-8")
    return result


def publish_run(wh: Warehouse, keep_snapshots: int = 2, extra_files: dict[str, str] | None = None) -> Published:
    """Publish the run's staged outputs as a new snapshot and switch OUT/current to it in one rename.
    Steps (each a `_checkpoint`): the snapshot is built under a hidden name, renamed into place,
    OUT/current is switched, then old snapshots beyond `keep_snapshots` and the staging are removed.
    Before the switch every reader sees the previous set; after it, the new one."""
    staging = wh.staging_dir
    if staging is None or not staging.is_dir():
        return Published()
    ensure_layout(wh.out_dir)
    name = wh.run_tag
    snapshot = wh.snapshots_dir / name
    partial = wh.snapshots_dir / f".{name}.partial"
    result = _build_snapshot(wh, staging, partial, extra_files or {})
    os.utime(partial)  # snapshots are ordered by this time (prune_snapshots)
    _fsync_dir(partial)
    _checkpoint("built")
    os.rename(partial, snapshot)
    _fsync_dir(wh.snapshots_dir)
    _checkpoint("sealed")
    _symlink_replace(f"{SNAPSHOTS}/{name}", wh.current_link)
    _fsync_dir(wh.out_dir)
    _checkpoint("switched")
    ensure_layout(wh.out_dir)
    _checkpoint("linked")
    prune_snapshots(wh, keep_snapshots)
    shutil.rmtree(wh.staging_root, ignore_errors=True)  # this run's and every earlier run's (superseded)
    result.snapshot = snapshot
    return result


def prune_snapshots(wh: Warehouse, keep: int) -> list[str]:
    """Remove snapshots beyond the newest `keep` (never the current one) and half-built ones."""
    if not wh.snapshots_dir.is_dir():
        return []
    current = wh.current_snapshot()
    removed = []
    for p in wh.snapshots_dir.iterdir():
        if p.name.startswith(".") and p.name.endswith(".partial"):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    done = sorted((p for p in wh.snapshots_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
    for p in done[max(keep, 1):]:
        if current is None or p.resolve() != current:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    return removed
