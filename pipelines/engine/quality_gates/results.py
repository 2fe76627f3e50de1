"""dq_results: one row per evaluated expectation, one Parquet part per check step and run, kept in
OUT/dq_results/ (outside the warehouse, so failed runs are recorded too).
Query: SELECT * FROM read_parquet('OUT/dq_results/*.parquet')."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.engine.quality_gates.suites import Outcome
from pipelines.engine.warehouse import OutFolder, atomic_path

DQ_SCHEMA = pa.schema([("run_id", pa.string()), ("asset", pa.string()), ("check_name", pa.string()),
                       ("expectation", pa.string()), ("type", pa.string()), ("engine", pa.string()),
                       ("severity", pa.string()), ("passed", pa.bool_()), ("observed_value", pa.string()),
                       ("unexpected_count", pa.int64()), ("element_count", pa.int64()),
                       ("evaluated_at", pa.timestamp("us", tz="UTC"))])
DQ_COLUMNS = tuple(DQ_SCHEMA.names)


def dq_results_dir(out_dir: Path) -> Path:
    return OutFolder(Path(out_dir)).dq_results_dir


def append_dq_results(out_dir: Path, run_id: str, asset: str, rows: list[tuple[str, Outcome]]) -> Path:
    """Append one check step's outcomes (check name, outcome) to OUT/dq_results/."""
    now = datetime.now(timezone.utc)
    data = {
        "run_id": [run_id] * len(rows), "asset": [asset] * len(rows), "check_name": [c for c, _ in rows],
        "expectation": [o.name for _, o in rows], "type": [o.type for _, o in rows],
        "engine": [o.engine for _, o in rows], "severity": [o.severity for _, o in rows],
        "passed": [o.passed for _, o in rows],
        "observed_value": [o.error or o.observed for _, o in rows],
        "unexpected_count": [o.unexpected_count for _, o in rows],
        "element_count": [o.element_count for _, o in rows],
        "evaluated_at": [now] * len(rows),
    }
    target = dq_results_dir(out_dir) / f"{now:%Y%m%dT%H%M%S}_{run_id[:8]}_{asset}.parquet"
    with atomic_path(target) as tmp:
        pq.write_table(pa.table(data, schema=DQ_SCHEMA), tmp, compression="zstd")
    return target
