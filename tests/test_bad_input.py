"""Issue 6, bad input end to end: broken deliveries built in tmp_path from small valid ones, each run
through `asm run` with the exact outcome asserted (quarantine with reason, one-line error naming the
file, or a blocked downstream), the previous run's warehouse untouched when the run fails, and
rows read = loaded + excluded + quarantined per file (from ingest_files)."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from tests.cclf_builders import fixed_width, partb_line, write_csv, write_fixed

ZC5 = "P.A1234.ACO.ZC5Y26.D260410.T1200000"
ZC5_LATER = "P.A1234.ACO.ZC5Y26.D260510.T1200000"
N_GOOD = 400  # one bad row in 401 is 0.25%: under the 1% refusal rate, over the 0.1% warning


# A plausible delivery (issue 13 judges deliveries of >= 100 lines): several clinicians, several days.
NPIS = ["1999900099", "1234567893", "1555555550", "1666666668", "1777777776", "1888888884"]


def _good(i: int, **kw) -> dict:
    day = f"2026-03-{1 + i % 28:02d}"
    kw = {"RNDRG_PRVDR_NPI_NUM": NPIS[i % len(NPIS)], "CLM_LINE_FROM_DT": day, "CLM_LINE_THRU_DT": day,
          "CLM_FROM_DT": day, "CLM_THRU_DT": day, **kw}
    return partb_line(CUR_CLM_UNIQ_ID=f"{i:013d}", CLM_CNTL_NUM=f"GOOD{i}", **kw)


def _good_rows(n: int = N_GOOD) -> list[dict]:
    return [_good(i) for i in range(1, n + 1)]


@pytest.fixture(scope="module")
def previous_out(tmp_path_factory) -> Path:
    """One good run whose published warehouse every failing test must leave untouched."""
    base = tmp_path_factory.mktemp("previous")
    inp = base / "in"
    inp.mkdir()
    write_fixed(inp / ZC5, "cclf5", _good_rows(20))
    assert main(["run", "--input", str(inp), "--out", str(base / "out"), "--quiet"]) == 0
    return base / "out"


class Runner:
    """asm run on tmp_path/in with OUT pre-filled by the previous good run."""

    def __init__(self, tmp_path: Path, previous_out: Path, capsys):
        self.inp, self.out, self.capsys = tmp_path / "in", tmp_path / "out", capsys
        self.inp.mkdir()
        shutil.copytree(previous_out, self.out)
        self.before = _snapshot(self.out / "warehouse")

    def __call__(self, *options: str):
        self.capsys.readouterr()
        rc = main(["run", "--input", str(self.inp), "--out", str(self.out), "--quiet", *options])
        return rc, self.capsys.readouterr().err.strip(), self.out, self.before


@pytest.fixture
def run(tmp_path, previous_out, capsys) -> Runner:
    return Runner(tmp_path, previous_out, capsys)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _staged(out: Path) -> Path:
    runs = list((out / ".staging").iterdir())
    assert len(runs) == 1
    return runs[0]


def _files(path: Path) -> list[dict]:
    con = duckdb.connect()
    cur = con.execute(f"SELECT * FROM read_parquet('{path}') ORDER BY source_file")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _assert_reconciled(ingest_files: Path) -> list[dict]:
    rows = _files(ingest_files)
    assert rows
    for r in rows:
        assert r["rows_read"] == r["rows_loaded"] + r["rows_excluded"] + r["rows_quarantined"], r
        assert r["reconciled"]
    return rows


def _assert_failed_cleanly(rc, err, out, before, *must_contain):
    assert rc == 1
    assert err.startswith("asm: error: ") and "\n" not in err, err
    for text in must_contain:
        assert text in err, err
    assert "left unchanged" in err
    assert _snapshot(out / "warehouse") == before  # previous outputs intact


def json_of(path: Path) -> dict:
    import json
    return json.loads(path.read_text())


def _quarantine(path: Path) -> list[tuple]:
    return duckdb.connect().execute(
        f"SELECT source_row, reason FROM read_parquet('{path}') ORDER BY source_row").fetchall()


# -- whole-file problems: one line naming the file and what was expected -------------------------


@pytest.mark.parametrize("name, content, problem", [
    ("binary garbage", b"\x00\x01\x02garbage\xff\xfe" * 200, "file is binary, not text; expected CCLF5 fixed-width"),
    ("empty file", b"", "file is empty; expected CCLF5 fixed-width records of 388 bytes"),
    ("wrong record length", b"", None),
    ("ZC5 name, CCLF1 records", fixed_width("cclf1", [{"CUR_CLM_UNIQ_ID": "1"}] * 3).encode(),
     "records are 437 bytes (looks like CCLF1); expected CCLF5 fixed-width records of 388 bytes (name says CCLF5)"),
])
def test_whole_file_errors_name_the_file_and_keep_previous_outputs(run, name, content, problem):
    if name == "wrong record length":
        recs = [line[:380] for line in fixed_width("cclf5", _good_rows(5)).splitlines()]
        content = ("\n".join(recs) + "\n").encode()
        problem = "records are 380 bytes; expected CCLF5 fixed-width records of 388 bytes (name says CCLF5)"
    (run.inp / ZC5).write_bytes(content)
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before, f"ingest: {ZC5}: {problem}")


def test_csv_missing_columns_fails_naming_file_and_columns(run):
    path = write_csv(run.inp / f"{ZC5}.csv", "cclf5", _good_rows(3))
    header, body = path.read_text().split("\n", 1)
    path.write_text(header.replace("CLM_CNTL_NUM,", "").replace("CLM_LINE_FROM_DT,", "") + "\n" + body)
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before,
                           f"ingest: {ZC5}.csv: missing columns CLM_LINE_FROM_DT, CLM_CNTL_NUM; expected CCLF5 CSV")


# -- row-level problems: quarantined with a reason, the rest loads, counts reconcile --------------


def test_truncated_fixed_width_file_quarantines_the_cut_record_and_warns(run):
    text = fixed_width("cclf5", _good_rows(N_GOOD + 1))
    (run.inp / ZC5).write_text(text[: len(text) - 200])  # the last record is cut 199 bytes short, no newline
    rc, err, out, _ = run()
    assert rc == 0, err
    wh = out / "warehouse"
    assert _quarantine(wh / "quarantine.parquet") == [(N_GOOD + 1, "wrong_record_length")]
    [f] = _assert_reconciled(wh / "ingest_files.parquet")
    assert (f["rows_read"], f["rows_loaded"], f["rows_quarantined"]) == (N_GOOD + 1, N_GOOD, 1)
    warn = duckdb.connect().execute(
        f"""SELECT passed, severity, observed_value FROM read_parquet('{out}/dq_results/*.parquet')
            WHERE expectation = 'quarantine_rate_above_0_1pct' ORDER BY evaluated_at DESC LIMIT 1""").fetchone()
    assert warn == (False, "WARN", "1 unexpected rows")  # a human should look; the run still published


def test_one_wrong_length_record_in_a_good_file_is_quarantined(run):
    lines = fixed_width("cclf5", _good_rows(N_GOOD + 1)).splitlines()
    lines[9] = lines[9] + "EXTRA"
    (run.inp / ZC5).write_text("\n".join(lines) + "\n")
    rc, err, out, _ = run()
    assert rc == 0, err
    assert _quarantine(out / "warehouse" / "quarantine.parquet") == [(10, "wrong_record_length")]
    _assert_reconciled(out / "warehouse" / "ingest_files.parquet")


def test_non_numeric_amounts_above_the_rate_stop_ingest_naming_file_and_rows(run):
    rows = _good_rows(95) + [_good(1000 + i, CLM_LINE_ALOWD_CHRG_AMT="00000000ABC.DE") for i in range(5)]
    write_fixed(run.inp / ZC5, "cclf5", rows)
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before, f"ingest: {ZC5}: 5 of 100 rows quarantined (5.0% > 1.0% allowed)",
                           "first: row 96: non_numeric_amount:allowed_amount; row 97: non_numeric_amount:allowed_amount")
    staged = _staged(out)  # this run's quarantine and reconciliation are kept for inspection
    assert _quarantine(staged / "quarantine.parquet")[0] == (96, "non_numeric_amount:allowed_amount")
    _assert_reconciled(staged / "ingest_files.parquet")


def test_date_outside_1900_2100_is_quarantined(run):
    rows = _good_rows() + [_good(9999, CLM_LINE_FROM_DT="2150-01-01", CLM_LINE_THRU_DT="2150-01-01")]
    write_fixed(run.inp / ZC5, "cclf5", rows)
    rc, err, out, _ = run()
    assert rc == 0, err
    assert _quarantine(out / "warehouse" / "quarantine.parquet") == [(N_GOOD + 1, "unparseable_date:service_date")]
    _assert_reconciled(out / "warehouse" / "ingest_files.parquet")


def test_plausible_looking_future_date_blocks_downstream_at_the_partb_lines_check(run):
    rows = _good_rows(30) + [_good(9999, CLM_LINE_FROM_DT="2099-06-01", CLM_LINE_THRU_DT="2099-06-01")]
    write_fixed(run.inp / ZC5, "cclf5", rows)
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before,
                           "ingest: check partb_lines/partb_lines_expectations failed: service_date_in_range: "
                           "1 of 31 rows e.g. 2099-06-01")
    _assert_reconciled(_staged(out) / "ingest_files.parquet")  # read = loaded: nothing was lost, just not published


def test_duplicated_delivery_counts_once_and_the_older_copy_is_audited_n2(run):
    write_fixed(run.inp / ZC5, "cclf5", _good_rows(10))
    write_fixed(run.inp / ZC5_LATER, "cclf5", _good_rows(10))
    rc, err, out, _ = run()
    assert rc == 0, err
    older, newer = _assert_reconciled(out / "warehouse" / "ingest_files.parquet")
    assert (older["source_file"], older["rows_read"], older["rows_excluded"], older["rows_loaded"]) == (ZC5, 10, 10, 0)
    assert (newer["rows_read"], newer["rows_loaded"]) == (10, 10)
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM '{out}/warehouse/partb_lines.parquet'").fetchone()[0] == 10
    assert con.execute(f"SELECT DISTINCT rule FROM '{out}/warehouse/ingest_audit.parquet'").fetchall() == [("N2",)]


# -- issue 13 item 3: well-formed but wrong deliveries stop the run (blocking check on ingest_files) ---

PLAUSIBLE = "ingest: check ingest_files/ingest_files_expectations failed: delivery_plausible: observed 1 unexpected rows"


def _wrong_delivery(i: int, problem: str) -> dict:
    """Line i of a 400-line delivery that is wrong in one way."""
    if problem == "negative allowed":  # 10% of original lines negative (cancels are the negative versions)
        return _good(i, CLM_LINE_ALOWD_CHRG_AMT="-00000125.33" if i % 10 == 0 else "00000125.33")
    if problem == "one NPI":
        return _good(i, RNDRG_PRVDR_NPI_NUM="1999900099")
    if problem == "one service date":
        return _good(i, CLM_LINE_FROM_DT="2026-03-02", CLM_LINE_THRU_DT="2026-03-02")
    if problem == "all diagnoses blank":
        return _good(i, CLM_LINE_DGNS_CD="", **{f"CLM_DGNS_{k}_CD": "" for k in range(1, 13)})
    return _good(i, CLM_RNDRG_PRVDR_TAX_NUM="000000000")  # TINs all zeros


@pytest.mark.parametrize("problem, reason", [
    ("negative allowed", "10.0% of original lines have a negative allowed amount (limit 1.0%)"),
    ("one NPI", "every line has the same NPI"),
    ("one service date", "every line has the same service date"),
    ("all diagnoses blank", "every line's diagnosis codes are blank"),
    ("TINs all zeros", "every line's TIN is all zeros"),
])
def test_well_formed_but_wrong_delivery_stops_the_run_naming_file_and_reason(run, problem, reason):
    write_fixed(run.inp / ZC5, "cclf5", [_wrong_delivery(i, problem) for i in range(1, N_GOOD + 1)])
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before, PLAUSIBLE, f"'source_file': '{ZC5}'", reason)


def test_delivery_whose_amounts_jump_orders_of_magnitude_stops_the_run(run):
    write_fixed(run.inp / "P.A1234.ACO.ZC5Y26.D260310.T1200000", "cclf5", _good_rows())
    write_fixed(run.inp / ZC5, "cclf5", [_good(i + 1000) for i in range(1, N_GOOD + 1)])
    write_fixed(run.inp / ZC5_LATER, "cclf5", [_good(i + 2000, CLM_LINE_ALOWD_CHRG_AMT="00125330.00")
                                               for i in range(1, N_GOOD + 1)])  # x1000: cents read as dollars
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before, PLAUSIBLE, f"'source_file': '{ZC5_LATER}'",
                           "median allowed amount 125330.00 is 1e+03x the deliveries' median 125.33 (limit 10x)")


# -- issue 21 item 1: amounts checked against a plausible band, not only against the other deliveries ---------

AMOUNTS = "ingest: check ingest_files/ingest_files_expectations failed: allowed_amounts_plausible: observed 2 unexpected rows"
X100 = ("allowed amounts look 100x too large (median allowed for 99213/99214/99215 is $12,533 against a plausible "
        "$40-$400): cents read as dollars? (if they are right: asm run --accept-amounts)")


def _x100_in_every_delivery(run) -> None:
    """Two months of Part B deliveries whose amounts are all in cents read as dollars (x100)."""
    for k, name in enumerate((ZC5, ZC5_LATER)):
        write_fixed(run.inp / name, "cclf5", [_good(1000 * k + i, CLM_LINE_ALOWD_CHRG_AMT="00012533.00",
                                                     CLM_LINE_CVRD_PD_AMT="00009821.00") for i in range(1, N_GOOD + 1)])


def test_amounts_x100_in_every_delivery_stop_the_run_against_the_em_band(run):
    _x100_in_every_delivery(run)  # the deliveries agree with each other: only the absolute band sees it
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before, AMOUNTS, f"{{'source_file': '{ZC5}', 'amount_problem': '{X100}'}}",
                           f"{{'source_file': '{ZC5_LATER}', 'amount_problem': '{X100}'}}")
    assert "delivery_plausible" not in err


def test_accept_amounts_runs_on_and_is_recorded_in_provenance(run):
    _x100_in_every_delivery(run)
    rc, err, out, _ = run("--accept-amounts")
    assert rc == 0, err
    assert _summary(out)["provenance"]["accepted"] == {"incomplete": [], "amounts": True}
    assert json_of(out / "current" / "provenance.json")["accepted"] == {"incomplete": [], "amounts": True}
    assert _warning(out, "accepted_by_option") == (False, "2 unexpected rows")
    accepted = duckdb.connect().execute(
        f"SELECT DISTINCT accepted_problem FROM '{out}/warehouse/ingest_files.parquet'").fetchall()
    assert accepted == [("amounts: " + X100.removesuffix(" (if they are right: asm run --accept-amounts)"),)]


def _world_with_part_a_x100(inp: Path) -> None:
    """A small synthetic world (both cohorts, ~40 scorable episodes each in 2026) whose CCLF1 payments are all
    in cents read as dollars: the Part B E&M band cannot see it, the cohort's mean episode cost can."""
    import polars as pl

    from pipelines.synthetic import generate

    generate(inp, scale=20_000, seed=3, fmt="csv")
    for f in sorted(inp.glob("*ZC1*.csv")):
        df = pl.read_csv(f, infer_schema=False)
        df.with_columns((pl.col("CLM_PMT_AMT").cast(pl.Float64) * 100).round(2).cast(pl.Utf8)).write_csv(f)


