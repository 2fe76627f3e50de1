"""Side inputs refused or flagged, never trusted blindly (S2, S3, S5, Q2, G3): every bad file gives
one exact line naming the file, the data row (1-based, header not counted) and the value; two rows
for one key are refused naming the key; an end-to-end `asm run` turns the error into one line."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.engine.methodology import load_methodology
from pipelines.engine.scoring import side_inputs
from pipelines.engine.scoring.inputs import SideInputError
from pipelines.engine.settings import RunSettings
from tests.cclf_builders import partb_line, write_fixed

SP = load_methodology(2027).scoring
ATTEST_HEADER = "performance_year,tin,ia1_done,ia2_done,pi_score,clinician_count\n"
QUALITY_HEADER = ("performance_year,tin,npi,measure_id,collection_type,eligible_population,performance_met,"
                  "performance_not_met,denominator_exceptions\n")


def _settings(tmp_path: Path, name: str, text: str) -> RunSettings:
    (tmp_path / name).write_text(text)
    return RunSettings(input_dir=tmp_path, out_dir=tmp_path / "out", quiet=True)


def _error(call) -> str:
    with pytest.raises(SideInputError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------- S2, S3, S5: attestations


@pytest.mark.parametrize("value, shown", [("150", "'150'"), ("-1", "'-1'"), ("abc", "'abc'"), ("nan", "'nan'")])
def test_S3_pi_score_outside_0_100_or_not_a_number_is_refused_naming_row_and_value(tmp_path, value, shown):
    s = _settings(tmp_path, "practice_attestations.csv",
                  ATTEST_HEADER + "2027,111111111,Y,Y,80,3\n" + f"2027,222222222,Y,Y,{value},3\n")
    assert _error(lambda: side_inputs.attestations(s, 2027, SP)) == (
        f"practice_attestations.csv row 2: pi_score {shown} is not a PI score 0-100 (S3; leave blank when not reported)")


def test_a_shifted_column_holding_an_identifier_is_masked_in_the_message(tmp_path):
    # an MBI-shaped value where the PI score belongs: the message names the row, never the value
    s = _settings(tmp_path, "practice_attestations.csv", ATTEST_HEADER + "2027,111111111,Y,Y,1EG4TE5MK73,3\n")
    assert _error(lambda: side_inputs.attestations(s, 2027, SP)) == (
        "practice_attestations.csv row 1: pi_score '<11 characters, not shown>' is not a PI score 0-100 "
        "(S3; leave blank when not reported)")


def test_S2_unknown_ia_answer_is_refused_and_blank_answers_parse_as_no_answer(tmp_path):
    s = _settings(tmp_path, "practice_attestations.csv", ATTEST_HEADER + "2027,111111111,maybe,Y,80,3\n")
    assert _error(lambda: side_inputs.attestations(s, 2027, SP)) == (
        "practice_attestations.csv row 1: ia1_done 'maybe' is not an IA answer (done: Y, YES, 1, TRUE; not done: "
        "N, NO, 0, FALSE; blank = not attested, S6)")
    s = _settings(tmp_path, "practice_attestations.csv", ATTEST_HEADER + "2027,111111111,, y ,,\n")
    row = side_inputs.attestations(s, 2027, SP).row(0, named=True)
    assert (row["ia1_done"], row["ia2_done"], row["pi_score"], row["reported_clinicians"]) == (None, "Y", None, None)


def test_S2_two_attestation_rows_for_a_tin_and_py_are_refused(tmp_path):
    s = _settings(tmp_path, "practice_attestations.csv",
                  ATTEST_HEADER + "2027,111111111,Y,Y,80,3\n2026,111111111,Y,Y,80,3\n2027,111111111,N,N,,3\n")
    assert _error(lambda: side_inputs.attestations(s, 2027, SP)) == (
        "practice_attestations.csv: 2 rows for tin 111111111, performance_year 2027 (rows 1, 3); "
        "keep one row per TIN and PY")


def test_S5_clinician_count_that_does_not_parse_is_refused(tmp_path):
    s = _settings(tmp_path, "practice_attestations.csv", ATTEST_HEADER + "2027,111111111,Y,Y,80,2.5\n")
    assert _error(lambda: side_inputs.attestations(s, 2027, SP)) == (
        "practice_attestations.csv row 1: clinician_count '2.5' is not a clinician count (a whole number >= 1, "
        "or blank)")


def test_attestation_performance_year_that_is_not_a_year_is_refused(tmp_path):
    s = _settings(tmp_path, "practice_attestations.csv", ATTEST_HEADER + "\n20x7,111111111,Y,Y,80,3\n")
    # the empty line is no row, but it keeps the numbering of the file: the bad row is data row 2
    assert _error(lambda: side_inputs.attestations(s, 2027, SP)) == (
        "practice_attestations.csv row 2: performance_year '20x7' is not a year")


# ------------------------------------------------------------------------- Q2: quality submissions


def test_Q2_a_count_that_does_not_parse_refuses_the_file(tmp_path):
    s = _settings(tmp_path, "quality_submissions.csv", QUALITY_HEADER
                  + "2027,111111111,1999900099,Q008,ecqm,100,60,30,0\n2027,111111111,1999900099,Q005,ecqm,100,ten,30,0\n")
    assert _error(lambda: side_inputs.quality_submissions(s, 2027)) == (
        "quality_submissions.csv row 2: performance_met 'ten' is not a count (a whole number)")


def test_Q2_a_blank_eligible_population_does_not_parse_but_blank_exceptions_are_zero(tmp_path):
    s = _settings(tmp_path, "quality_submissions.csv", QUALITY_HEADER + "2027,111111111,,q008,ECQM,100,60,30,\n")
    row = side_inputs.quality_submissions(s, 2027).row(0, named=True)
    assert (row["npi"], row["measure_id"], row["collection_type"], row["denominator_exceptions"]) == (
        None, "Q008", "ecqm", 0.0)
    s = _settings(tmp_path, "quality_submissions.csv", QUALITY_HEADER + "2027,111111111,,Q008,ecqm,,60,30,0\n")
    assert _error(lambda: side_inputs.quality_submissions(s, 2027)) == (
        "quality_submissions.csv row 1: eligible_population '' is not a count (a whole number)")


@pytest.mark.parametrize("row, message", [
    ("2027,12345678,,Q008,ecqm,100,60,30,0", "row 1: tin '12345678' is not a TIN (9 digits, leading zeros kept)"),
    ("2027,111111111,199990009,Q008,ecqm,100,60,30,0",
     "row 1: npi '199990009' is not an NPI (10 digits; blank for TIN level)"),
    ("2027,111111111,1EG4TE5MK73,Q008,ecqm,100,60,30,0",
     "row 1: npi '<11 characters, not shown>' is not an NPI (10 digits; blank for TIN level)"),
])
def test_Q2_tin_and_npi_shapes_are_checked_so_no_shifted_value_reaches_a_table(tmp_path, row, message):
    s = _settings(tmp_path, "quality_submissions.csv", QUALITY_HEADER + row + "\n")
    assert _error(lambda: side_inputs.quality_submissions(s, 2027)) == f"quality_submissions.csv {message}"


def test_Q2_two_rows_for_one_submission_key_are_refused(tmp_path):
    s = _settings(tmp_path, "quality_submissions.csv", QUALITY_HEADER
                  + "2027,111111111,,Q008,ecqm,100,60,30,0\n2027,111111111,,Q008,ECQM,90,50,30,0\n")
    assert _error(lambda: side_inputs.quality_submissions(s, 2027)) == (
        "quality_submissions.csv: 2 rows for performance_year 2027, tin 111111111, npi (blank), measure_id Q008, "
        "collection_type ecqm (rows 1, 2); keep one row per TIN, NPI (blank for TIN level), measure and collection type")


def test_side_file_with_a_column_twice_is_refused(tmp_path):
    s = _settings(tmp_path, "quality_submissions.csv", QUALITY_HEADER.rstrip("\n") + ",Tin\n")
    assert _error(lambda: side_inputs.quality_submissions(s, 2027)) == (
        "quality_submissions.csv: column 'tin' appears more than once in the header; keep one")


# ------------------------------------------------------------------------- G3: geography files


def test_G3_two_zips_for_an_npi_in_providers_are_refused_identical_rows_are_one(tmp_path):
    s = _settings(tmp_path, "providers.csv", "npi,zip5\n1999900099,10001\n1999900099,10001-1234\n")
    assert side_inputs.providers(s).rows() == [("1999900099", "10001")]  # ZIP+4 is the same ZIP
    s = _settings(tmp_path, "providers.csv", "npi,zip5\n1999900099,10001\n1888800088,20002\n1999900099,10002\n")
    assert _error(lambda: side_inputs.providers(s)) == (
        "providers.csv: 2 rows for npi 1999900099 (rows 1, 3); keep one ZIP per NPI")
    s = _settings(tmp_path, "providers.csv", "npi,zip5\n1999900099,ABCDE\n")
    assert _error(lambda: side_inputs.providers(s)) == (
        "providers.csv row 1: zip5 'ABCDE' is not a ZIP code (5 digits, or ZIP+4)")


def test_G3_zip_cbsa_res_ratio_and_duplicate_pairs_are_checked(tmp_path):
    s = _settings(tmp_path, "zip_cbsa.csv", "zip5,cbsa_code,cbsa_title,res_ratio\n10001,35620,NY,0.7\n"
                                            "10001,11111,X,0.3\n")
    assert side_inputs.zip_cbsa(s).rows() == [("10001", "35620", 0.7), ("10001", "11111", 0.3)]
    s = _settings(tmp_path, "zip_cbsa.csv", "zip5,cbsa_code,res_ratio\n10001,35620,1.5\n")
    assert _error(lambda: side_inputs.zip_cbsa(s)) == (
        "zip_cbsa.csv row 1: res_ratio '1.5' is not a residential share 0-1")
    s = _settings(tmp_path, "zip_cbsa.csv", "zip5,cbsa_code\n10001,35620\n10001,35620\n")
    assert _error(lambda: side_inputs.zip_cbsa(s)) == (
        "zip_cbsa.csv: 2 rows for zip5 10001, cbsa_code 35620 (rows 1, 2); keep one row per ZIP and CBSA")
    s = _settings(tmp_path, "zip_cbsa.csv", "zip5,cbsa_code\n1001,35620\n")
    assert _error(lambda: side_inputs.zip_cbsa(s)) == "zip_cbsa.csv row 1: zip5 '1001' is not 5 digits"


# ------------------------------------------------------------------------- end to end: one line


@pytest.mark.slow
def test_S3_bad_pi_score_stops_asm_run_with_one_line(tmp_path, capsys):
    inp = tmp_path / "in"
    inp.mkdir()
    write_fixed(inp / "P.A1234.ACO.ZC5Y26.D260410.T1200000", "cclf5",
                [partb_line(CUR_CLM_UNIQ_ID=f"{i:013d}", CLM_CNTL_NUM=f"GOOD{i}") for i in range(1, 21)])
    (inp / "practice_attestations.csv").write_text(ATTEST_HEADER + "2027,001000002,Y,Y,150,1\n")
    rc = main(["run", "--input", str(inp), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err, err
    assert err.startswith("asm: error: scoring: practice_attestations.csv row 1: pi_score '150' is not a PI score "
                          "0-100 (S3; leave blank when not reported)"), err
