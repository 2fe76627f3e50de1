"""Issue 6: the suites and the check engine (pipelines/engine/quality_gates) on tiny Parquet tables."""
from __future__ import annotations

import json

import duckdb
import great_expectations as gx
import pytest

from pipelines.engine.paths import EXPECTATIONS_DIR
from pipelines.engine.quality_gates import (DUCKDB_TYPES, PRIVATE_COLUMN, Outcome, append_dq_results, available_suites, evaluate,
                                     load_suite, run_suite)
from pipelines.engine.ingest import INGEST_TABLES
from pipelines.engine.duck import sql_text
from pipelines.engine.settings import RunSettings


def test_every_ingest_asset_has_a_suite_that_loads_as_a_gx_1x_suite():
    assert set(INGEST_TABLES) <= set(available_suites())
    for asset in available_suites():
        raw = json.loads((EXPECTATIONS_DIR / f"{asset}.json").read_text())
        gx_suite = gx.ExpectationSuite(**raw)  # reviewed JSON is plain GX 1.x
        assert gx_suite.name == asset and len(gx_suite.expectations) == len(raw["expectations"])
        suite = load_suite(asset)
        for e in suite["expectations"]:
            assert e["meta"]["notes"], f"{asset}/{e['meta']['name']}: say why"
            if e["meta"]["engine"] == "duckdb":
                assert e["type"] in DUCKDB_TYPES


@pytest.mark.parametrize("npi, ok", [("1234567893", True), ("1234567890", False), ("1999900099", True),
                                     ("123456789", False), ("12345678ab", False)])
def test_npi_luhn_macro(npi, ok):
    con = duckdb.connect()
    con.execute(sql_text("90_checks/00_check_macros.sql"))
    assert con.execute("SELECT npi_is_valid(?)", [npi]).fetchone()[0] is ok


def _table(tmp_path, name: str, select: str):
    path = tmp_path / f"{name}.parquet"
    duckdb.connect().execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
    return path


def _bad_partb(tmp_path):
    _table(tmp_path, "ingest_files", "SELECT 'f' AS source_file, 'cclf5' AS kind, 3::BIGINT AS rows_loaded")
    return _table(tmp_path, "partb_lines", """
        SELECT * FROM (VALUES
          ('C1', 1, 'X1', 'BENE1', DATE '2026-01-05', DATE '2026-01-05', '99214', 'I509', ['I509'], '001000002',
           '1234567893', '06', '11', 'cclf5', 10.00::DECIMAL(18,2), 8.00::DECIMAL(18,2), 10.00::DECIMAL(18,2), 1.0, 1, 0),
          ('C1', 1, 'X2', 'BENE1', DATE '2099-01-05', DATE '2099-01-05', '9921', 'I.50', ['I509', 'ZZ'], '12',
           '1234567890', '06', '11', 'cclf5', -5.00::DECIMAL(18,2), 8.00::DECIMAL(18,2), 10.00::DECIMAL(18,2), 1.0, 1, 0),
          ('C2', 1, 'X3', 'BENE2', DATE '2026-01-06', DATE '2026-01-06', '99213', 'I10', ['I10'], '001000002',
           '1234567893', '06', '11', 'cclf5', 10.00::DECIMAL(18,2), 8.00::DECIMAL(18,2), 10.00::DECIMAL(18,2), 1.0, 1, 0))
        AS t(claim_control_number, line_number, claim_id, bene_id, service_date, service_thru_date, hcpcs, line_dx,
             claim_dx, tin, npi, specialty, place_of_service, source_layout, allowed_amount, paid_amount, cost_amount,
             standardization_factor, versions, cancels)""")