def test_part_a_amounts_x100_stop_the_run_against_cms_national_average_cost(run):
    _world_with_part_a_x100(run.inp)
    rc, err, out, before = run()
    _assert_failed_cleanly(
        rc, err, out, before,
        "episodes: check episode_costs/episode_costs_expectations failed: cohort_cost_plausible: observed 4 "
        "unexpected rows e.g. {'cohort': 'HF', 'performance_year': 2026, 'cohort_cost_problem': \"HF 2026: mean "
        "episode cost $1,176,951 over 38 scorable episodes is 78.5x CMS's national average $14,994 (COST_HF_1; "
        "limit 5x either way): amounts in cents read as dollars (Part B allowed, Part A CLM_PMT_AMT)? (if it is "
        "right: asm run --accept-amounts)\"}")
    rc, err, out, _ = run("--accept-amounts")  # the override runs on and is recorded
    assert rc == 0, err
    assert _summary(out)["provenance"]["accepted"] == {"incomplete": [], "amounts": True}


# -- issue 13 item 5: fields never read never cost a row; no names in the quarantine; nothing vanishes ---

def _cclf8(bene: str, first: str = "Ann", **kw) -> dict:
    return {"BENE_MBI_ID": bene, "BENE_DOB": "1950-01-01", "BENE_SEX_CD": "2", "BENE_MDCR_STUS_CD": "10",
            "BENE_1ST_NAME": first, "BENE_LAST_NAME": "Smith", "BENE_LINE_1_ADR": "1 Main St", **kw}


