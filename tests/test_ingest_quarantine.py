"""Bad rows of every kind end in the quarantine with a reason and their 1-based row; bad files fail
with one line naming the file; the RIF reader on CMS's own samples."""
from __future__ import annotations

from decimal import Decimal

import pytest

from pipelines.engine.ingest import QuarantineRateExceeded
from pipelines.engine.ingest import InputFileError
from tests.cclf_builders import SAMPLES, fixed_width, partb_line, write_csv, write_fixed, xref_row

ZC5 = "P.A1234.ACO.ZC5Y26.D260410.T1200000"
ZC1 = "P.A1234.ACO.ZC1Y26.D260410.T1200000"


def _good(i: int) -> dict:
    return partb_line(CUR_CLM_UNIQ_ID=f"{i:013d}", CLM_CNTL_NUM=f"GOOD{i}")


BAD_ROWS = {
    # reason -> a row that must be quarantined with it
    "non_numeric_amount:allowed_amount": partb_line(CUR_CLM_UNIQ_ID="B1", CLM_LINE_ALOWD_CHRG_AMT="00000000ABC.DE"),
    "non_numeric_amount:paid_amount": partb_line(CUR_CLM_UNIQ_ID="B2", CLM_LINE_CVRD_PD_AMT="12,3"),
    "unparseable_date:service_date": partb_line(CUR_CLM_UNIQ_ID="B3", CLM_LINE_FROM_DT="2026-13-45"),
    "missing_key:claim_id": partb_line(CUR_CLM_UNIQ_ID=""),
    "missing_key:bene_id": partb_line(CUR_CLM_UNIQ_ID="B5", BENE_MBI_ID="~"),
    "missing_key:claim_control_number": partb_line(CUR_CLM_UNIQ_ID="B6", CLM_CNTL_NUM=""),
    "missing_key:service_date": partb_line(CUR_CLM_UNIQ_ID="B7", CLM_LINE_FROM_DT="~"),
    "impossible_date_order": partb_line(CUR_CLM_UNIQ_ID="B8", CLM_LINE_THRU_DT="2026-03-01"),
    "unknown_code_system": partb_line(CUR_CLM_UNIQ_ID="B9", DGNS_PRCDR_ICD_IND="X"),
    "unparseable_date:effective_date": partb_line(CUR_CLM_UNIQ_ID="B10", CLM_EFCTV_DT="0000-00-00"),
    "unparseable_date:service_thru_date": partb_line(CUR_CLM_UNIQ_ID="B11", CLM_LINE_THRU_DT="1850-01-01"),
}


def test_bad_rows_of_every_kind_are_quarantined_with_reason_and_row(input_dir, run_ingest_on):
    # 200 good rows, then one row per bad kind: 11 / 211 = 5.2% is above the default 1% rate,
    # so lift the rate for this test through the methodology override below.
    rows = [_good(i) for i in range(1, 201)] + list(BAD_ROWS.values())
    text = fixed_width("cclf5", rows)
    lines = text.splitlines()
    lines.insert(50, lines[0][:200])  # row 51: truncated record
    (input_dir / ZC5).write_text("\n".join(lines) + "\n")
    cfg = input_dir.parent / "rate.toml"
    cfg.write_text("[defaults.ingest]\nquarantine_max_rate = 0.5\n")
    result, q = _run_with_config(input_dir, cfg)
    got = dict(q("SELECT reason, source_row FROM {quarantine}"))
    expected_rows = {reason: 201 + 1 + i for i, reason in enumerate(BAD_ROWS)}  # after 200 good + 1 truncated
    expected_rows["wrong_record_length"] = 51
    assert got == expected_rows
    f = result["files"][0]
    assert (f["rows_read"], f["rows_loaded"], f["rows_quarantined"]) == (212, 200, 12)
    assert f["reconciled"]
    # the raw row as delivered is kept: the truncated record, and each full record quarantined by a rule
    assert q("SELECT length(raw) FROM {quarantine} WHERE reason = 'wrong_record_length'") == [(200,)]
    assert q("SELECT DISTINCT length(raw) FROM {quarantine} WHERE reason <> 'wrong_record_length'") == [(388,)]
    assert q("SELECT raw FROM {quarantine} WHERE reason = 'non_numeric_amount:allowed_amount'")[0][0] == lines[201]


