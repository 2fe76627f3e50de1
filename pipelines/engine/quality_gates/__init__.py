"""Data-quality gates (issue 6): one GX 1.x suite per asset in `expectations/`, evaluated against the
asset's Parquet by the DuckDB engine (whole table) and the GX engine (repeatable sample). `evaluate`
runs an asset's suite and records dq_results; the Dagster checks (assets/checks.py) only wrap it."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import duckdb

from pipelines.engine.duck import connect, sql_literal, sql_text
from pipelines.engine.quality_gates.duckdb_engine import DUCKDB_TYPES, run_duckdb
from pipelines.engine.quality_gates.gx_engine import DEFAULT_SAMPLE_ROWS, run_gx
from pipelines.engine.quality_gates.results import DQ_COLUMNS, append_dq_results, dq_results_dir
from pipelines.engine.quality_gates.suites import (ENGINES, PRIVATE_COLUMN, Outcome, SuiteError, available_suites,
                                                   read_suite)
from pipelines.engine.warehouse import parquet_files

SOURCES = ("pipelines/engine/quality_gates", "sql/90_checks", "expectations")
__all__ = ["DQ_COLUMNS", "DUCKDB_TYPES", "ENGINES", "PRIVATE_COLUMN", "SOURCES", "Evaluation", "Outcome", "SuiteError",
           "append_dq_results", "assess", "available_suites", "dq_results_dir", "evaluate", "load_suite", "run_suite",
           "summary_line"]


def load_suite(asset: str) -> dict:
    """The suite of `expectations/<asset>.json`, validated against the engines that run it."""
    return read_suite(asset, DUCKDB_TYPES)


def run_suite(asset: str, path: Path, table_path: Callable[[str], Path] | None = None,
              threads: int = 0, memory_limit: str = "", temp_dir: Path | None = None) -> list[Outcome]:
    """Every expectation of `expectations/<asset>.json` evaluated against the Parquet at `path`.
    `table_path` resolves `{table:<name>}` in SQL expectations (other tables of the same run);
    `memory_limit` and `temp_dir`: the run's memory budget and spill folder, as every stage's connection."""
    suite = load_suite(asset)
    exps = suite.get("expectations", [])
    if not path.exists():
        return [Outcome("table_exists", "expect_table_to_exist", "duckdb", "ERROR", False, error=f"{path} not found")]
    con = connect(threads, memory_limit, temp_dir)
    try:
        con.execute(sql_text("90_checks/00_check_macros.sql"))
        relation = f"read_parquet({sql_literal(parquet_files(path))})"
        schema = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}

        def ref(name: str) -> str:
            p = (table_path or (lambda n: path.with_name(f"{n}.parquet")))(name)
            return f"read_parquet({sql_literal(parquet_files(p))})"

        by_engine = {eng: [e for e in exps if e["meta"]["engine"] == eng] for eng in ENGINES}
        outcomes = run_duckdb(con, by_engine["duckdb"], relation, schema, ref)
        outcomes += run_gx(con, by_engine["gx"], relation, schema,
                           int(suite.get("meta", {}).get("gx_sample_rows", DEFAULT_SAMPLE_ROWS)), suite.get("name", asset))
    finally:
        con.close()
    order = {e["meta"]["name"]: i for i, e in enumerate(exps)}
    return sorted(outcomes, key=lambda o: order.get(o.name, -1))


def summary_line(stage: str, asset: str, check: str, failed: list[Outcome]) -> str:
    shown = "; ".join(o.line() for o in failed[:3]) + (f"; and {len(failed) - 3} more" if len(failed) > 3 else "")
    return f"{stage}: check {asset}/{check} failed: {shown}"


@dataclass
class Evaluation:
    """An asset's suite evaluated: blocking (ERROR) and warning outcomes, for its two checks."""

    asset: str
    stage: str
    errors: list[Outcome]
    warnings: list[Outcome]
    seconds: float

    @property
    def check_names(self) -> tuple[str, str]:
        return f"{self.asset}_expectations", f"{self.asset}_warnings"

    @property
    def failed_errors(self) -> list[Outcome]:
        return [o for o in self.errors if not o.passed]

    @property
    def summary(self) -> str:
        failed = self.failed_errors
        return summary_line(self.stage, self.asset, self.check_names[0], failed) if failed else ""

    def report(self, severity: str) -> dict:
        """Plain metadata of the ERROR or WARN check: counts, one summary line, the failing
        expectations with counts and example values (never from private columns)."""
        outcomes = self.errors if severity == "ERROR" else self.warnings
        failed = [o for o in outcomes if not o.passed]
        summary = self.summary if severity == "ERROR" else ""
        return {
            "stage": self.stage,
            "expectations": len(outcomes),
            "failed": len(failed),
            "seconds": round(self.seconds, 3),
            "summary": summary or "; ".join(o.line() for o in failed) or "all passed",
            "failing_expectations": [{k: v for k, v in asdict(o).items() if v not in (None, "", [])} for o in failed],
            "engines": {e: sum(1 for o in outcomes if o.engine == e) for e in ENGINES},
        }


def assess(asset: str, settings, stage: str = "") -> Evaluation:
    """Run an asset's suite on this run's Parquet, recording nothing (`evaluate` records; `asm backfill
    --monthly` refuses a month on its blocking outcomes, pipelines.engine.replay). `stage`: the stage that
    writes the asset (pipelines.engine.registry), named in the one-line summary."""
    stage = stage or asset
    t0 = time.perf_counter()
    try:
        outcomes = run_suite(asset, settings.read_path(asset), settings.read_path, settings.threads,
                             settings.memory_limit, settings.temp_dir)
    except duckdb.OutOfMemoryException:  # the run's memory budget, not the data (pipelines.engine.errors)
        raise
    except (SuiteError, duckdb.Error) as exc:
        outcomes = [Outcome("suite", "suite", "duckdb", "ERROR", False, error=str(exc).splitlines()[0][:300])]
    return Evaluation(asset, stage, [o for o in outcomes if o.severity == "ERROR"],
                      [o for o in outcomes if o.severity == "WARN"], time.perf_counter() - t0)


def evaluate(asset: str, settings, run_id: str, stage: str = "") -> Evaluation:
    """Run an asset's suite on this run's Parquet (`assess`) and append every outcome to dq_results."""
    ev = assess(asset, settings, stage)
    errors_name, warnings_name = ev.check_names
    append_dq_results(settings.out_dir, run_id, asset,
                      [(errors_name, o) for o in ev.errors] + [(warnings_name, o) for o in ev.warnings])
    return ev