def test_suite_finds_each_broken_value_with_counts_and_examples(tmp_path):
    outcomes = {o.name: o for o in run_suite("partb_lines", _bad_partb(tmp_path))}
    failed = {n for n, o in outcomes.items() if not o.passed}
    assert failed == {"netting_key_unique", "npi_valid", "tin_9_digits", "hcpcs_shape", "line_dx_icd10_shape",
                      "claim_dx_icd10_shape", "service_date_in_range", "allowed_amount_not_negative"}
    assert outcomes["npi_valid"].unexpected_count == 1 and outcomes["npi_valid"].examples == [{"npi": "9999999999", "lines": 1}]  # shape only
    assert outcomes["service_date_in_range"].examples == ["2099-01-05"]
    assert outcomes["hcpcs_shape"].engine == "gx" and outcomes["hcpcs_shape"].examples == ["9999"]
    assert outcomes["allowed_amount_not_negative"].severity == "WARN"
    assert outcomes["netting_key_unique"].unexpected_count == 2 and outcomes["netting_key_unique"].element_count == 3


def test_metadata_and_dq_results_never_hold_beneficiary_ids(tmp_path):
    _bad_partb(tmp_path)
    settings = RunSettings(input_dir=tmp_path, out_dir=tmp_path)
    settings.warehouse_dir.mkdir()
    for p in tmp_path.glob("*.parquet"):
        p.rename(settings.warehouse_dir / p.name)
    ev = evaluate("partb_lines", settings, "run-1")
    assert ev.failed_errors and not all(o.passed for o in ev.warnings)
    blob = json.dumps([ev.report("ERROR"), ev.report("WARN")], default=str)
    assert "BENE1" not in blob and "BENE2" not in blob
    assert "netting_key_unique" in blob and '"A9"' in blob  # the key's public columns are shown, by shape
    dq = duckdb.connect().execute(f"SELECT * FROM read_parquet('{tmp_path}/dq_results/*.parquet')").fetchall()
    assert len(dq) == len(load_suite("partb_lines")["expectations"])
    assert "BENE1" not in str(dq)


def test_gx_expectations_may_not_name_private_columns(tmp_path, monkeypatch):
    import pipelines.engine.quality_gates.suites as checks

    (tmp_path / "x.json").write_text(json.dumps({"name": "x", "expectations": [
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "bene_id", "regex": "."},
         "meta": {"name": "n", "engine": "gx"}}]}))
    monkeypatch.setattr(checks, "EXPECTATIONS_DIR", tmp_path)
    with pytest.raises(checks.SuiteError, match="private"):
        load_suite("x")
    assert PRIVATE_COLUMN.search("source_bene_id") and PRIVATE_COLUMN.search("raw")


def test_dq_results_appends_one_part_per_step(tmp_path):
    o = Outcome("a", "t", "duckdb", "ERROR", True, observed="0")
    append_dq_results(tmp_path, "run-1", "partb_lines", [("c", o)])
    append_dq_results(tmp_path, "run-2", "partb_lines", [("c", o)])
    rows = duckdb.connect().execute(
        f"SELECT run_id, asset, check_name, passed, severity FROM read_parquet('{tmp_path}/dq_results/*.parquet') ORDER BY 1"
    ).fetchall()
    assert rows == [("run-1", "partb_lines", "c", True, "ERROR"), ("run-2", "partb_lines", "c", True, "ERROR")]


# --------------------------------------------------------------------------------------------
# Episode and scoring stages: every asset has a suite; broken tables fail the right expectation.

NO_TABLE_ASSETS = {"publish", "reports", "run_summary"}  # publish moves tables; reports writes HTML/CSV files,
# run_summary a JSON file: no table


def test_every_asset_in_the_definitions_has_a_suite(tmp_path):
    from assets.definitions import build_definitions

    defs = build_definitions(RunSettings(input_dir=tmp_path, out_dir=tmp_path))
    assets = {k.to_user_string() for a in defs.assets for k in a.keys if not a.is_observable}  # side inputs: observed
    assert {"episodes", "episode_lines", "episode_attribution", "episode_attribution_tin", "episode_costs",
            "episode_risk", "eligibility", "cost_measure_scores", "cost_benchmarks", "quality_benchmarks",
            "quality_measure_points", "participant_scores", "payment_adjustments"} <= assets
    assert sorted(assets - NO_TABLE_ASSETS - set(available_suites())) == []
    checked = {k.asset_key.to_user_string() for c in defs.asset_checks for k in c.check_keys}
    assert checked == assets - NO_TABLE_ASSETS