def _run_with_config(input_dir, cfg):
    import duckdb

    from pipelines.engine.ingest import run_ingest
    from pipelines.engine.methodology import load_methodology
    from pipelines.engine.settings import RunSettings

    s = RunSettings(input_dir=input_dir, out_dir=input_dir.parent / "out", quiet=True)
    r = run_ingest(s, load_methodology(2027, cfg))
    con = duckdb.connect()

    def q(sql):
        for t in ("quarantine", "partb_lines", "ingest_audit"):
            sql = sql.replace("{" + t + "}", f"read_parquet('{s.table_path(t)}')")
        return con.execute(sql).fetchall()

    return {"files": r.files}, q


def test_invalid_bytes_row_is_quarantined_and_later_rows_keep_their_numbers(input_dir, run_ingest_on):
    # rows 1..300 valid, row 150 replaced by bytes that are not UTF-8. The reader rejects row 150;
    # rows after it must keep their physical numbers (row 151 stays 151) so auditors can find them.
    good = fixed_width("cclf5", [_good(i) for i in range(1, 301)]).encode().split(b"\n")
    good[149] = b"\xff\xfe" * 194
    (input_dir / ZC5).write_bytes(b"\n".join(good))
    result, q = run_ingest_on(input_dir)
    assert q("SELECT source_row, reason FROM {quarantine}") == [(150, "invalid_encoding")]
    assert q("SELECT source_row FROM {partb_lines} WHERE claim_control_number = 'GOOD151'") == [(151,)]
    assert q("SELECT source_row FROM {partb_lines} WHERE claim_control_number = 'GOOD300'") == [(300,)]
    assert result.files[0]["reconciled"] and result.files[0]["rows_read"] == 300


def test_quarantine_rate_above_limit_refuses_to_continue_naming_file_and_rows(input_dir, run_ingest_on):
    # 10 rows, 2 bad = 20% > 1%: refused, with the file name and the bad rows' numbers and reasons
    rows = [_good(i) for i in range(1, 9)] + [BAD_ROWS["impossible_date_order"], BAD_ROWS["missing_key:claim_id"]]
    write_fixed(input_dir / ZC5, "cclf5", rows)
    with pytest.raises(QuarantineRateExceeded) as exc:
        run_ingest_on(input_dir)
    msg = str(exc.value)
    assert ZC5 in msg and "2 of 10 rows" in msg and "row 9: impossible_date_order" in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "file is empty"),
        (b"\x00\x01\x02garbage\xff" * 100, "binary"),
        (fixed_width("cclf1", [{"CUR_CLM_UNIQ_ID": "1"}] * 3).encode(), "records are 437 bytes (looks like CCLF1)"),
    ],
)
def test_file_that_is_not_what_its_name_says_fails_with_one_line(input_dir, run_ingest_on, content, problem):
    (input_dir / ZC5).write_bytes(content)
    with pytest.raises(InputFileError) as exc:
        run_ingest_on(input_dir)
    assert str(exc.value).startswith(ZC5 + ": ") and problem in str(exc.value) and "\n" not in str(exc.value)


def test_csv_row_quarantined_by_a_rule_keeps_the_row_as_delivered(input_dir, run_ingest_on):
    rows = [_good(i) for i in range(1, 200)] + [BAD_ROWS["impossible_date_order"]]
    path = write_csv(input_dir / f"{ZC5}.csv", "cclf5", rows)
    delivered = path.read_text().splitlines()[200]
    _, q = run_ingest_on(input_dir)
    assert q("SELECT source_row, reason, raw FROM {quarantine}") == [(200, "impossible_date_order", delivered)]


def test_csv_missing_columns_fails_naming_them(input_dir, run_ingest_on):
    path = write_csv(input_dir / f"{ZC5}.csv", "cclf5", [partb_line()])
    header, body = path.read_text().split("\n", 1)
    path.write_text(header.replace("CLM_CNTL_NUM,", "") + "\n" + body)
    with pytest.raises(InputFileError, match=r"missing columns CLM_CNTL_NUM; expected CCLF5 CSV"):
        run_ingest_on(input_dir)


