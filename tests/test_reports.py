"""Reports (data-contracts "Reports"): a TIN's scorecard holds only its own NPIs and never a
beneficiary id; --tin restricts the scorecards (not the benchmarks); the cohort summary has no NPIs;
reports are published with the tables. One pipeline run on generated demo data, shared by the tests."""
from __future__ import annotations

import re
import shutil

import polars as pl
import pytest

from pipelines.engine import reports as rep
from pipelines.engine.methodology import load_methodology
from pipelines.engine.settings import RunSettings
from tests.report_run import demo_run

TOKEN = re.compile(r"[A-Za-z0-9]+")


@pytest.fixture(scope="module")
def run():
    return demo_run()


def tokens(path) -> set[str]:
    return set(TOKEN.findall(path.read_text(encoding="utf-8")))


def test_every_tin_report_holds_only_its_npis_and_no_bene_id(run):
    settings, outcome = run
    wh = settings.warehouse_dir
    bene_ids = set(pl.read_parquet(wh / "partb_lines.parquet", columns=["bene_id"])["bene_id"].drop_nulls())
    billing = pl.read_parquet(wh / "partb_lines.parquet", columns=["tin", "npi"]).unique().drop_nulls()
    elig = pl.read_parquet(wh / "eligibility.parquet", columns=["tin", "npi"])
    pairs = pl.concat([billing, elig]).unique()
    all_npis = set(pairs["npi"])
    scores = pl.read_parquet(wh / "participant_scores.parquet")
    tins = sorted(scores["tin"].unique())
    folders = sorted(p.name for p in settings.reports_dir.iterdir() if p.is_dir())
    assert folders == tins  # one scorecard folder per TIN with ASM participants
    assert not list(settings.out_dir.glob(".staging/*")), "staging must be empty after publish"
    for tin in tins:
        own = set(pairs.filter(pl.col("tin") == tin)["npi"])
        others = all_npis - own
        for name in ("scorecard.html", "scorecard.csv", "lines.csv"):
            t = tokens(settings.reports_dir / tin / name)
            assert not t & bene_ids, f"{tin}/{name} shows a beneficiary id"
            assert not t & others, f"{tin}/{name} shows another TIN's NPI"
        csv = pl.read_csv(settings.reports_dir / tin / "scorecard.csv", infer_schema=False)
        assert set(csv["TIN"]) == {tin}
        assert set(scores.filter(pl.col("tin") == tin)["npi"]) <= set(csv["NPI"])
    assert outcome.materialized["reports"]["tin_reports"] == len(tins)


def test_scorecard_content_statuses_pool_basis_drivers(run):
    settings, _ = run
    scores = pl.read_parquet(settings.warehouse_dir / "participant_scores.parquet")
    scored = scores.filter(pl.col("status") == "scored").row(0, named=True)
    csv = pl.read_csv(settings.reports_dir / scored["tin"] / "scorecard.csv", infer_schema=False)
    row = csv.filter((pl.col("NPI") == scored["npi"]) & (pl.col("Cohort") == scored["cohort"])).row(0, named=True)
    # CSV values are rounded: scores to 2 decimals, dollars to cents (tests/test_excel.py checks every column)
    assert float(row["Peer-pool estimate: final score"]) == pytest.approx(scored["final_score"], abs=0.005)
    assert float(row["Peer-pool estimate: cost points"]) == pytest.approx(scored["cost_points"], abs=0.005)
    assert row["Cost basis"] == "allowed, not standardized" and row["Status"] == "Scored"
    pay = pl.read_parquet(settings.warehouse_dir / "payment_adjustments.parquet").filter(
        (pl.col("npi") == scored["npi"]) & (pl.col("tin") == scored["tin"])).row(0, named=True)
    assert float(row["Peer-pool estimate: dollars"]) == pytest.approx(pay["dollar_impact"], abs=0.005)
    html = (settings.reports_dir / scored["tin"] / "scorecard.html").read_text()
    # B1: the small-pool warning shows exactly when the cohort's pool is below the limit (the demo's
    # pools are realistic, >= 100 participants: test_B1_small_pool_warning_below_the_limit shows it)
    pool = pl.read_parquet(settings.warehouse_dir / "cohort_summary.parquet").filter(
        pl.col("cohort") == scored["cohort"]).row(0, named=True)
    assert ("small peer pool" in html.lower()) == pool["small_pool"]
    assert "allowed, not standardized" in html and "What drives cost" in html
    # no network: the one script file is the Vega runtime in the reports folder; specs carry only their $schema URL
    assert not re.search(r'(src|href)="https?:', html) and html.count("<script src=") == 1
    below = scores.filter(pl.col("status") == "below_case_minimum").row(0, named=True)
    html = (settings.reports_dir / below["tin"] / "scorecard.html").read_text()
    assert "Not scored: fewer than 20 attributed episodes" in html  # S7 status in words
    page = (settings.reports_dir / scored["tin"] / "scorecard.html").read_text()
    assert 'class="vl-spec"' in page and '<script src="../vega-embed.js">' in page  # specs, drawn in the browser
    assert (settings.reports_dir / "vega-embed.js").stat().st_size > 100_000