def _warehouse(tmp_path, **tables: str) -> RunSettings:
    settings = RunSettings(input_dir=tmp_path, out_dir=tmp_path)
    settings.warehouse_dir.mkdir(exist_ok=True)
    for name, select in tables.items():
        duckdb.connect().execute(f"COPY ({select}) TO '{settings.warehouse_dir / name}.parquet' (FORMAT parquet)")
    return settings


_EPISODE_COLS = """episode_id, cohort, bene_id, trigger_date, confirming_date, start_date, end_date, performance_year, status,
                   trigger_tin, trigger_npi, truncated_at_death, death_date, scorable, excluded, quarantined"""
_GOOD_EPISODE = ("('HF-00000000000000a1', 'HF', 'BENE1', DATE '2026-01-05', DATE '2026-02-01', DATE '2026-01-05', "
                 "DATE '2027-01-04', 2027, 'closed', '001000002', '1234567893', false, NULL::DATE, true, false, false)")
_PARTB = "SELECT DATE '2027-06-30' AS service_date FROM range(10)"


def _failed(report: dict) -> set[str]:
    return {f["name"] for f in report["failing_expectations"]}


def _evaluate(asset: str, settings, run_id: str) -> tuple[dict, dict]:
    """The blocking and the warning check's reports of an asset's suite."""
    ev = evaluate(asset, settings, run_id)
    err, warn = ev.report("ERROR"), ev.report("WARN")
    err["passed"], warn["passed"] = not ev.failed_errors, all(o.passed for o in ev.warnings)
    return err, warn


def test_episode_ending_before_it_starts_fails_e3_blocking(tmp_path):
    ok = _warehouse(tmp_path, partb_lines=_PARTB,
                    episodes=f"SELECT * FROM (VALUES {_GOOD_EPISODE}) AS t({_EPISODE_COLS})")
    err, warn = _evaluate("episodes", ok, "run-ok")
    assert err["passed"] and warn["passed"], (err["summary"], warn["summary"])

    broken = _GOOD_EPISODE.replace("'HF-00000000000000a1'", "'HF-00000000000000b2'").replace("'BENE1'", "'BENE2'")
    broken = broken.replace("DATE '2027-01-04', 2027", "DATE '2026-01-04', 2026")  # end a year before start
    bad = _warehouse(tmp_path, episodes=f"SELECT * FROM (VALUES {_GOOD_EPISODE}, {broken}) AS t({_EPISODE_COLS})")
    err, warn = _evaluate("episodes", bad, "run-bad")
    assert not err["passed"]
    assert _failed(err) == {"end_not_before_start"}
    assert err["summary"].startswith("episodes: check episodes/episodes_expectations failed: end_not_before_start: 1 of 2 rows")
    assert _failed(warn) == {"end_is_start_plus_364_unless_death"}
    assert "BENE2" not in str(err) + str(warn)


def test_share_above_1_fails_a1_blocking(tmp_path):
    rows = """('HF-00000000000000a1', 'BENE1', '001000002', '1234567893', 3, 0, 'qualifying_lines', 3.0, 4.0, 0.75::DOUBLE, true),
              ('HF-00000000000000a1', 'BENE1', '001000002', '1999900099', 1, 0, 'qualifying_lines', 1.0, 4.0, 0.25::DOUBLE, false)"""
    cols = "episode_id, bene_id, tin, npi, qualifying_lines, assigned_lines, basis, basis_value, basis_total, share, attributed"
    episodes = f"SELECT * FROM (VALUES {_GOOD_EPISODE}) AS t({_EPISODE_COLS})"
    ok = _warehouse(tmp_path, episodes=episodes, episode_attribution=f"SELECT * FROM (VALUES {rows}) AS t({cols})")
    err, warn = _evaluate("episode_attribution", ok, "run-ok")
    assert err["passed"] and warn["passed"], (err["summary"], warn["summary"])

    bad = _warehouse(tmp_path, episode_attribution=f"SELECT * FROM (VALUES {rows.replace('0.75::DOUBLE', '1.2::DOUBLE')}) AS t({cols})")
    err, warn = _evaluate("episode_attribution", bad, "run-bad")
    assert not err["passed"]
    assert _failed(err) == {"share_in_0_1", "share_is_basis_ratio", "shares_sum_to_at_most_1"}
    by_name = {f["name"]: f for f in err["failing_expectations"]}
    assert by_name["share_in_0_1"]["unexpected_count"] == 1 and by_name["share_in_0_1"]["examples"] == [1.2]
    assert warn["passed"]  # 1.2 >= 0.30 and attributed: the threshold WARN agrees


