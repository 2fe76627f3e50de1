"""Every run recorded and reproducible (issue 11 items 1, 3, 5, 7): two `asm run`s of one input in two
processes (different hash seeds) give byte-identical Parquet for every table; the run is recorded in
the project's instance (OUT/.dagster) with its materializations and check results, which the UI
(`dagster dev`, GraphQL) shows; run_summary.json and the snapshot carry the provenance an auditor
cites; progress is one line per step as it starts and ends; the R2 coefficients re-derive every
predicted cost."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.execution.api import create_execution_plan

from assets.definitions import ALL_JOB, build_definitions
from pipelines.engine.provenance import manifest_digest
from pipelines.engine.settings import RunSettings
from pipelines.engine import registry
from pipelines.engine.tables import TABLE_KEYS
from pipelines.engine.warehouse import read_frame

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOT_TABLES = {"reports", "publish", "run_summary"}

pytestmark = pytest.mark.slow


def _asm_run(inp: Path, out: Path, seed: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run([str(BIN / "asm"), "run", "--input", str(inp), "--out", str(out), *extra], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """One generated input (enough episodes for the R2 OLS fits), run twice in fresh processes."""
    base = tmp_path_factory.mktemp("reruns")
    inp = base / "in"
    subprocess.run([str(BIN / "asm"), "generate", "--out", str(inp), "--scale", "60000", "--seed", "3", "--quiet"],
                   check=True, cwd=REPO, capture_output=True)
    a = _asm_run(inp, base / "a", "1")
    _asm_run(inp, base / "b", "2", "--quiet")
    return inp, base / "a", base / "b", a.stderr


def _sha256(path: Path) -> str:
    """A table's bytes: its file, or every file of its folder (sharded tables, line_versions) by name."""
    digest = hashlib.sha256()
    for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if f.is_file():
            digest.update(f.relative_to(path).as_posix().encode() if path.is_dir() else b"")
            digest.update(f.read_bytes())
    return digest.hexdigest()


def test_reruns_give_byte_identical_parquet_for_every_table(two_runs):
    _, a, b, _ = two_runs
    files_a = sorted(p.name for p in (a / "warehouse").glob("*.parquet"))
    assert files_a == sorted(p.name for p in (b / "warehouse").glob("*.parquet"))
    assert {f.removesuffix(".parquet") for f in files_a} == set(TABLE_KEYS)
    different = [f for f in files_a if _sha256(a / "warehouse" / f) != _sha256(b / "warehouse" / f)]
    assert different == []
    # the runs exercised what used to differ: OLS fits (R2) and HCC risk scores (R1)
    models = pl.read_parquet(a / "warehouse" / "risk_models.parquet")
    assert set(models.filter(pl.col("model") == "ols")["cohort"]) == {"HF", "LBP"}


def test_every_table_is_written_in_the_order_of_its_unique_key(two_runs):
    _, a, _, _ = two_runs
    for table, key in TABLE_KEYS.items():
        keys = read_frame(a / "warehouse" / f"{table}.parquet", columns=list(key))
        assert keys.height == keys.unique().height, f"{table}: key {key} is not unique"
        assert keys.equals(keys.sort(list(key), nulls_last=True)), f"{table}: not written in key order"


def test_every_table_asset_has_a_key_in_the_registry(tmp_path):
    defs = build_definitions(RunSettings(input_dir=tmp_path, out_dir=tmp_path))
    observed = set(registry.SIDE_INPUTS)  # the input folder's files: observed, not written
    tables = {k.to_user_string() for k in defs.resolve_all_asset_keys()} - NOT_TABLES - observed
    assert tables == set(TABLE_KEYS)


