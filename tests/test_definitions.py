"""The whole code location loads: what `dagster dev` and `dagster definitions validate` load."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from assets.definitions import ALL_JOB, build_definitions
from pipelines.engine.settings import RunSettings

REPO = Path(__file__).resolve().parents[1]


def test_definitions_load_with_every_ingest_table(tmp_path):
    defs = build_definitions(RunSettings(input_dir=tmp_path, out_dir=tmp_path / "out"))
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"partb_lines", "ingest_audit", "quarantine", "ingest_files", "parta_claims", "beneficiaries"} <= keys
    assert defs.resolve_job_def(ALL_JOB) is not None
    assert defs.resolve_schedule_def("asm_nightly").cron_schedule == "0 2 * * *"


def test_code_version_changes_with_methodology(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text("[defaults.ingest]\nquarantine_max_rate = 0.05\n")
    a = build_definitions(RunSettings(input_dir=tmp_path, out_dir=tmp_path))
    b = build_definitions(RunSettings(input_dir=tmp_path, out_dir=tmp_path, config_file=cfg))
    va = a.resolve_assets_def("partb_lines").code_versions_by_key
    vb = b.resolve_assets_def("partb_lines").code_versions_by_key
    assert va != vb


def test_dagster_definitions_validate_cli(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "assets.definitions"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Validation successful" in proc.stderr + proc.stdout