def test_csv_row_with_wrong_field_count_is_quarantined(input_dir, run_ingest_on):
    path = write_csv(input_dir / f"{ZC5}.csv", "cclf5", [_good(i) for i in range(1, 201)])
    lines = path.read_text().splitlines()
    lines[100] = lines[100] + ",EXTRA,FIELDS"  # data row 100 (line 101 with the header)
    path.write_text("\n".join(lines) + "\n")
    result, q = run_ingest_on(input_dir)
    assert q("SELECT source_row, reason FROM {quarantine}") == [(100, "wrong_field_count")]
    assert q("SELECT raw FROM {quarantine}")[0][0].endswith(",EXTRA,FIELDS")
    assert q("SELECT source_row FROM {partb_lines} WHERE claim_control_number = 'GOOD101'") == [(101,)]
    assert result.files[0]["reconciled"]


def test_cclf9_and_part_a_files_quarantine_bad_rows_too(input_dir, run_ingest_on):
    write_fixed(input_dir / ZC5, "cclf5", [_good(i) for i in range(1, 300)])
    write_fixed(input_dir / "P.A1234.ACO.ZC9Y26.D260410.T1200000", "cclf9",
                [xref_row("OLD1", "NEW1")] * 1 + [xref_row("OLD2", "")])
    cfg = input_dir.parent / "rate.toml"
    cfg.write_text("[defaults.ingest]\nquarantine_max_rate = 0.6\n")
    result, q = _run_with_config(input_dir, cfg)
    assert q("SELECT source_row, reason FROM {quarantine}") == [(2, "missing_key:current_bene_id")]


# ------------------------------------------------------------------------------------------
# RIF carrier reader on CMS's public samples (read from ../shared; skipped where absent)

def _need(path):
    if not path.exists():
        pytest.skip(f"shared sample not present: {path}")
    return path


def test_rif_synthea_carrier_sample_reads_every_row(input_dir, run_ingest_on):
    src = _need(SAMPLES / "bfd_rif_synthea" / "carrier.csv")
    (input_dir / "carrier_synthea.csv").write_bytes(src.read_bytes())
    result, q = run_ingest_on(input_dir)
    f = result.files[0]
    assert f["kind"] == "rif_carrier" and f["rows_read"] == 221 and f["reconciled"]
    # RIF dates are DD-Mon-YYYY; 30-May-2015 is the first line's service date
    assert q("SELECT min(service_date)::VARCHAR FROM {partb_lines}")[0][0] <= "2015-05-30"
    assert q("SELECT count(DISTINCT bene_id) FROM {partb_lines}") == [(3,)]


def test_rif_static_sample_upper_case_month_and_provider_zip(input_dir, run_ingest_on):
    src = _need(SAMPLES / "bfd_rif_static" / "sample-a-bcarrier-multiple-lines.txt")
    (input_dir / "carrier_static.txt").write_bytes(src.read_bytes())
    result, q = run_ingest_on(input_dir)
    assert result.files[0]["rows_read"] == 7
    rows = q("SELECT DISTINCT service_date::VARCHAR, provider_zip FROM {partb_lines}")
    assert rows == [("1999-10-27", "55555")]
    assert q("SELECT sum(allowed_amount) FROM {partb_lines}")[0][0] > Decimal("0")


def test_rif_non_final_action_rows_are_excluded_by_N4(input_dir, run_ingest_on):
    src = _need(SAMPLES / "bfd_rif_static" / "sample-a-bcarrier-multiple-lines.txt")
    lines = src.read_text().splitlines()
    lines[2] = lines[2].replace("|F|", "|N|", 1)  # data row 2 not final action
    (input_dir / "carrier_static.txt").write_text("\n".join(lines) + "\n")
    result, q = run_ingest_on(input_dir)
    assert q("SELECT source_row, rule FROM {ingest_audit}") == [(2, "N4")]
    assert result.files[0]["rows_loaded"] == 6
