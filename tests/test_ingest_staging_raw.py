"""Issue 20 item 1 (cold ingest cost): a staged row carries the row as delivered only when it is
quarantined. The raw text is built lazily (readers.RawRead.raw_fields, under the stage statement's
CASE on quarantine_reason), and is the same text the quarantine always held, in every format."""
from __future__ import annotations

import duckdb
import pytest

from pipelines.engine.duck import connect
from pipelines.engine.ingest.files import discover
from pipelines.engine.ingest.staging import stage_file
from tests.cclf_builders import partb_line, write_csv, write_fixed, write_parquet, xref_row

ZC5 = "P.A1234.ACO.ZC5Y26.D260410.T1200000"
ZC9 = "P.A1234.ACO.ZC9Y26.D260410.T1200000"


def _stage(tmp_path, name: str):
    [f] = [f for f in discover(tmp_path / "in") if f.name == name]
    con = connect(1)
    staged = stage_file(con, f, "sha", tmp_path / f"{name}.staged.parquet", tmp_path / f"{name}.rejects.parquet")
    return duckdb.connect().execute(
        f"SELECT source_row, quarantine_reason, raw_record FROM read_parquet('{staged.stage_path}') "
        "ORDER BY source_row").fetchall()


@pytest.mark.parametrize("fmt", ["fixed", "csv", "parquet"])
def test_issue20_partb_raw_text_only_for_quarantined_rows_and_as_delivered(tmp_path, fmt):
    (tmp_path / "in").mkdir()
    rows = [partb_line(CUR_CLM_UNIQ_ID=f"{i:013d}", CLM_CNTL_NUM=f"GOOD{i}") for i in range(1, 4)]
    rows.append(partb_line(CUR_CLM_UNIQ_ID="B1", CLM_LINE_ALOWD_CHRG_AMT="00000000ABC.DE"))
    suffix = {"fixed": "", "csv": ".csv", "parquet": ".parquet"}[fmt]
    path = tmp_path / "in" / f"{ZC5}{suffix}"
    {"fixed": write_fixed, "csv": write_csv, "parquet": write_parquet}[fmt](path, "cclf5", rows)
    got = _stage(tmp_path, path.name)
    assert [(r, q) for r, q, _ in got] == [(1, None), (2, None), (3, None), (4, "non_numeric_amount:allowed_amount")]
    assert [raw for _, _, raw in got[:3]] == [None, None, None]
    raw = got[3][2]
    if fmt == "parquet":  # the read fields, comma-joined
        assert raw.split(",")[:2] == ["B1", rows[3]["CLM_LINE_NUM"]] and "00000000ABC.DE" in raw.split(",")
    else:  # the line as delivered
        assert raw == path.read_text().splitlines()[4 if fmt == "csv" else 3]


def test_issue20_cclf9_staged_rows_keep_no_raw_text_unless_quarantined(tmp_path):
    (tmp_path / "in").mkdir()
    path = write_fixed(tmp_path / "in" / ZC9, "cclf9", [xref_row("OLD1", "NEW1"), xref_row("OLD2", "")])
    got = _stage(tmp_path, path.name)
    assert got == [(1, None, None), (2, "missing_key:current_bene_id", path.read_text().splitlines()[1])]


def test_issue20_adjustment_type_codes_accepted_and_unknown_ones_quarantined(tmp_path):
    """0/1/2, optionally as two digits, are known adjustment types (two short IN lists now, not one of six)."""
    (tmp_path / "in").mkdir()
    codes = ["0", "1", "2", "00", "01", "02", "3", "03", "10", ""]
    rows = [partb_line(CUR_CLM_UNIQ_ID=f"{i:013d}", CLM_ADJSMT_TYPE_CD=c) for i, c in enumerate(codes, start=1)]
    path = write_csv(tmp_path / "in" / f"{ZC5}.csv", "cclf5", rows)
    got = [q for _, q, _ in _stage(tmp_path, path.name)]
    assert got == [None] * 6 + ["unknown_code:adjustment_type"] * 3 + [None]