ZC8 = "P.A1234.ACO.ZC8Y26.D260410.T1200000"


def test_latin1_bytes_in_cclf8_names_never_cost_a_row_fixed_width_and_csv(run):
    write_fixed(run.inp / ZC5, "cclf5", _good_rows(20))
    fixed = fixed_width("cclf8", [_cclf8("1AA0AA0AA01", "Jose"), _cclf8("1AA0AA0AA02")]).encode("latin-1")
    (run.inp / ZC8).write_bytes(fixed.replace(b"Jose", "Jos\xe9".encode("latin-1")))  # one byte, not UTF-8
    csv_path = write_csv(run.inp / "P.A1234.ACO.ZC8Y26.D260510.T1200000.csv", "cclf8", [_cclf8("1AA0AA0AA03", "Jose")])
    csv_path.write_bytes(csv_path.read_bytes().replace(b"Jose", b"Jos\xe9"))
    rc, err, out, _ = run()
    assert rc == 0, err
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM '{out}/warehouse/beneficiaries.parquet'").fetchone()[0] == 3
    assert con.execute(f"SELECT count(*) FROM '{out}/warehouse/quarantine.parquet'").fetchone()[0] == 0


def test_a_rejected_cclf8_record_is_quarantined_without_names_or_addresses(run):
    write_fixed(run.inp / ZC5, "cclf5", _good_rows(20))
    lines = fixed_width("cclf8", [_cclf8(f"1AA0AA0AA{i:02d}", "Marguerite") for i in range(1, 201)]).splitlines()
    lines[4] = lines[4][:300]  # one record cut short: its fields cannot be located
    lines[6] = lines[6][:32] + "1950-13-45" + lines[6][42:]  # one unparseable birth date
    (run.inp / ZC8).write_text("\n".join(lines) + "\n")
    rc, err, out, _ = run()
    assert rc == 0, err
    rows = duckdb.connect().execute(
        f"SELECT source_row, reason, raw FROM '{out}/warehouse/quarantine.parquet' ORDER BY source_row").fetchall()
    assert [(r, reason) for r, reason, _ in rows] == [(5, "wrong_record_length"), (7, "unparseable_date:birth_date")]
    assert rows[0][2] == "[not stored: a CCLF8 row that cannot be cut into fields may hold names or addresses]"
    assert not any(word in raw for _, _, raw in rows for word in ("Marguerite", "Smith", "Main"))


