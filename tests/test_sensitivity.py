"""`asm sensitivity` (issue 13): the alternatives file is validated like a methodology config (one
line naming the file and the key), participant changes and their spread are computed by hand here;
the end-to-end run on demo data is in tests/test_scoring_pipeline.py."""
from __future__ import annotations

import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.cli.sensitivity import (DEFAULT_ALTERNATIVES, Alternative, SensitivityError, changes, load_alternatives,
                                   render, summarize)

M = load_methodology(2027)


def _file(tmp_path, text: str):
    f = tmp_path / "alternatives.toml"
    f.write_text(text)
    return f


def test_the_shipped_alternatives_file_is_valid_and_lists_defaults():
    alts = load_alternatives(DEFAULT_ALTERNATIVES, M)
    params = {a.parameter for a in alts}
    assert {"episodes.pair_scope", "attribution.basis", "costs.winsor_percentile", "payment.logistic_k",
            "payment.logistic_c"} <= params
    assert {a.stage for a in alts} == {"episodes", "eligibility", "episode_risk", "scoring"}
    assert all(a.value != M.get(a.parameter) for a in alts)  # an alternative differs from the value in force


@pytest.mark.parametrize("text, message", [
    ("[alternatives.payment]\nlogistic_q = [1]\n", "unknown parameter 'payment.logistic_q'"),
    ("[alternatives.paymnt]\nlogistic_k = [1]\n",
     "unknown section 'paymnt' (known: episodes, attribution, costs, eligibility, benchmarks, risk, quality, "
     "admissions, scoring, payment)"),
    ("[alternatives.payment]\nlogistic_k = 0.2\n", "payment.logistic_k must be a list of alternative values"),
    ("[alternatives.payment]\nlogistic_k = [-1.0]\n",
     "methodology parameters (PY 2027): payment.logistic_k = -1.0: must be > 0"),
    ("[alternatives.episodes]\npair_scope = [\"bene\"]\n",
     "methodology parameters (PY 2027): episodes.pair_scope = \"bene\": must be 'npi' or 'tin'"),
    ("[alternatives.ingest]\nquarantine_max_rate = [0.5]\n",
     "ingest.* needs a re-ingest; asm sensitivity re-scores the run's tables (run asm run --config instead)"),
    ("[payment]\nlogistic_k = [0.2]\n", "no [alternatives.<section>] tables (see sensitivity.toml)"),
])
def test_alternatives_file_errors_are_one_line_naming_file_and_key(tmp_path, text, message):
    f = _file(tmp_path, text)
    with pytest.raises(SensitivityError) as err:
        load_alternatives(f, M)
    assert str(err.value) == f"alternatives {f}: {message}"


def test_alternatives_file_that_is_not_toml(tmp_path):
    f = tmp_path / "alternatives.toml"
    f.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(SensitivityError) as err:
        load_alternatives(f, M)
    assert str(err.value).startswith(f"alternatives {f}: not a TOML file (") and "\n" not in str(err.value)


def _outcomes(rows):
    """rows: (npi, status, final score, dollar impact)."""
    return pl.DataFrame([dict(performance_year=2027, cohort="HF", tin="T", npi=n, status=s, final_score=f,
                              dollar_impact=d) for n, s, f, d in rows],
                        schema_overrides={"final_score": pl.Float64, "dollar_impact": pl.Float64})


def test_changes_and_their_spread_golden():
    # A: scored 60 -> 62 (+2), dollars -100 -> +50 (+150)
    # B: scored 40 -> 37 (-3), dollars -200 -> -260 (-60)
    # C: scored 55 -> below the case minimum: status change, no score change, dollars +30 -> 0 (-30)
    # D: not eligible in both runs, no payment row (0 dollars both): no change, not in the dollar spread
    # E: only in the alternative run (new participant), failed minimum submission, dollars -90
    base = _outcomes([("A", "scored", 60.0, -100.0), ("B", "scored", 40.0, -200.0), ("C", "scored", 55.0, 30.0),
                      ("D", "not_eligible", None, 0.0)])
    alt = _outcomes([("A", "scored", 62.0, 50.0), ("B", "scored", 37.0, -260.0), ("C", "below_case_minimum", None, 0.0),
                     ("D", "not_eligible", None, 0.0), ("E", "failed_minimum_submission", 0.0, -90.0)])
    diff = changes(base, alt).sort("npi")
    assert diff["status_changed"].to_list() == [False, False, True, False, True]
    assert diff["status"].to_list()[-1] == "absent"
    row = summarize(Alternative("payment", "logistic_k", 0.2), diff, 1.0)
    # status: C and E; score changes over A, B (both scored in both runs): -3, +2 -> min -3, median -0.5, max +2
    assert (row["participants"], row["status_changed"]) == (5, 2)
    assert (row["score_n"], row["score_min"], row["score_median"], row["score_max"]) == (2, -3.0, -0.5, 2.0)
    # dollars over A, B, C, E: +150, -60, -30, -90 -> min -90, median (-60 - 30) / 2 = -45, max +150, total -30
    assert (row["dollar_n"], row["dollar_min"], row["dollar_median"], row["dollar_max"]) == (4, -90.0, -45.0, 150.0)
    assert row["dollar_total"] == pytest.approx(-30.0)
    assert (row["tag"], row["stage"]) == ("DEFAULT", "scoring")
    text = render(pl.DataFrame([row]))
    assert "payment.logistic_k = 0.2" in text and "2 of 5" in text and "-3.00 / -0.50 / +2.00 (2)" in text
    assert "-90 / -45 / +150 (4)" in text


def test_asm_sensitivity_without_a_published_run_is_one_line(tmp_path, capsys):
    from pipelines.cli import main

    assert main(["sensitivity", "--out", str(tmp_path / "nothing"), "--quiet"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"asm: error: {tmp_path / 'nothing'}: no published run (warehouse/participant_scores.parquet); "
        "run asm run first")


def test_the_run_is_found_from_the_provenance_run_summary_json_records(tmp_path):
    """OUT/run_summary.json records the input folder and config in its provenance (issue 11): sensitivity
    takes them from there; a summary naming no input folder is a one-line error asking for --input."""
    import json

    from pipelines.cli.sensitivity import load_run

    out, inp = tmp_path / "out", tmp_path / "in"
    (out / "warehouse").mkdir(parents=True)
    inp.mkdir()
    pl.DataFrame({"tin": ["123456789"]}).write_parquet(out / "warehouse" / "participant_scores.parquet")
    (out / "run_summary.json").write_text(json.dumps(
        {"performance_year": 2028, "provenance": {"input_dir": str(inp), "config_file": ""}}))
    run = load_run(out)
    assert run.input_dir == inp and run.methodology.performance_year == 2028
    (out / "run_summary.json").write_text(json.dumps({"performance_year": 2027, "provenance": {"config_file": ""}}))
    with pytest.raises(SensitivityError, match="does not name the run's input folder; pass --input"):
        load_run(out)
