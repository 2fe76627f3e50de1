"""The reports index's figures (pipelines/engine/reports/index.py) on a tiny hand-built run, no pipeline:
dollars at risk and the default order (ties by Part B paid), share of Part B, mean final score, the clinician
counts, totals per cohort, TINs with no ASM participant and why, and index.csv. Worked by hand in comments."""
from __future__ import annotations

import re
from types import SimpleNamespace

import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.reports.build import environment
from pipelines.engine.reports.columns import COLUMNS
from pipelines.engine.reports.index import cohort_totals, index_table, write_index

PY = 2027
# projected_scores, one clinician a row:
# (tin, cohort, npi, status, lead, pool score, CMS score, pool sign, CMS sign, Part B, priced Part B (CMS), case status)
CLINICIANS = [
    ("T1", "HF", "A", "scored", "pool", 40.0, 45.0, "loses", "loses", 1000.0, 1000.0, "enough"),
    ("T1", "HF", "B", "scored", "pool", 60.0, 50.0, "not yet known", "loses", 3000.0, 3000.0, "enough"),
    ("T1", "HF", "C", "below_case_minimum", "pool", None, None, None, None, 500.0, 500.0, "not on track"),
    ("T2", "HF", "D", "failed_minimum_submission", "pool", 0.0, 0.0, "loses", "loses", 2000.0, 2000.0, "enough"),
    ("T2", "HF", "F", "scored", "pool", 80.0, 70.0, "gains", "gains", 3000.0, 3000.0, "enough"),
    # LBP's small pool: the scorecard leads with the CMS-benchmark estimate, its Part B scaled x2 (in-year)
    ("T1", "LBP", "E", "scored", "projected", 70.0, 65.0, "gains", "not yet known", 1000.0, 2000.0, "enough"),
    ("T1", "LBP", "G", "not_eligible", "projected", None, None, None, None, 700.0, 1400.0, "enough"),
    ("T3", "HF", "H", "not_eligible", "pool", None, None, None, None, 900.0, 900.0, "enough"),
    ("T6", "HF", "I", "below_case_minimum", "pool", None, None, None, None, 400.0, 400.0, "on track"),
]
# projection_tin_summary: (tin, cohort, lead, scored, failed, below, not eligible, on track, pool $, CMS $)
SUMMARY = [
    ("T1", "HF", "pool", 2, 0, 1, 0, 0, -300.0, -270.0),  # A -200 + B -100; CMS -150 + -120
    ("T2", "HF", "pool", 1, 1, 0, 0, 0, -300.0, -340.0),  # D -400 + F +100; CMS -400 + 60
    ("T1", "LBP", "projected", 1, 0, 0, 1, 0, 50.0, -20.0),  # E
    ("T3", "HF", "pool", 0, 0, 0, 1, 0, None, None),
    ("T6", "HF", "pool", 0, 0, 1, 0, 1, None, None),
]
# eligibility: (tin, npi, cohort, reason)
ELIGIBILITY = [(t, n, c, None) for t, c, n, *_ in CLINICIANS if n not in ("G", "H")] + [
    ("T1", "G", "LBP", "G3: CBSA 90080 is not selected"), ("T3", "H", "HF", "G3: CBSA 90080 is not selected"),
    ("T3", "H2", None, "G2: specialty 01 is not an ASM specialty"),
    ("T4", "J", None, "G2: specialty 01 is not an ASM specialty"),
    ("T5", "K", None, "G2: specialty 08 is not an ASM specialty"), ("T5", "L", "LBP", "G4: 5 attributed episodes < 20")]


def tables() -> SimpleNamespace:
    projected = pl.DataFrame(CLINICIANS, orient="row", schema=[
        "tin", "cohort", "npi", "status", "lead", "pool_final_score", "projected_final_score", "pool_sign",
        "projected_sign", "partb_paid", "projected_partb_paid", "case_status"]).with_columns(
        pl.lit(PY).alias("performance_year"))
    summary = pl.DataFrame(SUMMARY, orient="row", schema=[
        "tin", "cohort", "lead", "scored", "failed_minimum_submission", "below_case_minimum", "not_eligible",
        "on_track", "pool_dollar_impact", "projected_dollar_impact"]).with_columns(
        pl.lit(PY).alias("performance_year"),
        pl.when(pl.col("lead") == "pool").then(pl.col("pool_dollar_impact"))
        .otherwise(pl.col("projected_dollar_impact")).alias("lead_dollar_impact"),
        *[(pl.col(f"{f}_dollar_impact") + d).alias(f"{f}_dollar_impact_{e}")  # intervals: +-10 around the point
          for f in ("pool", "projected") for e, d in (("low", -10.0), ("high", 10.0))])
    eligibility = pl.DataFrame(ELIGIBILITY, orient="row", schema=["tin", "npi", "cohort", "reason"])
    return SimpleNamespace(projection_tins=summary, projected=projected, eligibility=eligibility)