def test_cohort_summary_has_benchmarks_and_no_npi(run):
    settings, _ = run
    wh = settings.warehouse_dir
    npis = set(pl.read_parquet(wh / "partb_lines.parquet", columns=["npi"])["npi"].drop_nulls())
    tins = set(pl.read_parquet(wh / "partb_lines.parquet", columns=["tin"])["tin"].drop_nulls())
    benes = set(pl.read_parquet(wh / "partb_lines.parquet", columns=["bene_id"])["bene_id"].drop_nulls())
    path = settings.reports_dir / "cohort_summary.html"
    t = tokens(path)
    assert not t & npis and not t & tins and not t & benes
    html = path.read_text()
    assert "Cost benchmarks" in html and "Quality benchmarks" in html and "Q492" in html


def test_tin_option_rebuilds_that_tins_folder_and_keeps_the_others(run, tmp_path):
    """--tin T: T's folder is rebuilt, every other TIN's folder stays as published, the cohort summary (whole
    run) is unchanged and the index still lists every TIN with its scorecard."""
    settings, _ = run
    summary_before = (settings.reports_dir / "cohort_summary.html").read_text()
    folders = sorted(p.name for p in settings.reports_dir.iterdir() if p.is_dir())
    tin, other = folders[0], folders[1]
    other_before = (settings.reports_dir / other / "scorecard.html").read_bytes()
    keep = tmp_path / "reports_before"  # restored afterwards for the other tests of the shared run
    shutil.copytree(settings.reports_dir, keep)
    (settings.reports_dir / tin / "scorecard.html").write_text("stale")
    # library use (no run tag): reports are swapped into OUT/reports directly
    one = RunSettings(input_dir=settings.input_dir, out_dir=settings.out_dir, quiet=True, tins=(tin,))
    try:
        info = rep.write_reports(one, load_methodology(2027))
        assert info["tins"] == [tin] and info["carried_tins"] == len(folders) - 1
        assert sorted(p.name for p in one.reports_dir.iterdir() if p.is_dir()) == folders
        assert (one.reports_dir / tin / "scorecard.html").read_text() != "stale"
        assert (one.reports_dir / other / "scorecard.html").read_bytes() == other_before
        strip = lambda s: re.sub(r"generated [^.]*UTC", "", s)  # noqa: E731
        assert strip((one.reports_dir / "cohort_summary.html").read_text()) == strip(summary_before)
        index = (one.reports_dir / "index.html").read_text()
        assert all(f'href="{f}/scorecard.html"' in index for f in folders)
    finally:
        published = settings.reports_dir.resolve()  # OUT/reports stays the link a publish switches
        shutil.rmtree(published)
        shutil.copytree(keep, published)