def test_examples_never_print_identifiers_when_a_delivery_s_columns_are_shifted(tmp_path):
    """Issue 13: a delivery whose columns are shifted puts beneficiary ids (MBI-like) in the TIN column;
    the failing check shows what the values look like (their shape), never the values."""
    path = tmp_path / "partb_lines.parquet"
    duckdb.connect().execute(f"""COPY (SELECT '1EG4TE5MK73' AS tin, DATE '2026-01-05' AS service_date,
                                        'I509' AS line_dx) TO '{path}' (FORMAT parquet)""")
    outcomes = {o.name: o for o in run_suite("partb_lines", path)}
    tin = outcomes["tin_9_digits"]
    assert not tin.passed and tin.examples == ["9AA9AA9AA99"]
    assert "1EG4TE5MK73" not in str([o.line() for o in outcomes.values()])


def test_unique_key_passes_on_distinct_hashes_and_counts_a_bad_npi_once_per_value(tmp_path):
    """expect_compound_columns_to_be_unique answers from distinct key hashes when they equal the rows; the NPI
    check tests each distinct NPI once and reports its lines."""
    _table(tmp_path, "ingest_files", "SELECT 'f' AS source_file, 'cclf5' AS kind, 3::BIGINT AS rows_loaded")
    good = _table(tmp_path, "partb_lines", """
        SELECT 'C' || i AS claim_control_number, 1 AS line_number, 'X' || i AS claim_id, 'BENE' || i AS bene_id,
               DATE '2026-01-05' AS service_date, DATE '2026-01-05' AS service_thru_date, '99214' AS hcpcs,
               'I509' AS line_dx, ['I509'] AS claim_dx, '001000002' AS tin,
               CASE WHEN i < 2 THEN '1234567890' ELSE '1234567893' END AS npi, '06' AS specialty,
               '11' AS place_of_service, 'cclf5' AS source_layout, 10.00::DECIMAL(18,2) AS allowed_amount,
               8.00::DECIMAL(18,2) AS paid_amount, 10.00::DECIMAL(18,2) AS cost_amount, 1.0 AS standardization_factor,
               1 AS versions, 0 AS cancels
        FROM range(3) AS r(i)""")
    outcomes = {o.name: o for o in run_suite("partb_lines", good)}
    assert outcomes["netting_key_unique"].passed and outcomes["netting_key_unique"].element_count == 3
    assert outcomes["netting_key_unique"].observed == "0 duplicated keys"
    assert not outcomes["npi_valid"].passed
    assert outcomes["npi_valid"].unexpected_count == 1 and outcomes["npi_valid"].examples[0]["lines"] == 2


# --------------------------------------------------------------------------------------------
# Issue 20 item 3: one scan per table


def test_row_filter_is_only_a_query_that_filters_the_table_s_rows(tmp_path):
    from pipelines.engine.quality_gates.duckdb_engine import row_filter

    path = _table(tmp_path, "t", "SELECT range AS a, 2 * range AS b, 'x' AS s FROM range(10)")
    con, relation = duckdb.connect(), f"read_parquet('{path}')"
    assert row_filter(con, "SELECT a, b - a AS d FROM {batch} WHERE a > 1 AND s <> 'y'", relation) == "a > 1 AND s <> 'y'"
    for query in ("SELECT count(*) FROM {batch} WHERE a > 1",  # an aggregate: one row, whatever the filter
                  "SELECT a, lag(a) OVER (ORDER BY a) FROM {batch} WHERE a > 1",
                  "SELECT a FROM {batch} AS t WHERE a > 1",
                  "SELECT a FROM {batch} WHERE a > 1 ORDER BY a",
                  "SELECT a FROM {batch} WHERE a > (SELECT min(a) FROM {batch})",
                  "SELECT a FROM {batch} WHERE a IN (SELECT n FROM {table:other})",
                  "SELECT nope FROM {batch} WHERE a > 1"):  # does not bind: evaluated alone, with its error
        assert row_filter(con, query, relation) is None, query