def test_records_padded_with_blanks_past_the_record_length_are_read_with_a_warning(run):
    text = fixed_width("cclf5", _good_rows(30))
    (run.inp / ZC5).write_text("\n".join(line + "    " for line in text.splitlines()) + "\n")
    rc, err, out, _ = run()
    assert rc == 0, err
    [f] = _assert_reconciled(out / "warehouse" / "ingest_files.parquet")
    assert (f["rows_loaded"], f["padded_records"]) == (30, 30)
    warn = duckdb.connect().execute(
        f"""SELECT passed, observed_value FROM read_parquet('{out}/dq_results/*.parquet')
            WHERE expectation = 'records_padded_past_record_length' ORDER BY evaluated_at DESC LIMIT 1""").fetchone()
    assert warn == (False, "1 unexpected rows")


def test_a_utf8_byte_order_mark_never_costs_the_first_record(run):
    (run.inp / ZC5).write_bytes(b"\xef\xbb\xbf" + fixed_width("cclf5", _good_rows(10)).encode())
    write_csv(run.inp / f"{ZC5_LATER}.csv", "cclf5", [_good(i + 100) for i in range(1, 11)])
    csv_path = run.inp / f"{ZC5_LATER}.csv"
    csv_path.write_bytes(b"\xef\xbb\xbf" + csv_path.read_bytes())
    rc, err, out, _ = run()
    assert rc == 0, err
    assert [(f["rows_read"], f["rows_loaded"]) for f in _assert_reconciled(out / "warehouse" / "ingest_files.parquet")] \
        == [(10, 10), (10, 10)]


