"""End to end on generated demo data: `asm run` writes every scoring table (G, R, B, Q, S, P), the P3
budget identity holds per cohort, --tin restricts participant rows but not benchmarks, and no
participant-level table carries beneficiary ids."""
from __future__ import annotations

import polars as pl
import pytest

from pipelines.generate import generate
from pipelines.runner import run_pipeline
from pipelines.settings import RunSettings

TABLES = ("eligibility", "episode_risk", "cost_measure_scores", "cost_benchmarks", "quality_benchmarks",
          "quality_measure_points", "quality_submission_issues", "participant_scores", "payment_adjustments")


@pytest.mark.slow
def test_scoring_end_to_end_on_demo_data(tmp_path):
    generate(tmp_path / "in", scale="small", seed=3)
    full = RunSettings(input_dir=tmp_path / "in", out_dir=tmp_path / "out", threads=1, quiet=True)
    outcome = run_pipeline(full)
    assert outcome.success, outcome.reason
    wh = {t: pl.read_parquet(full.warehouse.published_path(t)) for t in TABLES}
    assert all(wh[t].height > 0 for t in TABLES)
    scores = wh["participant_scores"]
    assert {"scored", "below_case_minimum"} <= set(scores["status"])
    s = scores.filter(pl.col("status") == "scored")
    assert s["final_score"].is_between(0, 100).all() and s["cost_points"].is_between(1, 10).all()
    # P3 budget identity, recomputed from the table on the factors actually paid (after clipping):
    # sum factor x B over the pool = -15% x r x sum B
    pool = wh["payment_adjustments"].filter(pl.col("in_payment_pool"))
    check = pool.group_by("cohort").agg(
        ((pl.col("adjustment_factor") + 0.15 * pl.col("risk_level")) * pl.col("partb_paid")).sum().alias("d"))
    assert check["d"].abs().max() < 1e-6
    for t in ("eligibility", "cost_measure_scores", "participant_scores", "payment_adjustments",
              "quality_measure_points", "quality_submission_issues"):
        assert "bene_id" not in wh[t].columns

    _sensitivity_on_the_run(tmp_path, full)

    tin = s["tin"][0]
    one = RunSettings(input_dir=tmp_path / "in", out_dir=tmp_path / "out_tin", threads=1, quiet=True, tins=(tin,))
    assert run_pipeline(one).success
    assert set(pl.read_parquet(one.warehouse.published_path("participant_scores"))["tin"]) == {tin}
    # benchmarks use every TIN (equal up to float summation order)
    from polars.testing import assert_frame_equal
    assert_frame_equal(pl.read_parquet(one.warehouse.published_path("cost_benchmarks")), wh["cost_benchmarks"], rel_tol=1e-9)


def _sensitivity_on_the_run(tmp_path, settings):
    """`asm sensitivity` on the finished run (input folder and PY from OUT/run_summary.json):
    - the values in force (pair_scope "npi", logistic_k 0.1) reproduce the run exactly, the first by
      re-running the episode engine from partb_lines: no status, score or dollar change;
    - logistic_k 0.2 (P2) changes no status or score, moves dollars between participants, and keeps
      each cohort's withhold (P3), so the dollar changes sum to 0."""
    from pipelines.cli import main

    alternatives = tmp_path / "alternatives.toml"
    alternatives.write_text('[alternatives.episodes]\npair_scope = ["npi"]\n'
                            '[alternatives.payment]\nlogistic_k = [0.1, 0.2]\n')
    assert main(["sensitivity", "--out", str(settings.out_dir), "--config", str(alternatives), "--quiet"]) == 0
    summary = pl.read_csv(settings.out_dir / "sensitivity" / "summary.csv")
    rows = {(r["parameter"], r["value"]): r for r in summary.iter_rows(named=True)}
    for key in (("episodes.pair_scope", '"npi"'), ("payment.logistic_k", "0.1")):
        r = rows[key]
        assert r["status_changed"] == 0 and r["participants"] > 0, r
        assert max(abs(r["score_min"]), abs(r["score_max"]), abs(r["dollar_min"]), abs(r["dollar_max"])) < 1e-6, r
    r = rows[("payment.logistic_k", "0.2")]
    assert r["status_changed"] == 0 and abs(r["score_min"]) < 1e-9 and abs(r["score_max"]) < 1e-9
    assert r["dollar_max"] > 0 > r["dollar_min"] and abs(r["dollar_total"]) < 1e-6 * max(abs(r["dollar_max"]), 1.0)
    changes = pl.read_parquet(settings.out_dir / "sensitivity" / "changes.parquet")
    assert not [c for c in changes.columns if "bene" in c]
    assert not (settings.out_dir / ".sensitivity").exists()  # scratch folders are removed
