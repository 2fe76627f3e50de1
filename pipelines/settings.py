"""Run settings shared by the CLI, the Dagster resource and the tests."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunSettings:
    input_dir: Path
    out_dir: Path
    performance_year: int = 2027
    config_file: Path | None = None
    threads: int = 0  # 0 = all cores
    memory_limit: str = ""  # e.g. "16GB"; empty = DuckDB's default (80% of RAM)
    quiet: bool = False
    tins: tuple[str, ...] = field(default_factory=tuple)
    run_tag: str = ""  # set per run (the Dagster run id): tables are staged, then published (issue 6)

    def __post_init__(self) -> None:
        self.input_dir = Path(self.input_dir)
        self.out_dir = Path(self.out_dir)
        if self.config_file:
            self.config_file = Path(self.config_file)

    @property
    def warehouse_dir(self) -> Path:
        return self.out_dir / "warehouse"

    @property
    def reports_dir(self) -> Path:
        return self.out_dir / "reports"

    @property
    def temp_dir(self) -> Path:
        return self.out_dir / ".tmp"

    @property
    def staging_dir(self) -> Path | None:
        """OUT/.staging/<run>/: where a run writes its tables until every blocking check passed."""
        return self.out_dir / ".staging" / self.run_tag if self.run_tag else None

    def published_path(self, table: str) -> Path:
        """Where a published table lives (OUT/warehouse/<table>.parquet): the contract users read."""
        return self.warehouse_dir / f"{table}.parquet"

    def table_path(self, table: str) -> Path:
        """One home for where this run writes a table: OUT/.staging/<run>/<table>.parquet during a
        run (published to OUT/warehouse by the `publish` asset once every blocking check passed), or
        OUT/warehouse/<table>.parquet directly when no run tag is set (library use, unit tests)."""
        return (self.staging_dir / f"{table}.parquet") if self.staging_dir else self.published_path(table)

    @property
    def reports_write_dir(self) -> Path:
        """Where this run writes its reports folder: OUT/.staging/<run>/reports during a run (swapped
        into OUT/reports by `publish` once every blocking check passed), else OUT/reports directly."""
        return (self.staging_dir / "reports") if self.staging_dir else self.reports_dir

    def read_path(self, table: str) -> Path:
        """Where to read a table: this run's staged copy if it wrote one, else the published one
        (runs that materialize only part of the graph read upstream tables from the warehouse)."""
        staged = self.table_path(table)
        return staged if staged.exists() else self.published_path(table)

    def progress(self, message: str) -> None:
        """Progress for people; schedulers pass --quiet. Never pass beneficiary ids here."""
        if not self.quiet:
            print(f"  {message}", file=sys.stderr, flush=True)


def settings_from_env() -> RunSettings:
    """Settings for `dagster dev` / `dagster definitions validate` (ASM_* environment variables)."""
    return RunSettings(
        input_dir=Path(os.environ.get("ASM_INPUT_DIR", "data/sample/input")),
        out_dir=Path(os.environ.get("ASM_OUT_DIR", "out")),
        performance_year=int(os.environ.get("ASM_PERFORMANCE_YEAR", "2027")),
        config_file=os.environ.get("ASM_CONFIG") or None,
        threads=int(os.environ.get("ASM_THREADS", "0")),
        memory_limit=os.environ.get("ASM_MEMORY_LIMIT", ""),
    )