def test_nothing_in_the_input_folder_vanishes_unmentioned(run, capsys):
    write_fixed(run.inp / ZC5, "cclf5", _good_rows(10))
    (run.inp / "old").mkdir()
    write_fixed(run.inp / "old" / ZC5_LATER, "cclf5", _good_rows(10))
    (run.inp / ".DS_Store").write_text("x")
    (run.inp / "broken.csv").symlink_to(run.inp / "missing.csv")
    (run.inp / "loop").symlink_to(run.inp / "loop")
    rc, err, out, _ = run()
    assert rc == 0, err
    import json
    md = json.loads((out / "run_summary.json").read_text())["tables"]["partb_lines"]
    notes = md["ignored_files"]
    assert notes == {".DS_Store": "hidden file", "broken.csv": "broken or looping symbolic link",
                     "loop": "broken or looping symbolic link",
                     "old": "folder: files in sub-folders are not read"}


# -- issue 21 item 2: an incomplete delivery stops the run, naming the file or month; --accept-incomplete accepts it --

COMPLETE = "ingest: check ingest_files/ingest_files_expectations failed: deliveries_complete: observed"


def _month_file(month: int) -> str:
    return f"P.A1234.ACO.ZC5Y26.D26{month:02d}10.T1200000"


def _rif_header_only(path: Path) -> None:
    layout = Path(__file__).parents[1] / "data" / "reference" / "layouts" / "rif_carrier.csv"
    names = [line.split(",")[1] for line in layout.read_text().splitlines()[1:]]
    path.write_text("|".join(names) + "\n")


