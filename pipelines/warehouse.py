"""Reading and writing warehouse tables: the one home of the atomic write (temporary name in the
target's folder, then rename) and of where a run reads and writes its tables.

Layout of an output folder OUT (data-contracts "Outputs"):
  OUT/warehouse/<table>.parquet      published tables (a file, or a folder of Parquet files)
  OUT/.staging/<run id>/<table>.parquet   a run's tables until every blocking check passed
  OUT/reports/, OUT/.staging/<run id>/reports/   the same for the reports folder
Nothing here imports Dagster.
"""
from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import polars as pl

PARQUET_COMPRESSION = "zstd"
ROW_GROUP_SIZE = 1_000_000


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
        if tmp.is_dir():  # a folder table: swapped whole (the old folder removed after)
            swap_dir(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_frame(df: pl.DataFrame, path: str | Path) -> int:
    """A Polars frame to Parquet (zstd), atomically. Returns the row count."""
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, compression=PARQUET_COMPRESSION)
    return df.height


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def swap_dir(src: Path, dst: Path) -> None:
    """Replace folder `dst` by folder `src` (two renames on one file system; the old copy is
    removed afterwards)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    old = _temporary_name(dst, "old")
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)


def replace_path(src: Path, dst: Path) -> None:
    """Move a staged table (file or folder of Parquet files) over the published one."""
    if src.is_dir():
        swap_dir(src, dst)
    else:
        os.replace(src, dst)


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
    def staging_dir(self) -> Path | None:
        return self.out_dir / ".staging" / self.run_tag if self.run_tag else None

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
# Publishing a run (after every blocking check passed)


def publish_run(wh: Warehouse) -> tuple[list[str], bool]:
    """Move the run's staged tables into OUT/warehouse (one atomic rename per table; a sharded
    table's folder is swapped whole) and its staged reports folder into OUT/reports (swapped whole).
    Returns the published table names and whether reports were published."""
    staging = wh.staging_dir
    if staging is None or not staging.is_dir():
        return [], False
    reports = staging / "reports"
    published_reports = reports.is_dir()
    if published_reports:
        swap_dir(reports, wh.reports_dir)
    wh.warehouse_dir.mkdir(parents=True, exist_ok=True)
    published = []
    for src in sorted(staging.iterdir()):
        if src.name.startswith(".") or not src.name.endswith(".parquet"):
            continue
        replace_path(src, wh.warehouse_dir / src.name)
        published.append(src.name.removesuffix(".parquet"))
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.parent.rmdir()
    except OSError:
        pass
    return published, published_reports
