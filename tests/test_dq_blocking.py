"""Issue 6 (the Dagster wiring in assets/): a failed blocking check stops every downstream asset of the same run (and `publish`, so
the warehouse keeps the previous outputs); a passing run evaluates and records every check."""
from __future__ import annotations

import duckdb
from dagster import AssetSelection, DagsterInstance, Definitions, asset, define_asset_job

from assets.checks import suite_checks
from assets.ingest import ingest_asset
from assets.publish import publish_asset
from pipelines.engine.ingest import INGEST_TABLES
from pipelines.engine.methodology import load_methodology
from pipelines.engine.quality_gates import available_suites, load_suite
from assets.runtime.resources import AsmResource
from pipelines.engine.settings import RunSettings
from tests.cclf_builders import partb_line, write_fixed

ZC5 = "P.A1234.ACO.ZC5Y26.D260410.T1200000"


@asset(deps=["partb_lines"])
def downstream_of_partb_lines() -> None:
    """A stand-in for the episodes stage."""


def _run(tmp_path, rows):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    write_fixed(inp / ZC5, "cclf5", rows)
    assets = [ingest_asset(load_methodology(2027)), downstream_of_partb_lines]
    keys = [k.to_user_string() for a in assets for k in a.keys]
    defs = Definitions(
        assets=[*assets, publish_asset(keys)], asset_checks=suite_checks(keys),
        jobs=[define_asset_job("all", selection=AssetSelection.all())],
        resources={"asm": AsmResource.from_settings(RunSettings(input_dir=inp, out_dir=out))},
    )
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("all").execute_in_process(instance=instance, raise_on_error=False)
        materialized = {m.asset_key.to_user_string() for m in result.asset_materializations_for_node("ingest")} | {
            m.asset_key.to_user_string() for node in ("downstream_of_partb_lines", "publish")
            for m in result.asset_materializations_for_node(node)}
        checks = {(e.asset_key.to_user_string(), e.check_name): (e.passed, e.severity.value)
                  for e in result.get_asset_check_evaluations()}
    return result, materialized, checks, out


def _lines(n, **kw):
    return [partb_line(CUR_CLM_UNIQ_ID=f"{i:013d}", CLM_CNTL_NUM=f"C{i}", **kw) for i in range(1, n + 1)]


def test_failed_blocking_check_stops_downstream_and_publish_in_the_same_run(tmp_path):
    result, materialized, checks, out = _run(tmp_path, _lines(5, RNDRG_PRVDR_NPI_NUM="1234567890"))  # bad check digit
    assert checks[("partb_lines", "partb_lines_expectations")] == (False, "ERROR")
    assert set(INGEST_TABLES) <= materialized  # ingest itself ran and staged its tables
    assert "downstream_of_partb_lines" not in materialized and "publish" not in materialized
    assert not result.success
    assert not (out / "warehouse").exists()  # nothing published
    staged = list((out / ".staging").iterdir())[0]
    assert (staged / "partb_lines.parquet").exists()


def test_passing_run_evaluates_and_records_every_check_then_publishes(tmp_path):
    result, materialized, checks, out = _run(tmp_path, _lines(5))
    assert result.success
    assert {"downstream_of_partb_lines", "publish"} <= materialized
    suites = [a for a in available_suites() if a in INGEST_TABLES]
    assert set(checks) == {(a, f"{a}_{kind}") for a in suites for kind in ("expectations", "warnings")}
    assert all(passed for (a, c), (passed, sev) in checks.items() if sev == "ERROR")
    assert sorted(p.stem for p in (out / "warehouse").glob("*.parquet")) == sorted(INGEST_TABLES)
    assert not (out / ".staging").exists()
    recorded = duckdb.connect().execute(
        f"SELECT asset, count(*) FROM read_parquet('{out}/dq_results/*.parquet') GROUP BY asset").fetchall()
    assert dict(recorded) == {a: len(load_suite(a)["expectations"]) for a in suites}