@pytest.mark.parametrize("case, problem", [
    ("header-only CSV", "no rows: the file holds a header only"),
    ("header-only RIF", "no rows: the file holds a header only"),
    ("every line denied", "none of its 5 rows was loaded (excluded: N3 5)"),
    ("processing indicator blank on every line", "none of its 5 rows was loaded (excluded: N3 5)"),
])
def test_delivery_with_no_rows_loaded_stops_the_run_naming_the_file(run, case, problem):
    write_fixed(run.inp / ZC5, "cclf5", _good_rows(20))  # the month before has lines (ingest.incomplete_min_neighbour_lines)
    if case == "header-only CSV":
        bad = write_csv(run.inp / f"{ZC5_LATER}.csv", "cclf5", []).name
    elif case == "header-only RIF":
        bad = "carrier_2026_05.txt"
        _rif_header_only(run.inp / bad)
    else:
        bad = ZC5_LATER
        kw = {"CLM_CARR_PMT_DNL_CD": "0"} if case == "every line denied" else {"CLM_PRCSG_IND_CD": ""}
        write_fixed(run.inp / bad, "cclf5", [_good(i + 50, **kw) for i in range(1, 6)])
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before, COMPLETE + " 1 unexpected rows",
                           f"{{'source_file': '{bad}', 'completeness_problem': '{problem} (if expected: asm run "
                           f"--accept-incomplete {'2026-05' if case != 'header-only RIF' else bad})'}}")


def test_a_month_missing_from_the_monthly_sequence_stops_the_run_naming_the_month(run):
    for m in (1, 2, 4):  # March missing
        write_fixed(run.inp / _month_file(m), "cclf5", [_good(100 * m + i) for i in range(1, 21)])
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before, COMPLETE + " 1 unexpected rows",
                           f"{{'source_file': '{_month_file(4)}', 'completeness_problem': "
                           "'2026-03 missing: no CCLF5 delivery between 2026-02 and 2026-04 "
                           "(if expected: asm run --accept-incomplete 2026-03)'}")


def test_a_month_far_below_its_neighbours_stops_the_run_naming_the_month(run):
    for m in (1, 2, 3, 4, 5):  # 400 lines a month, but March: 40
        n = 40 if m == 3 else N_GOOD
        write_fixed(run.inp / _month_file(m), "cclf5", [_good(1000 * m + i) for i in range(1, n + 1)])
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before, COMPLETE + " 1 unexpected rows",
                           f"{{'source_file': '{_month_file(3)}', 'completeness_problem': 'month 2026-03 has 40 CCLF5 "
                           "lines, 10% of the median of its neighbouring months (400; limit 25%) "
                           "(if expected: asm run --accept-incomplete 2026-03)'}")