def test_index_figures_and_default_order():
    rows = {(r["tin"], r["cohort"]): r for r in index_table(tables(), PY).to_dicts()}
    # T3 HF has only a clinician out of ASM (G3): not a row; T6 HF has one (below the case minimum)
    assert list(rows) == [("T2", "HF"), ("T1", "HF"), ("T1", "LBP"), ("T6", "HF")]
    t1, t2, lbp, t6 = rows["T1", "HF"], rows["T2", "HF"], rows["T1", "LBP"], rows["T6", "HF"]
    # T1 HF: loses 300 (peer-pool) -> $300 at risk; Part B of its scored clinicians 1000 + 3000 (not C's 500);
    # share -300 / 4000 = -7.5%; mean of 40 and 60 = 50; 3 in ASM, 2 scored, 1 at risk (A loses, B not yet known)
    assert t1["dollars_at_risk"] == 300.0 and t1["scored_partb_paid"] == 4000.0
    assert t1["share_of_partb"] == pytest.approx(-0.075) and t1["lead_mean_final_score"] == pytest.approx(50.0)
    assert (t1["asm_clinicians"], t1["scored_clinicians"], t1["at_risk_clinicians"]) == (3, 2, 1)
    # T2 HF: also $300 at risk but Part B 2000 + 3000 = 5000 > 4000: first; share -300 / 5000 = -6%;
    # D's Scored 0 counts: mean of 0 and 80 = 40; D loses, F gains: 1 at risk
    assert t2["dollars_at_risk"] == 300.0 and t2["scored_partb_paid"] == 5000.0
    assert t2["share_of_partb"] == pytest.approx(-0.06) and t2["lead_mean_final_score"] == pytest.approx(40.0)
    assert (t2["scored_clinicians"], t2["at_risk_clinicians"]) == (2, 1)
    # T1 LBP leads with the CMS-benchmark estimate: -20 -> $20 at risk (the peer-pool +50 is not used); share on
    # the Part B that estimate prices (scaled x2: 2000): -1%; mean of E's CMS score 65; not yet known: 0 at risk
    assert lbp["dollars_at_risk"] == 20.0 and lbp["scored_partb_paid"] == 1000.0
    assert lbp["share_of_partb"] == pytest.approx(-0.01) and lbp["lead_mean_final_score"] == pytest.approx(65.0)
    assert (lbp["asm_clinicians"], lbp["scored_clinicians"], lbp["at_risk_clinicians"]) == (1, 1, 0)
    # T6 HF: nobody scored: no dollars, nothing at risk or shared (empty, not $0), sorted last; 1 on track
    assert t6["dollars_at_risk"] is None and t6["share_of_partb"] is None and t6["lead_mean_final_score"] is None
    assert (t6["asm_clinicians"], t6["scored_clinicians"], t6["on_track"]) == (1, 0, 1)