def test_without_part_a_the_report_says_q492_is_not_scored(run, tmp_path):
    """Q6: with an empty parta_claims, scoring marks Q492 not scored (participant_measure_points,
    cohort_summary) and the scorecard, which only renders those tables, says so."""
    from pipelines.engine.projection import compute_projection
    from pipelines.engine.scoring.stage import compute_scores

    settings, _ = run
    no_part_a = RunSettings(input_dir=settings.input_dir, out_dir=tmp_path / "out", quiet=True)
    shutil.copytree(settings.warehouse_dir, no_part_a.warehouse_dir)
    claims = no_part_a.warehouse_dir / "parta_claims.parquet"
    pl.read_parquet(claims).head(0).write_parquet(claims)
    tables, info = compute_scores(no_part_a, load_methodology(2027))
    assert not info["part_a"]
    for name, df in tables.items():
        no_part_a.warehouse.write(name, df)
    projected, _ = compute_projection(no_part_a, load_methodology(2027))  # V1 on the same tables
    for name, df in projected.items():
        no_part_a.warehouse.write(name, df)
    q492 = tables["participant_measure_points"].filter(pl.col("measure_id") == "Q492")
    assert q492.height and set(q492["status"]) == {"not_scored"} and q492["points"].is_null().all()
    out = tmp_path / "r"
    out.mkdir()
    # a TIN with a scored HF participant: its scorecard lists that participant's measures
    hf = tables["participant_scores"].filter((pl.col("cohort") == "HF") & (pl.col("status") == "scored")).row(0, named=True)
    rep.build_reports(no_part_a, load_methodology(2027), out, [hf["tin"]])
    html = (out / hf["tin"] / "scorecard.html").read_text()
    assert "Cardiovascular hospital admissions (Q492) are not scored: the run has no Part A claims" in html
    assert "not scored (no part a)" in (out / hf["tin"] / "clinicians" / f"{hf['npi']}-HF.html").read_text().lower()


def test_B1_small_pool_warning_below_the_limit(run, tmp_path):
    """B1: with a small-pool limit above the demo's pool sizes, every scorecard warns (recomputed
    from the run's warehouse, as the Q6 test above)."""
    from pipelines.engine.scoring.stage import compute_scores
    from tests.episode_support import methodology_with

    settings, _ = run
    m = methodology_with({"benchmarks": {"small_pool_participants": 100_000}})
    copy = RunSettings(input_dir=settings.input_dir, out_dir=tmp_path / "out", quiet=True)
    shutil.copytree(settings.warehouse_dir, copy.warehouse_dir)
    tables, _ = compute_scores(copy, m)
    for name, df in tables.items():
        copy.warehouse.write(name, df)
    out = tmp_path / "r"
    out.mkdir()
    tin = tables["participant_scores"].filter(pl.col("status") == "scored")["tin"][0]
    rep.build_reports(copy, m, out, [tin])
    assert "small peer pool" in (out / tin / "scorecard.html").read_text().lower()


def test_privacy_scan_refuses_a_report_with_a_bene_id(run, tmp_path):
    settings, _ = run
    bene = pl.read_parquet(settings.warehouse_dir / "episodes.parquet", columns=["bene_id"])["bene_id"][0]
    (tmp_path / "x.html").write_text(f"<p>{bene}</p>")
    with pytest.raises(rep.PrivacyError):
        rep.privacy_scan(settings, tmp_path)


# ------------------------------------------------------------------------------------------ issue 19: words and layout

def test_no_rule_id_or_code_in_a_sentence_of_any_page(run):
    """Item 3: rule ids (G3, V1, P4, ...) appear only as tooltip marks or in the rule index, never in the text a
    person reads; codes (mips_cqm, Q4_below_case_minimum, ...) never. Every HTML page of the reports."""
    from tests.page_text import rule_ids_in_sentences

    settings, _ = run
    pages = sorted(settings.reports_dir.rglob("*.html"))
    assert {"index.html", "cohort_summary.html", "how-it-works.html", "glossary.html"} <= {p.name for p in pages}
    leaks = {str(p.relative_to(settings.reports_dir)): hits[:3] for p in pages if (hits := rule_ids_in_sentences(p))}
    assert not leaks, f"{len(leaks)} page(s) with rule ids or codes in sentences, e.g. {list(leaks.items())[:3]}"