def _summary(out: Path) -> dict:
    import json
    return json.loads((out / "run_summary.json").read_text())


def _warning(out: Path, expectation: str) -> tuple:
    return duckdb.connect().execute(
        f"""SELECT passed, observed_value FROM read_parquet('{out}/dq_results/*.parquet')
            WHERE expectation = '{expectation}' ORDER BY evaluated_at DESC LIMIT 1""").fetchone()


def test_accept_incomplete_names_the_month_or_file_and_is_recorded_in_provenance(run):
    for m in (1, 2, 4):  # March missing, April header only
        write_fixed(run.inp / _month_file(m), "cclf5", [_good(100 * m + i) for i in range(1, 21)])
    write_csv(run.inp / f"{_month_file(5)}.csv", "cclf5", [])
    rc, err, out, before = run("--accept-incomplete", f"2026-03,{_month_file(5)}.csv")
    assert rc == 0, err
    accepted = _summary(out)["provenance"]["accepted"]
    assert accepted == {"incomplete": ["2026-03", f"{_month_file(5)}.csv"], "amounts": False}
    assert json_of(out / "current" / "provenance.json")["accepted"] == accepted
    assert _warning(out, "accepted_by_option") == (False, "2 unexpected rows")  # listed for a human
    assert duckdb.connect().execute(
        f"SELECT source_file, accepted_problem FROM '{out}/warehouse/ingest_files.parquet' "
        "WHERE accepted_problem IS NOT NULL ORDER BY 1").fetchall() == [
        (_month_file(4), "incomplete: 2026-03 missing: no CCLF5 delivery between 2026-02 and 2026-04"),
        (f"{_month_file(5)}.csv", "incomplete: no rows: the file holds a header only")]


def test_accepting_another_month_does_not_accept_the_gap(run):
    for m in (1, 2, 4):
        write_fixed(run.inp / _month_file(m), "cclf5", [_good(100 * m + i) for i in range(1, 21)])
    rc, err, out, before = run("--accept-incomplete", "2026-02")
    _assert_failed_cleanly(rc, err, out, before, COMPLETE, "2026-03 missing")


def test_a_csv_with_a_column_named_twice_is_refused_naming_the_column(run):
    path = write_csv(run.inp / f"{ZC5}.csv", "cclf5", _good_rows(3))
    header, body = path.read_text().split("\n", 1)
    path.write_text(header + ",CLM_CNTL_NUM\n" + "\n".join(line + ",X" for line in body.splitlines()) + "\n")
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before,
                           f"ingest: {ZC5}.csv: column CLM_CNTL_NUM appears twice in the header; keep one")


def test_a_file_name_that_is_not_utf8_is_a_one_line_error(run):
    write_fixed(run.inp / ZC5, "cclf5", _good_rows(3))
    import os
    bad = os.fsencode(str(run.inp)) + b"/P.A1234.ACO.ZC5Y26.D260510.T1200000\xff"
    write_fixed(Path(os.fsdecode(bad)), "cclf5", _good_rows(3))
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before, "the file name is not valid UTF-8; rename it")


def test_brackets_in_the_input_path_work(tmp_path, capsys):
    """`[` and `]` in the input, OUT and --config paths (issue 21 item 6): no path is globbed, the side CSVs
    (read by Polars) included."""
    inp = tmp_path / "in [2026]"
    inp.mkdir()
    write_fixed(inp / ZC5, "cclf5", _good_rows(10))
    (inp / "providers.csv").write_text("npi,zip5\n" + "".join(f"{npi},10001\n" for npi in NPIS))
    (inp / "zip_cbsa.csv").write_text("zip5,cbsa_code,cbsa_title,res_ratio\n10001,35620,Metro,1.00\n")
    (inp / "asm_selected_cbsas.csv").write_text("cbsa_code,cbsa_title\n35620,Metro\n")
    (inp / "practice_attestations.csv").write_text("performance_year,tin,ia1_done,ia2_done,pi_score,clinician_count\n")
    config = tmp_path / "cfg [a]" / "methodology.toml"
    config.parent.mkdir()
    config.write_text("")
    assert main(["run", "--input", str(inp), "--out", str(tmp_path / "out [1]"), "--config", str(config),
                 "--quiet"]) == 0, capsys.readouterr().err
    assert (tmp_path / "out [1]" / "warehouse" / "partb_lines.parquet").exists()


