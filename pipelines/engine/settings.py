"""Run settings shared by the CLI, the Dagster resource and the tests."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.engine.methodology import DEFAULT_PERFORMANCE_YEAR
from pipelines.engine.warehouse import Warehouse


@dataclass
class RunSettings:
    input_dir: Path
    out_dir: Path
    performance_year: int = DEFAULT_PERFORMANCE_YEAR
    config_file: Path | None = None
    threads: int = 0  # 0 = all cores
    memory_limit: str = ""  # the run's budget, e.g. "16GB" (DuckDB gets 80%: pipelines.engine.duck); "" = DuckDB's default
    quiet: bool = False
    tins: tuple[str, ...] = field(default_factory=tuple)
    run_tag: str = ""  # set per run (the Dagster run id): tables are staged, then published (issue 6)
    keep_snapshots: int = 2  # published snapshots kept in OUT/snapshots (the current one and the previous)
    step_retries: int = 0  # retries of a step that failed for a transient reason (I/O, memory); 0 = none
    shards: int = 1  # beneficiary shards of the episode stage (pipelines.engine.shards); results do not depend on it
    workers: int = 1  # steps run at once: 1 = one process (in-process executor), >1 = multiprocess executor
    remote_url: str = ""  # e.g. s3://bucket/prefix: steps exchange tables through it (assets.runtime.remote); "" = off

    def __post_init__(self) -> None:
        from pipelines.engine.shards import check_shard_count

        check_shard_count(self.shards)
        self.input_dir = Path(self.input_dir)
        self.out_dir = Path(self.out_dir)
        if self.config_file:
            self.config_file = Path(self.config_file)

    @property
    def warehouse(self) -> Warehouse:
        """Where this run reads and writes its tables (pipelines.engine.warehouse)."""
        return Warehouse(self.out_dir, self.run_tag)

    @property
    def temp_dir(self) -> Path:
        return self.out_dir / ".tmp"

    # The warehouse's paths, for convenience.
    @property
    def warehouse_dir(self) -> Path:
        return self.warehouse.warehouse_dir

    @property
    def reports_dir(self) -> Path:
        return self.warehouse.reports_dir

    @property
    def staging_dir(self) -> Path | None:
        return self.warehouse.staging_dir

    @property
    def reports_write_dir(self) -> Path:
        return self.warehouse.reports_write_dir

    def table_path(self, table: str) -> Path:
        return self.warehouse.table_path(table)

    def read_path(self, table: str) -> Path:
        return self.warehouse.read_path(table)

    def progress(self, message: str) -> None:
        """Progress for people; schedulers pass --quiet. Never pass beneficiary ids here."""
        if not self.quiet:
            print(f"  {message}", file=sys.stderr, flush=True)


DEFAULT_SCHEDULED_RETRIES = 2  # UI and scheduled runs retry a transient step failure twice


def settings_from_env() -> RunSettings:
    """Settings for `dagster dev` / `dagster definitions validate` (ASM_* environment variables), and
    for the step processes of a multiprocess run (which `settings_to_env` describes)."""
    env = os.environ.get
    return RunSettings(
        input_dir=Path(env("ASM_INPUT_DIR", "data/sample/input")),
        out_dir=Path(env("ASM_OUT_DIR", "out")),
        performance_year=int(env("ASM_PERFORMANCE_YEAR", str(DEFAULT_PERFORMANCE_YEAR))),
        config_file=env("ASM_CONFIG") or None,
        threads=int(env("ASM_THREADS", "0")),
        memory_limit=env("ASM_MEMORY_LIMIT", ""),
        keep_snapshots=int(env("ASM_KEEP_SNAPSHOTS", "2")),
        step_retries=int(env("ASM_STEP_RETRIES", str(DEFAULT_SCHEDULED_RETRIES))),
        shards=int(env("ASM_SHARDS", "1")),
        workers=int(env("ASM_WORKERS", "1")),
        remote_url=env("ASM_REMOTE_URL", ""),
        quiet=env("ASM_QUIET", "1") == "1",
        tins=tuple(t for t in env("ASM_TINS", "").split(",") if t),
    )


def settings_to_env(s: RunSettings) -> dict[str, str]:
    """The ASM_* variables that make `settings_from_env` return `s` (for a multiprocess run's steps)."""
    return {
        "ASM_INPUT_DIR": str(s.input_dir), "ASM_OUT_DIR": str(s.out_dir),
        "ASM_PERFORMANCE_YEAR": str(s.performance_year), "ASM_CONFIG": str(s.config_file or ""),
        "ASM_THREADS": str(s.threads), "ASM_MEMORY_LIMIT": s.memory_limit,
        "ASM_KEEP_SNAPSHOTS": str(s.keep_snapshots), "ASM_STEP_RETRIES": str(s.step_retries),
        "ASM_SHARDS": str(s.shards), "ASM_WORKERS": str(s.workers), "ASM_QUIET": "1" if s.quiet else "0",
        "ASM_TINS": ",".join(s.tins), "ASM_REMOTE_URL": s.remote_url,
    }
