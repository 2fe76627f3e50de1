"""Run the whole asset graph in process (what `asm run` does) and summarise the outcome."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from dagster import DagsterEventType, DagsterInstance

from pipelines.definitions import ALL_JOB, build_definitions
from pipelines.settings import RunSettings


@dataclass
class RunOutcome:
    success: bool
    seconds: float
    reason: str = ""  # one line, for the user, when not successful
    materialized: dict[str, dict] = field(default_factory=dict)  # asset -> metadata (plain values)
    checks: list[dict] = field(default_factory=list)


def _plain(value):
    for attr in ("value", "text", "path", "data", "md_str"):
        if hasattr(value, attr):
            return getattr(value, attr)
    return value


def run_pipeline(settings: RunSettings) -> RunOutcome:
    started = time.perf_counter()
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    defs = build_definitions(settings)
    job = defs.resolve_job_def(ALL_JOB)
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
        outcome = RunOutcome(success=result.success, seconds=time.perf_counter() - started)
        for event in result.all_events:
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                mat = event.event_specific_data.materialization
                outcome.materialized[mat.asset_key.to_user_string()] = {
                    k: _plain(v) for k, v in mat.metadata.items() if not k.startswith("dagster/column_schema")
                }
            elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                ev = event.event_specific_data
                outcome.checks.append({
                    "asset": ev.asset_key.to_user_string(), "check": ev.check_name, "passed": ev.passed,
                    "severity": str(ev.severity.value) if ev.severity else "",
                    "summary": _plain(ev.metadata.get("summary", "")) if ev.metadata else "",
                })
            elif event.event_type == DagsterEventType.STEP_FAILURE and not outcome.reason:
                data = event.event_specific_data
                if data.user_failure_data and data.user_failure_data.description:
                    outcome.reason = data.user_failure_data.description
                else:
                    err = data.error
                    while err is not None and err.cause is not None and "dagster" in (err.cls_name or "").lower():
                        err = err.cause
                    outcome.reason = f"{event.step_key}: {(err.message if err else 'failed').strip().splitlines()[0]}"
        # issue 6: a failed blocking (ERROR) check is the reason, named by stage and check; the
        # previous run's published tables are untouched because `publish` never ran.
        blocking = [c for c in outcome.checks if not c["passed"] and c["severity"] == "ERROR"]
        if blocking:
            outcome.success = False
            outcome.reason = blocking[0]["summary"] or f"check {blocking[0]['asset']}/{blocking[0]['check']} failed"
        if not outcome.success and not outcome.reason:
            outcome.reason = "run failed (see `dagster dev` for the event log)"
        if not outcome.success:
            staged = settings.out_dir / ".staging" / result.run_id
            kept = (f"previous outputs in {settings.warehouse_dir} left unchanged" if settings.warehouse_dir.exists()
                    else "nothing published")
            outcome.reason += f" ({kept}; this run's tables: {staged})" if staged.exists() else f" ({kept})"
    summary = {
        "success": outcome.success, "reason": outcome.reason, "seconds": round(outcome.seconds, 2),
        "performance_year": settings.performance_year, "input_dir": str(settings.input_dir),
        "config_file": str(settings.config_file) if settings.config_file else None,
        "tables": outcome.materialized, "checks": outcome.checks,
    }
    (settings.out_dir / "run_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return outcome
