"""Alert on a failed run (UI, schedule or `asm run` recorded in the same instance while the daemon
runs): the run-failure sensor `asm_failure_alert` writes OUT/alerts/<run id>.txt (or appends to
$ASM_ALERT_FILE) and, when $ASM_ALERT_COMMAND is set, calls that command with the alert in its
environment (ASM_ALERT_RUN_ID, ASM_ALERT_JOB, ASM_ALERT_REASON, ASM_ALERT_FILE). Needs the daemon
(`dagster dev` starts one; production: `dagster-daemon run`)."""
from __future__ import annotations

import os
import shlex
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from dagster import DefaultSensorStatus, RunFailureSensorContext, run_failure_sensor

from assets.runtime.runrecord import TAG_PREFIX, collect

ALERT_COMMAND_TIMEOUT_SECONDS = 60


def alert_text(run_id: str, job: str, out_dir: str, reason: str, when: datetime) -> str:
    return (f"asm run failed: {reason}\n"
            f"run id: {run_id}\njob: {job}\noutput folder: {out_dir or '?'}\ntime (UTC): {when:%Y-%m-%d %H:%M:%S}\n")


def deliver_alert(run_id: str, job: str, out_dir: str, reason: str) -> tuple[Path, str]:
    """Write the alert file and call the alert command; returns (file, command outcome)."""
    text = alert_text(run_id, job, out_dir, reason, datetime.now(timezone.utc))
    target = os.environ.get("ASM_ALERT_FILE")
    if target:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        path = Path(out_dir or ".") / "alerts" / f"{run_id}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    command = os.environ.get("ASM_ALERT_COMMAND", "").strip()
    if not command:
        return path, "no ASM_ALERT_COMMAND"
    env = {**os.environ, "ASM_ALERT_RUN_ID": run_id, "ASM_ALERT_JOB": job, "ASM_ALERT_REASON": reason,
           "ASM_ALERT_FILE": str(path)}
    try:
        done = subprocess.run(shlex.split(command), env=env, capture_output=True, text=True,
                              timeout=ALERT_COMMAND_TIMEOUT_SECONDS)
        return path, f"command exited {done.returncode}"
    except (OSError, subprocess.SubprocessError) as exc:
        return path, f"command failed: {exc}"


@run_failure_sensor(name="asm_failure_alert", default_status=DefaultSensorStatus.RUNNING,
                    description="Writes OUT/alerts/<run id>.txt (or $ASM_ALERT_FILE) and calls $ASM_ALERT_COMMAND "
                                "when a run fails.")
def asm_failure_alert(context: RunFailureSensorContext):
    run = context.dagster_run
    out_dir = run.tags.get(f"{TAG_PREFIX}out_dir", "")
    reason = collect(context.instance, run.run_id, out_dir)["reason"] or context.failure_event.message or "failed"
    path, outcome = deliver_alert(run.run_id, run.job_name, out_dir, reason)
    context.log.info(f"alert for run {run.run_id} written to {path} ({outcome})")
