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


# ------------------------------------------------------------------ run settings declared once (issue 17 item 3)


def _sample_settings(tmp_path) -> RunSettings:
    """A value other than the default for every setting (so each round trip below tests each one)."""
    return RunSettings(input_dir=tmp_path / "in", out_dir=tmp_path / "out", performance_year=2028,
                       config_file=tmp_path / "m.toml", tins=("123456789", "987654321"), threads=3,
                       memory_limit="8GB", keep_snapshots=5, step_retries=1, shards=2, workers=3,
                       remote_url="s3://bucket/prefix", accept_incomplete=("2026-03", "P.A1234.ACO.ZC5Y26.D260510.T1200000"),
                       accept_amounts=True, quiet=True)


def test_every_setting_is_a_resource_field_a_variable_and_an_asm_run_option(tmp_path, monkeypatch):
    from dataclasses import fields

    import pipelines.engine.settings
    monkeypatch.setattr(pipelines.engine.settings, "usable_cores", lambda: 8)  # --workers 3 is not capped

    from assets.runtime.resources import AsmResource
    from pipelines.cli import build_parser
    from pipelines.cli.commands.run import settings_from_args
    from pipelines.engine.settings import run_settings, settings_from_env, settings_to_env

    settings = run_settings()
    names = {s.name for s in settings}
    assert {f.name for f in fields(RunSettings)} - names == {"run_tag"}  # set per run, by the code
    sample = _sample_settings(tmp_path)
    for s in settings:
        assert getattr(sample, s.name) != (s.default if not s.required else None), s.name

    # the resource: one config field per setting, and settings -> resource -> settings is identity
    assert set(AsmResource.model_fields) == names
    assert AsmResource.from_settings(sample).settings() == sample

    # the environment: one ASM_* variable per setting, and settings -> env -> settings is identity
    env = settings_to_env(sample)
    assert set(env) == {s.env for s in settings} and all(k.startswith("ASM_") for k in env)
    assert len(set(env)) == len(settings)
    assert settings_from_env(env) == sample
    assert settings_from_env({**env, "ASM_QUIET": "0", "ASM_CONFIG": ""}) == RunSettings(
        **{**{s.name: getattr(sample, s.name) for s in settings}, "quiet": False, "config_file": None})

    # asm run: one option per setting (and -h), defaults from the model, and settings -> argv -> settings
    parser = build_parser()
    run = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"][0].choices["run"]
    options = {o for a in run._actions for o in a.option_strings}
    assert options == {s.cli for s in settings} | {"-h", "--help"}
    argv = ["run"]
    for s in settings:
        value = getattr(sample, s.name)
        argv += [s.cli] if s.kind == "bool" else [s.cli, s.to_text(value)]
    assert settings_from_args(parser.parse_args(argv)) == sample
    defaults = settings_from_args(parser.parse_args(["run", "--input", str(tmp_path), "--out", str(tmp_path)]))
    assert defaults == RunSettings(input_dir=tmp_path, out_dir=tmp_path)
    assert parser.parse_args(argv[:5] + ["--retries", "4"]).retries == 4  # --retries is step_retries


def test_scheduled_defaults_come_from_the_model():
    """Unset variables give each setting's env_default: what `dagster dev` and scheduled runs use."""
    from pipelines.engine.settings import DEFAULT_SCHEDULED_RETRIES, settings_from_env

    s = settings_from_env({})
    assert (s.step_retries, s.quiet, s.input_dir, s.out_dir) == (DEFAULT_SCHEDULED_RETRIES, True,
                                                                Path("data/sample/input"), Path("out"))


def test_one_code_location_per_environment(tmp_path, monkeypatch):
    """`asm run` takes its job from the Definitions of the ASM_* variables it sets (built once per
    environment), and gives the caller's environment back."""
    from assets.definitions import asm_job_from_env, definitions_for_env
    from assets.runner import run_environment
    from pipelines.engine.settings import settings_to_env

    env = settings_to_env(RunSettings(input_dir=tmp_path, out_dir=tmp_path / "out"))
    assert definitions_for_env(env) is definitions_for_env(dict(env))
    sharded = definitions_for_env({**env, "ASM_SHARDS": "2"})
    assert sharded is not definitions_for_env(env)
    steps = lambda defs: len(list(defs.resolve_job_def(ALL_JOB).graph.iterate_node_handles()))  # noqa: E731
    assert steps(sharded) == steps(definitions_for_env(env)) + 1  # one episode step per shard

    monkeypatch.setenv("ASM_SHARDS", "3")
    monkeypatch.delenv("ASM_OUT_DIR", raising=False)
    settings = RunSettings(input_dir=tmp_path, out_dir=tmp_path / "out", shards=2)
    with run_environment(settings):
        assert os.environ["ASM_SHARDS"] == "2" and os.environ["ASM_OUT_DIR"] == str(tmp_path / "out")
        assert asm_job_from_env() is sharded.resolve_job_def(ALL_JOB)
    assert os.environ["ASM_SHARDS"] == "3" and "ASM_OUT_DIR" not in os.environ


def test_two_runs_in_one_process_each_run_their_own_settings(tmp_path):
    """The runner takes its job from the environment it sets (assets.definitions.asm_job_from_env): a second
    run in the same process (a notebook, a scheduler, this test session) reads its own input, not the first
    run's (Dagster memoizes a reconstructable job per code pointer)."""
    from assets.runner import run_pipeline
    from pipelines.synthetic import generate

    rows = []
    for i, seed in enumerate((5, 6)):
        generate(tmp_path / f"in{i}", scale=3000, seed=seed)
        settings = RunSettings(input_dir=tmp_path / f"in{i}", out_dir=tmp_path / f"out{i}", threads=2, quiet=True)
        outcome = run_pipeline(settings)
        assert outcome.success, outcome.reason
        rows.append(outcome.materialized["partb_lines"]["dagster/row_count"])
    # seeds 5 and 6 deliver different claims: each run published its own input's lines
    assert rows[0] != rows[1]
