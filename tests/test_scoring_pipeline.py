"""End to end on generated demo data: `asm run` writes every scoring table (G, R, B, Q, S, P), the P3
budget identity holds per cohort, no participant-level table carries beneficiary ids, and
`asm sensitivity` on the run reproduces it with the values in force."""
from __future__ import annotations

import shutil
from dataclasses import replace

import polars as pl
import pytest

from tests.report_run import demo_run

TABLES = ("eligibility", "episode_risk", "cost_measure_scores", "cost_benchmarks", "quality_benchmarks",
          "quality_measure_points", "quality_submission_issues", "participant_scores", "payment_adjustments")


@pytest.mark.slow
def test_scoring_end_to_end_on_demo_data(tmp_path):
    full, _ = demo_run()  # the session's demo run (tests/report_run.py)
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
    # --tin: tests/test_reports_commands.py (participant rows of that TIN only, benchmarks over every TIN)

    out = tmp_path / "out"  # a copy: sensitivity writes OUT/sensitivity, the shared run stays as it was
    shutil.copytree(full.out_dir, out, symlinks=True, ignore=shutil.ignore_patterns(".staging", ".tmp"))
    _sensitivity_on_the_run(replace(full, out_dir=out))


def _sensitivity_on_the_run(settings):
    """`asm sensitivity` on the finished run (input folder and PY from OUT/run_summary.json):
    - the values in force (pair_scope "npi", logistic_k 0.1) reproduce the run exactly, the first by
      re-running the episode engine from partb_lines: no status, score or dollar change;
    - logistic_k 0.2 (P2) changes no status or score, moves dollars between participants, and keeps
      each cohort's withhold (P3), so the dollar changes sum to 0."""
    from pipelines.cli import main

    alternatives = settings.out_dir.parent / "alternatives.toml"
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