def test_progress_is_one_line_per_step_as_it_starts_and_ends(two_runs, tmp_path):
    _, _, _, stderr = two_runs
    job = build_definitions(RunSettings(input_dir=tmp_path, out_dir=tmp_path)).resolve_job_def(ALL_JOB)
    steps = {step.key for step in create_execution_plan(job).steps}
    assert {"ingest", "episodes_stage.episodes_shard_0", "episodes_stage.episodes_cohort", "scoring", "reports",
            "publish", "run_summary"} <= steps
    for step in steps:
        assert f"  [{step}] started" in stderr, step
        assert any(line.startswith(f"  [{step}] done in ") and line.endswith("s") for line in stderr.splitlines()), step


def test_the_run_is_recorded_in_the_instance_with_materializations_and_checks(two_runs):
    _, a, _, _ = two_runs
    summary = json.loads((a / "run_summary.json").read_text())
    with DagsterInstance.from_config(str(a / ".dagster")) as instance:
        run = instance.get_run_by_id(summary["run_id"])
        assert run is not None and run.status == DagsterRunStatus.SUCCESS and run.job_name == ALL_JOB
        assert run.tags["asm/methodology_label"] == summary["provenance"]["methodology_label"]
        assert run.tags["asm/input_digest"] == summary["provenance"]["input_digest"]
        for table in ("partb_lines", "episode_risk", "risk_models", "participant_scores", "publish"):
            event = instance.get_latest_materialization_event(AssetKey(table))
            assert event is not None and event.run_id == run.run_id, table
        checks = instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        assert len(checks) == len(summary["checks"]) > 0


