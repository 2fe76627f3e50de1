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


def _good(i: int, **kw) -> dict:
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

    def __call__(self):
        self.capsys.readouterr()
        rc = main(["run", "--input", str(self.inp), "--out", str(self.out), "--quiet"])
        return rc, self.capsys.readouterr().err.strip(), self.out, self.before


@pytest.fixture
def run(tmp_path, previous_out, capsys) -> Runner:
    return Runner(tmp_path, previous_out, capsys)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


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