def test_cohort_totals():
    totals = {r["cohort"]: r for r in cohort_totals(index_table(tables(), PY)).to_dicts()}
    assert list(totals) == ["HF", "LBP", "All"]
    hf, lbp, everything = totals["HF"], totals["LBP"], totals["All"]
    # HF: T2, T1, T6; 2 + 3 + 1 in ASM, 2 + 2 scored, 1 on track, 1 + 1 at risk, Part B 5000 + 4000,
    # peer-pool -300 - 300, CMS -340 - 270, at risk 300 + 300; share -600 / 9000; mean (0+80+40+60) / 4 = 45
    assert (hf["tins"], hf["asm_clinicians"], hf["scored_clinicians"], hf["on_track"], hf["at_risk_clinicians"]) == (
        3, 6, 4, 1, 2)
    assert (hf["scored_partb_paid"], hf["pool_dollar_impact"], hf["projected_dollar_impact"]) == (9000, -600, -610)
    assert hf["dollars_at_risk"] == 600 and hf["share_of_partb"] == pytest.approx(-600 / 9000)
    assert hf["lead_mean_final_score"] == pytest.approx(45.0)
    assert (lbp["tins"], lbp["pool_dollar_impact"], lbp["projected_dollar_impact"], lbp["dollars_at_risk"]) == (
        1, 50, -20, 20)
    # all cohorts: 3 TINs (T1 counted once); at risk 600 + 20; led dollars -600 - 20 over priced Part B
    # 9000 + 2000; mean of the five scored clinicians' led scores (180 + 65) / 5 = 49
    assert (everything["tins"], everything["asm_clinicians"], everything["dollars_at_risk"]) == (3, 7, 620)
    assert everything["share_of_partb"] == pytest.approx(-620 / 11000)
    assert everything["lead_mean_final_score"] == pytest.approx(49.0)


def test_index_page_and_csv(tmp_path):
    m = load_methodology(PY)
    (tmp_path / "T1").mkdir()
    (tmp_path / "T1" / "scorecard.html").write_text("card")  # T2 and T6 have no scorecard (a --tin run)
    trace = {k: "t" for k in ("run_id", "input_digest", "code_commit", "methodology_version", "methodology_label",
                             "methodology_digest", "pages_code_commit", "pages_methodology_label", "report_id")}
    common = dict(css="", py=PY, methodology_version=m.version, basis="allowed", generated="now", trace=trace)
    assert write_index(tables(), tmp_path, m, environment(), warnings=[], notes=[], **common) == 6  # T1-T6
    html = (tmp_path / "index.html").read_text()
    order = re.findall(r'<tr data-i="\d+" data-tin="([^"]+)" data-cohort="([^"]+)"', html)
    assert order == [("T2", "HF"), ("T1", "HF"), ("T1", "LBP"), ("T6", "HF")]
    assert html.count('href="T1/scorecard.html"') == 2 and '<a href="index.csv">' in html
    assert "T3" in html and "T4" in html and "T5" in html  # listed after, with why
    # why, in words; the rule (G2, G4) in a tooltip mark, not in the sentence
    assert "no clinician has an ASM cohort specialty<sup" in html and "too few attributed episodes<sup" in html
    assert 'data-rule="G2"' in html and "specialty (G2)" not in html
    assert "lead figure" not in html.lower()
    csv = pl.read_csv(tmp_path / "index.csv", infer_schema=False)
    name = {k: c.name for k, c in COLUMNS.items()}
    assert csv[name["tin"]].to_list() == ["T2", "T1", "T1", "T6", "T3", "T4", "T5"]
    first = csv.row(0, named=True)
    assert first[name["share_of_partb"]] == "-0.06" and first[name["dollars_at_risk"]] == "300.0"
    assert first[name["lead"]] == "Peer-pool estimate" and csv.row(2, named=True)[name["lead"]] == (
        "CMS-benchmark estimate")
    assert first[name["tin_statuses"]] == "1 scored, 1 scored 0 (minimum submission)"  # words, not codes
    # T3: its one clinician with a cohort specialty is out of the selected areas; T5: one is in, too few episodes
    why = dict(zip(csv[name["tin"]], csv[name["tin_statuses"]]))
    assert why["T3"] == "No ASM participant: its clinicians with a cohort specialty are outside the selected areas"
    assert why["T5"].endswith("too few attributed episodes") and why["T4"].endswith("no clinician has an ASM cohort specialty")
    # rounding by unit: cents, 2 decimals, fractions 4 decimals
    assert pl.read_csv(tmp_path / "index.csv").filter(pl.col(name["tin"]) == "T1").row(0, named=True)[
        name["share_of_partb"]] == pytest.approx(-0.075)
    decimals = {c.name: {"currency": 2, "points": 2, "percent": 4}.get(c.unit) for c in COLUMNS.values()}
    for col in csv.columns:
        for v in csv[col].drop_nulls():
            if decimals.get(col) and "." in v:
                assert len(v.split(".")[1]) <= decimals[col], (col, v)