def test_run_summary_and_snapshot_carry_the_provenance_an_auditor_cites(two_runs):
    inp, a, _, _ = two_runs
    summary = json.loads((a / "run_summary.json").read_text())
    p = summary["provenance"]
    assert summary["success"] and p["run_id"] == summary["run_id"] and p["input_dir"] == str(inp.resolve())
    on_disk = sorted(f.relative_to(inp).as_posix() for f in inp.rglob("*") if f.is_file())
    assert [f["file"] for f in p["input_files"]] == on_disk
    for f in p["input_files"]:
        data = (inp / f["file"]).read_bytes()
        assert f["bytes"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
    assert p["input_digest"] == manifest_digest(p["input_files"])
    assert p["config_file"] == "" and p["methodology_label"] and len(p["methodology_fingerprint"]) == 12
    assert p["package_version"] and (p["git_commit"] or not (REPO / ".git").exists())
    assert set(TABLE_KEYS) <= set(p["code_versions"])
    snapshot = a / "snapshots" / summary["run_id"]
    assert (a / "current").resolve() == snapshot.resolve()
    assert json.loads((snapshot / "provenance.json").read_text())["input_files"] == p["input_files"]
    assert json.loads((snapshot / "run_summary.json").read_text())["run_id"] == summary["run_id"]


def test_the_methodology_label_and_run_tags_change_with_the_config(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text("[defaults.benchmarks]\ncase_minimum = 25\n")

    def tags(config):
        s = RunSettings(input_dir=tmp_path, out_dir=tmp_path, config_file=config)
        return build_definitions(s).resolve_job_def(ALL_JOB).run_tags

    default, changed = tags(None), tags(cfg)
    assert changed["asm/config_file"] == str(cfg) and default["asm/config_file"] == ""
    assert changed["asm/methodology_label"] != default["asm/methodology_label"]
    assert changed["asm/methodology_label"].startswith(default["asm/methodology_version"] + "+")


def _covariates(er: pl.DataFrame, names: list[str], fill: float | None) -> np.ndarray:
    """R1 covariates of episode_risk rows, in the order risk_models lists them."""
    hccs = [set(h.split()) if h else set() for h in er["hcc_list"].fill_null("").to_list()]
    cols = []
    for name in names:
        if name == "intercept":
            cols.append(np.ones(er.height))
        elif name.startswith("age_"):
            cols.append((er["age_band"] == name.removeprefix("age_")).to_numpy().astype(float))
        elif name == "risk_score":
            cols.append(er["risk_score"].fill_null(fill).to_numpy().astype(float))
        elif name.startswith("hcc_"):
            cols.append(np.array([name.removeprefix("hcc_") in h for h in hccs], float))
        else:
            cols.append(er[name].fill_null(False).to_numpy().astype(float))
    return np.column_stack(cols)


def test_R2_risk_models_rederive_every_predicted_cost(two_runs):
    """R2: predicted = max(sum coefficient x covariate, prediction_floor) x rescale_factor, from the
    stored coefficients and episode_risk's covariates alone."""
    _, a, _, _ = two_runs
    er = pl.read_parquet(a / "warehouse" / "episode_risk.parquet")
    models = pl.read_parquet(a / "warehouse" / "risk_models.parquet")
    checked = 0
    for (year, cohort), m in models.filter(pl.col("model") == "ols").group_by("performance_year", "cohort"):
        rows = er.filter((pl.col("performance_year") == year) & (pl.col("cohort") == cohort))
        x = _covariates(rows, m["covariate"].to_list(), m["risk_score_fill"][0])
        pred = np.maximum(x @ m["coefficient"].to_numpy(), m["prediction_floor"][0]) * m["rescale_factor"][0]
        np.testing.assert_allclose(pred, rows["predicted_cost"].to_numpy(), rtol=1e-9)
        assert m["fitted_episodes"][0] == rows["fit"].sum()
        checked += rows.height
    assert checked > 500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_ui_shows_the_cli_run_and_launches_the_same_job(two_runs, tmp_path):
    """`make ui` after `make demo`: dagster dev on OUT/.dagster shows the CLI run's materializations and
    check results; a run launched through GraphQL (the Launchpad's launchRun) runs the same job,
    publishes a new snapshot and writes run_summary.json itself."""
    from dagster_graphql import DagsterGraphQLClient

    inp, first, _, _ = two_runs
    a = tmp_path / "out"  # a copy: the other tests read the first run's folder as it was
    shutil.copytree(first, a, symlinks=True)
    cli_run = json.loads((a / "run_summary.json").read_text())["run_id"]
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(a / ".dagster"), "ASM_INPUT_DIR": str(inp), "ASM_OUT_DIR": str(a)}
    log = open(tmp_path / "dagster_dev.log", "w")
    ui = subprocess.Popen([str(BIN / "dagster"), "dev", "-m", "assets.definitions", "-p", str(port)], cwd=REPO,
                          env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        deadline = time.time() + 300
        while True:
            assert ui.poll() is None, (tmp_path / "dagster_dev.log").read_text()[-3000:]
            try:
                node = client._execute("""query { assetNodeOrError(assetKey: {path: ["partb_lines"]}) {
                    ... on AssetNode { assetMaterializations(limit: 1) { runId }
                      assetChecksOrError { ... on AssetChecks { checks { name
                        executionForLatestMaterialization { runId status } } } } } } }""")["assetNodeOrError"]
                break
            except Exception:
                assert time.time() < deadline, "dagster dev did not answer"
                time.sleep(2)
        assert node["assetMaterializations"][0]["runId"] == cli_run
        checks = {c["name"]: c["executionForLatestMaterialization"] for c in node["assetChecksOrError"]["checks"]}
        assert checks["partb_lines_expectations"] == {"runId": cli_run, "status": "SUCCEEDED"}
        ui_run = client.submit_job_execution(ALL_JOB)
        while (status := client.get_run_status(ui_run)) not in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE,
                                                                 DagsterRunStatus.CANCELED):
            assert time.time() < deadline + 900, "the UI run did not finish"
            time.sleep(1)
        assert status == DagsterRunStatus.SUCCESS, (tmp_path / "dagster_dev.log").read_text()[-3000:]
        summary = json.loads((a / "run_summary.json").read_text())
        assert summary["run_id"] == ui_run and summary["success"]
        assert os.readlink(a / "current") == f"snapshots/{ui_run}"
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=120)
