"""The production setup (issue 11 item 6): both dagster.yaml variants load and record runs (the
one-machine SQLite one, and the team one against a real PostgreSQL server this test starts from
Debian's `postgresql` package), `dagster schedule start asm_nightly` works as the README says, the
run-failure sensor writes an alert and calls the configured command, and transient step failures
are retried while user errors are not."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from dagster import (AssetSelection, DagsterEventType, DagsterInstance, DagsterRunStatus, Definitions, asset,
                     build_run_status_sensor_context, define_asset_job, in_process_executor)

import assets.definitions as definitions
from assets._common import DUCKDB_POOL, failure

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
VARIANTS = {"one-machine": REPO / "dagster.yaml", "team": REPO / "deploy" / "team" / "dagster.yaml"}


# ------------------------------------------------------------------------------------------ PostgreSQL

def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) on 127.0.0.1, as a non-root user when run as
    root (the `postgres` user Debian's package creates). Yields the DAGSTER_PG_* environment."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries not found (.ci/run installs Debian's `postgresql`)")
    # not under pytest's tmp folder: that is private to root, and the server runs as another user
    base = Path(tempfile.mkdtemp(prefix="asm_test_pg_"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server as")
        os.chown(base, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    for cmd in ([initdb, "-D", str(base / "data"), "-A", "trust", "-U", "asm", "--no-sync"],
                [pg_ctl, "-D", str(base / "data"), "-l", str(base / "log"), "-w", "-t", "120", "-o",
                 f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]):
        done = subprocess.run([*run_as, *cmd], capture_output=True, text=True)
        assert done.returncode == 0, f"{cmd[0]} failed: {done.stderr[-1500:]}"
    try:
        yield {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(port), "DAGSTER_PG_DB": "postgres",
               "DAGSTER_PG_USERNAME": "asm", "DAGSTER_PG_PASSWORD": "unused-trust-auth"}
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(base / "data"), "-m", "immediate", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=sorted(VARIANTS))
def variant(request, tmp_path, monkeypatch):
    """An instance folder holding one variant; the team one gets a live PostgreSQL server."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(VARIANTS[request.param], home / "dagster.yaml")
    env = request.getfixturevalue("postgres") if request.param == "team" else {}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return request.param, home, env


@asset(pool=DUCKDB_POOL)
def toy_table():
    return 1


def test_each_dagster_yaml_variant_loads_and_records_a_run(variant):
    name, home, _ = variant
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts == 0
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.pool_config.pool_granularity.value == ("run" if name == "one-machine" else "op")
        assert config.run_queue_config.max_concurrent_runs == (1 if name == "one-machine" else 4)
        assert instance.event_log_storage.supports_global_concurrency_limits
        assert type(instance.run_storage).__name__ == ("SqliteRunStorage" if name == "one-machine"
                                                        else "PostgresRunStorage")
        job = Definitions(assets=[toy_table], jobs=[define_asset_job("toy", executor_def=in_process_executor)]
                          ).resolve_job_def("toy")
        result = job.execute_in_process(instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id).status == DagsterRunStatus.SUCCESS


def test_schedule_start_works_as_the_readme_says(variant, tmp_path):
    """README: `DAGSTER_HOME=... dagster schedule start asm_nightly -m assets.definitions`; the failure
    sensor is on by default."""
    _, home, env = variant
    full_env = {**os.environ, **env, "DAGSTER_HOME": str(home), "ASM_INPUT_DIR": str(tmp_path),
                "ASM_OUT_DIR": str(tmp_path / "out")}

    def dagster(*args):
        done = subprocess.run([str(BIN / "dagster"), *args, "-m", "assets.definitions"], cwd=REPO, env=full_env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout + done.stderr

    assert "Started schedule asm_nightly" in dagster("schedule", "start", "asm_nightly")
    listed = dagster("schedule", "list")
    assert "asm_nightly" in listed and "[RUNNING]" in listed
    assert "asm_failure_alert" in dagster("sensor", "list")


# ------------------------------------------------------------------------------------------ alerts, retries

@asset
def broken_table():
    raise OSError(28, "No space left on device")


def test_failure_sensor_writes_the_alert_file_and_calls_the_command(tmp_path, monkeypatch):
    from assets.alerts import asm_failure_alert

    out = tmp_path / "out"
    called = tmp_path / "called.txt"
    monkeypatch.delenv("ASM_ALERT_FILE", raising=False)
    monkeypatch.setenv("ASM_ALERT_COMMAND", f"sh -c 'echo \"$ASM_ALERT_RUN_ID $ASM_ALERT_REASON\" > {called}'")
    with DagsterInstance.ephemeral() as instance:
        job = Definitions(assets=[broken_table], jobs=[define_asset_job(
            "asm_all", run_tags={"asm/out_dir": str(out)}, executor_def=in_process_executor)]).resolve_job_def("asm_all")
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        event = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)[0].dagster_event
        context = build_run_status_sensor_context(sensor_name="asm_failure_alert", dagster_instance=instance,
                                                  dagster_run=run, dagster_event=event).for_run_failure()
        asm_failure_alert(context)
    alert = (out / "alerts" / f"{run.run_id}.txt").read_text()
    reason = f"broken_table: the disk holding {out} is full"
    assert alert.startswith(f"asm run failed: {reason}") and f"run id: {run.run_id}" in alert
    assert called.read_text().startswith(f"{run.run_id} {reason}")


def test_transient_failures_are_retried_user_errors_are_not(monkeypatch, tmp_path):
    monkeypatch.setattr(definitions, "RETRY_DELAY_SECONDS", 0)
    policy = definitions.retry_policy(2)
    assert policy.max_retries == 2 and definitions.retry_policy(0) is None
    attempts = {"flaky": 0, "user_error": 0}

    @asset
    def flaky():
        attempts["flaky"] += 1
        if attempts["flaky"] < 3:
            raise OSError(5, "Input/output error")  # e.g. a network file system hiccup

    @asset
    def user_error():
        attempts["user_error"] += 1
        raise failure("ingest", ValueError("P.A…ZC5…: records are 437 bytes"))

    with DagsterInstance.ephemeral() as instance:
        for name, target in (("flaky", flaky), ("user_error", user_error)):
            job = Definitions(assets=[target], jobs=[define_asset_job(
                name, selection=AssetSelection.all(), op_retry_policy=policy, executor_def=in_process_executor)]
            ).resolve_job_def(name)
            result = job.execute_in_process(instance=instance, raise_on_error=False)
            assert result.success == (name == "flaky")
    assert attempts == {"flaky": 3, "user_error": 1}
    job = definitions.build_definitions(definitions.RunSettings(input_dir=tmp_path, out_dir=tmp_path, step_retries=2)
                                        ).resolve_job_def(definitions.ALL_JOB)
    assert job.op_retry_policy.max_retries == 2