# -- issue 21 item 5: a failed blocking check stops the run at once, naming the check and the file -------

# Steps a run may start before its ingest checks have all run; the episodes, scoring, projection, steering,
# reports and publish steps must never start once one of them failed.
INGEST_STEPS = {"observe_side_inputs", "ingest"}
LATER_STEPS = ("episodes_stage.", "eligibility_stage", "episode_risk_stage", "scoring", "projection", "steering",
               "reports", "publish", "run_summary")


def _run_events(out: Path):
    """(steps started, the run failure's error text) of the run OUT/run_summary.json describes."""
    import json

    from dagster import DagsterEventType

    from assets.runtime.runrecord import open_instance

    run_id = json.loads((out / "run_summary.json").read_text())["run_id"]
    with open_instance(out) as instance:
        events = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event]
    started = [e.step_key for e in events if e.event_type == DagsterEventType.STEP_START]
    failure = [e for e in events if e.event_type == DagsterEventType.RUN_FAILURE][0].event_specific_data
    return started, (failure.error.message if failure and failure.error else "")


def _assert_stopped_at(out: Path, check_step: str, seconds: float):
    started, error = _run_events(out)
    assert check_step in started
    later = [k for k in started if k.startswith(LATER_STEPS)]
    assert later == [], later  # nothing after the failed check started
    assert set(started) <= INGEST_STEPS | {k for k in started if k.endswith("_dq")}, started
    assert "RunStopped: run stopped at a failed blocking check: ingest: check " in error, error
    assert seconds < 120  # the whole graph (about 60 steps) is never walked


def test_failed_ingest_check_stops_the_run_at_once_naming_check_and_file(run):
    """service_date_in_range on partb_lines (the file the bad line came from named) in one process."""
    import time

    rows = _good_rows(30) + [_good(9999, CLM_LINE_FROM_DT="2099-06-01", CLM_LINE_THRU_DT="2099-06-01")]
    write_fixed(run.inp / ZC5, "cclf5", rows)
    t0 = time.perf_counter()
    rc, err, out, before = run()
    _assert_failed_cleanly(rc, err, out, before)
    assert err == (f"asm: error: ingest: check partb_lines/partb_lines_expectations failed: service_date_in_range: "
                   f"1 of 31 rows e.g. 2099-06-01 in file {ZC5} (previous outputs in {out / 'warehouse'} left "
                   f"unchanged; this run's tables: {_staged(out)})")
    _assert_stopped_at(out, "partb_lines_dq", time.perf_counter() - t0)


def test_failed_delivery_check_stops_every_step_process_with_workers_capped_at_the_cores(tmp_path, previous_out, capfd,
                                                                                         monkeypatch):
    """delivery_plausible on ingest_files with --workers 64 on 2 cores: capped with a note, the multiprocess
    executor's steps stopped at the failed check, no raw Dagster debug line from the step processes."""
    import time

    import pipelines.engine.settings
    monkeypatch.setattr(pipelines.engine.settings, "usable_cores", lambda: 2)
    run = Runner(tmp_path, previous_out, capfd)  # capfd: the step processes' output too (file descriptor 2)
    write_fixed(run.inp / ZC5, "cclf5", [_wrong_delivery(i, "one NPI") for i in range(1, N_GOOD + 1)])
    capfd.readouterr()
    t0 = time.perf_counter()
    rc = main(["run", "--input", str(run.inp), "--out", str(run.out), "--workers", "64"])
    seconds = time.perf_counter() - t0
    lines = capfd.readouterr().err.strip().splitlines()
    assert rc == 1
    assert "asm run: note: --workers 64 is more than the 2 cores this run can use: running at most 2 steps at once" \
        in lines
    assert not [line for line in lines if " - dagster - " in line], lines  # no raw Dagster console lines
    err = lines[-1]
    _assert_failed_cleanly(rc, err, run.out, run.before, PLAUSIBLE, "every line has the same NPI",
                           f"'delivery_problem': 'every line has the same NPI'}} in file {ZC5} (previous outputs")
    _assert_stopped_at(run.out, "ingest_files_dq", seconds)