def _clinician_order(html: str) -> list[str]:
    table = html.split('<table class="clinicians">')[1].split("</table>")[0]
    return re.findall(r'<a href="clinicians/([0-9]+-[A-Z]+)\.html">', table)


def test_scorecard_puts_what_to_fix_first_and_clinicians_by_dollars_at_risk(run):
    """Items 5 and 7: the largest practice's scorecard opens with what to fix, then lists its clinicians with a
    score by dollars at risk (the loss the estimate shown first says, largest first), each with its own page."""
    settings, _ = run
    wh = settings.warehouse_dir
    scores = pl.read_parquet(wh / "participant_scores.parquet")
    tin = scores.group_by("tin").len().sort(["len", "tin"], descending=[True, False])["tin"][0]
    html = (settings.reports_dir / tin / "scorecard.html").read_text()
    assert html.index('id="fix"') < html.index('<table class="clinicians">')
    proj = pl.read_parquet(wh / "projected_scores.parquet").filter(
        (pl.col("tin") == tin) & pl.col("status").is_in(["scored", "failed_minimum_submission"]))
    lead = pl.when(pl.col("lead") == "pool").then(pl.col("pool_dollar_impact")).otherwise(pl.col("projected_dollar_impact"))
    at_risk = proj.with_columns((-lead).clip(0, None).alias("at_risk"), pl.format("{}-{}", "npi", "cohort").alias("key"))
    order = _clinician_order(html)
    shown = [k for k in order if k in set(at_risk["key"])]
    risk = dict(zip(at_risk["key"], at_risk["at_risk"]))
    assert len(shown) == proj.height and [risk[k] for k in shown] == sorted(risk.values(), reverse=True)
    for key in order:
        assert (settings.reports_dir / tin / "clinicians" / f"{key}.html").is_file()


def test_scored_zero_is_a_score_and_not_in_asm_is_one_line(run):
    """A clinician scored 0 for a missed minimum submission has a score (its page shows both estimates); a
    practice none of whose clinicians is in ASM gets a one-line page, without estimates or projection text."""
    settings, _ = run
    scores = pl.read_parquet(settings.warehouse_dir / "participant_scores.parquet")
    zero = scores.filter(pl.col("status") == "failed_minimum_submission").sort("tin", "npi").row(0, named=True)
    page = (settings.reports_dir / zero["tin"] / "clinicians" / f"{zero['npi']}-{zero['cohort']}.html").read_text()
    assert "The two estimates" in page and "Scored 0: minimum submission not met" in page
    outside = (scores.group_by("tin").agg((pl.col("status") == "not_eligible").all().alias("out"))
               .filter(pl.col("out"))["tin"].sort())
    assert outside.len(), "the demo has practices outside ASM"
    card = (settings.reports_dir / outside[0] / "scorecard.html").read_text()
    assert 'data-not-in-asm="yes"' in card
    assert "estimate" not in card.lower() and "projected" not in card.lower() and "clinicians/" not in card


def test_measures_are_titled_and_pages_explain_the_words(run):
    settings, _ = run
    pages = list((settings.reports_dir).glob("*/clinicians/*-HF.html"))
    assert any("Beta-blocker therapy for LVSD" in p.read_text() for p in pages)
    how = (settings.reports_dir / "how-it-works.html").read_text()
    assert "at least <i>30%</i>" in how and "<i>20 attributed episodes</i>" in how  # the run's settings
    glossary = (settings.reports_dir / "glossary.html").read_text()
    assert "Peer-pool estimate" in glossary and "CMS-benchmark estimate" in glossary and "Break-even score" in glossary