def _suite(tmp_path, monkeypatch, expectations: list[dict]) -> None:
    import pipelines.engine.quality_gates.suites as suites

    (tmp_path / "t.json").write_text(json.dumps({"name": "t", "expectations": expectations}))
    monkeypatch.setattr(suites, "EXPECTATIONS_DIR", tmp_path)


def _sql(name: str, query: str) -> dict:
    return {"type": "unexpected_rows_expectation", "kwargs": {"unexpected_rows_query": query}, "meta": {"name": name}}


def test_one_scan_per_table_gives_the_outcomes_of_one_query_per_expectation(tmp_path, monkeypatch):
    import pipelines.engine.quality_gates.duckdb_engine as engine

    path = _table(tmp_path, "t", """SELECT i AS k, i % 3 AS g, CASE WHEN i = 4 THEN -1 ELSE i END AS v,
                                           'f' || (i % 2) AS source_file FROM range(8) AS r(i)
                                    UNION ALL SELECT 7, 1, 7, 'f1'""")
    _suite(tmp_path, monkeypatch, [
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["k", "g"]}, "meta": {"name": "key"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "v"}, "meta": {"name": "v_unique"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "v", "min_value": 0}, "meta": {"name": "v_min"}},
        _sql("negative", "SELECT k, v, source_file FROM {batch} WHERE v < 0"),
        _sql("none", "SELECT k FROM {batch} WHERE v > 100"),
        _sql("grouped", "SELECT g, count(*) AS n FROM {batch} GROUP BY g HAVING count(*) > 2"),
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "meta": {"name": "rows"}},
    ])
    fused = run_suite("t", path)
    monkeypatch.setattr(engine, "row_filter", lambda *a: None)
    monkeypatch.setattr(engine, "UNIQUE_TYPES", frozenset())
    alone = run_suite("t", path)
    assert fused == alone
    by_name = {o.name: o for o in fused}
    assert not by_name["negative"].passed and by_name["negative"].unexpected_count == 1
    assert by_name["negative"].files == ["f0"] and by_name["none"].passed and not by_name["key"].passed


def test_a_one_scan_that_fails_falls_back_to_one_query_each(tmp_path, monkeypatch):
    path = _table(tmp_path, "t", "SELECT range AS k, CASE WHEN range = 3 THEN 'x' ELSE range::VARCHAR END AS s FROM range(5)")
    _suite(tmp_path, monkeypatch, [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "k"}, "meta": {"name": "k_present"}},
        _sql("s_number", "SELECT k FROM {batch} WHERE CAST(s AS INTEGER) < 0"),  # fails at run time on 'x'
        _sql("k_small", "SELECT k FROM {batch} WHERE k > 3"),
    ])
    by_name = {o.name: o for o in run_suite("t", path)}
    assert by_name["k_present"].passed and by_name["k_present"].element_count == 5
    assert not by_name["s_number"].passed and "Conversion" in by_name["s_number"].error
    assert by_name["k_small"].unexpected_count == 1


def test_issue_20_the_checks_connection_takes_the_runs_memory_budget_and_spill_folder(tmp_path, monkeypatch):
    """Issue 20 (a 10 M run within 4 GB): the suites' DuckDB connection is opened with the run's
    --memory-limit and OUT/.tmp like every stage's, not DuckDB's default of 80% of the machine."""
    import pipelines.engine.quality_gates as qg

    opened = []
    real = qg.connect

    def spy(*args):
        con = real(*args)
        opened.append(con.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone())
        return con

    monkeypatch.setattr(qg, "connect", spy)
    path = _bad_partb(tmp_path)
    outcomes = run_suite("partb_lines", path, threads=1, memory_limit="1GB", temp_dir=tmp_path / "spill")
    assert outcomes and len(opened) == 1
    limit, spill = opened[0]
    assert limit != duckdb.connect().execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert "MiB" in limit or "MB" in limit  # DuckDB's share of 1GB, not the machine's gigabytes
    assert spill == str(tmp_path / "spill")
