"""One TIN's folder: scorecard.html (TIN summary first, then each clinician with charts, measures and
episodes), scorecard.csv, scorecard.xlsx and lines/<npi>-<cohort>.html. Only the TIN's own clinicians;
never a beneficiary id. Figures come from the final tables (`ReportTables`); charts draw them."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import jinja2
import polars as pl

from pipelines.engine.methodology import Methodology
from pipelines.engine.reports import charts, trace, words
from pipelines.engine.reports.episode_ids import display_levers, episode_key, with_display_ids
from pipelines.engine.reports.inputs import ReportTables
from pipelines.engine.reports.episodes import billed_under, episode_lines, participant_episodes
from pipelines.engine.reports.excel import write_workbook
from pipelines.engine.settings import RunSettings
from pipelines.engine.tables import PARTICIPANT

EPISODE_ORDER = ["tin", "npi", "cohort", "start_date", "episode_id"]  # participant_episodes' order, on the keyed id
PATIENT_SHEETS = {"episodes": trace.PATIENT_NOTICE, "lines": trace.PATIENT_NOTICE}  # claim-level detail
FIGURE_WORDS = {"pool": "Pool-based", "projected": "Projected (CMS)"}
CSV_FIXED = ["performance_year", "tin", "npi", "cohort", "specialty", "status", "status_reason", "attributed_episodes",
             "cost_measure_score", "cost_points", "cost_score"]
CSV_TAIL = ["quality_points", "measures_scored", "quality_score", "ia_adjustment", "pi_adjustment", "complex_bonus",
            "small_practice_bonus", "final_score", "transformed_score", "adjustment_factor", "partb_paid",
            "dollar_impact", "peer_pool_size", "small_pool_warning", "cost_basis"]
PROJECTED_CSV = ["lead", "projected_final_score", "projected_final_score_low", "projected_final_score_high",
                 "projected_factor", "projected_factor_low", "projected_factor_high", "projected_dollar_impact",
                 "pool_final_score_low", "pool_final_score_high", "quality_source", "cost_average_source",
                 "cost_spread_source"]


@dataclass
class ScorecardContext:
    settings: RunSettings
    m: Methodology
    t: ReportTables
    env: jinja2.Environment
    common: dict
    warnings: list[str]
    notes: list[str]
    part_a: bool
    measures: list[str]
    episodes: pl.DataFrame  # episode_id: the keyed id a practice sees (episode_ids.py), as in `lines` and t.levers
    lines: pl.DataFrame  # every listed episode's lines, billing TIN/NPI still unmasked (billed_under masks)

    @classmethod
    def build(cls, settings, m, t, env, common, warnings, notes, part_a, scope) -> "ScorecardContext":
        summary = t.cohort_summary.filter(pl.col("performance_year") == settings.performance_year).to_dicts()
        measures = [x for r in summary for x in r["required_measures"].split(", ") if x]
        episodes = participant_episodes(settings, scope) if scope else pl.DataFrame()
        ids = episodes["episode_id"].unique().to_list() if episodes.height else []
        lines = episode_lines(settings, ids)
        # issue 19 item 9: from here on every episode id is the keyed one (never the warehouse's MD5 id)
        key = episode_key(settings.out_dir)
        return cls(settings, m, replace(t, levers=display_levers(t.levers, key)), env, common, warnings, notes, part_a,
                   measures, with_display_ids(episodes, key, EPISODE_ORDER),
                   with_display_ids(lines, key, ["episode_id"]))


def _figure(row: dict, figure: str) -> dict:
    """One figure (pool-based or projected) of a projected_scores row, for the template."""
    return {"name": figure, "label": FIGURE_WORDS[figure], "final": row[f"{figure}_final_score"],
            "low": row[f"{figure}_final_score_low"], "high": row[f"{figure}_final_score_high"],
            "factor": row[f"{figure}_factor"], "factor_low": row[f"{figure}_factor_low"],
            "factor_high": row[f"{figure}_factor_high"], "dollars": row[f"{figure}_dollar_impact"],
            "sign": row.get(f"{figure}_sign"),
            "cost_points": row[f"{figure}_cost_points"], "cost_low": row[f"{figure}_cost_points_low"],
            "cost_high": row[f"{figure}_cost_points_high"]}


def _charts(ctx: ScorecardContext, row: dict, measures: list[dict], steps: list[dict], history: list[dict]) -> dict:
    t, py = ctx.t, ctx.settings.performance_year
    of = (pl.col("cohort") == row["cohort"]) & (pl.col("performance_year") == py)
    bands = []
    for label, table in (("Pool-based", t.cost_benchmarks), ("Projected (CMS)", t.projected_cost)):
        r = table.filter(of).to_dicts()
        if r and r[0].get("t1") is not None:
            bands.append({"figure": label, **{f"t{k}": r[0][f"t{k}"] for k in range(1, 11)}})
    dist = t.distribution.filter(of & (pl.col("metric") == "measure_score")).to_dicts()
    lead = row["lead"] or "projected"
    return {
        "cost": charts.cost_position(bands, {"score": row["measure_score"], "low": row["measure_score_low"],
                                             "high": row["measure_score_high"]}, dist[0] if dist else None),
        "quality": charts.quality_deciles(
            [{"measure": x["measure_id"], "figure": FIGURE_WORDS[f], "points": x[f"{f}_points"]}
             for x in measures for f in ("pool", "projected") if x["projected_status"] != "not_scored"]),
        "waterfall": charts.waterfall([s for s in steps if s["figure"] == lead],
                                      f"{FIGURE_WORDS[lead]} final score, step by step"),
        "trend_final": charts.trend(history, "projected_final_score", "Projected final score during the PY",
                                    "Final score", [0, 100]),
        "trend_cost": charts.trend(history, "projected_cost_points", "Projected cost points during the PY",
                                   "Cost points", [0, 10]),
    }


TOP_LEVERS = 3


def top_levers(levers: pl.DataFrame, k: int) -> pl.DataFrame:
    """What to fix first: a participant's k levers that gain the most points (improvement_levers' rank), those
    that gain nothing left out."""
    if levers.height == 0:
        return levers
    return (levers.filter(pl.col("points_gained") > 1e-9).sort([*PARTICIPANT, "rank"])
            .group_by(PARTICIPANT, maintain_order=True).head(k))


def _participants(ctx: ScorecardContext, tin: str) -> list[dict]:
    t, m = ctx.t, ctx.m
    projected = {(r["npi"], r["cohort"]): r for r in t.projected.filter(pl.col("tin") == tin).iter_rows(named=True)}
    measures, steps, history, eps = {}, {}, {}, {}
    for x in t.projected_measures.filter(pl.col("tin") == tin).iter_rows(named=True):
        measures.setdefault((x["npi"], x["cohort"]), []).append(
            dict(x, status_words=words.measure_status(x["projected_status"], m, x["status_reason"])))
    for x in t.waterfall.filter(pl.col("tin") == tin).iter_rows(named=True):
        steps.setdefault((x["npi"], x["cohort"]), []).append(x)
    if t.history.height:
        for x in t.history.filter(pl.col("tin") == tin).iter_rows(named=True):
            history.setdefault((x["npi"], x["cohort"]), []).append(dict(x, as_of=x["as_of"].isoformat()))
    if ctx.episodes.height:
        for x in ctx.episodes.filter(pl.col("tin") == tin).iter_rows(named=True):
            eps.setdefault((x["npi"], x["cohort"]), []).append(x)
    fixes = {}
    for x in top_levers(t.levers.filter(pl.col("tin") == tin), TOP_LEVERS).iter_rows(named=True):
        fixes.setdefault((x["npi"], x["cohort"]), []).append(x)
    rows = []
    for r in t.scores.filter(pl.col("tin") == tin).sort("cohort", "npi").iter_rows(named=True):
        key = (r["npi"], r["cohort"])
        p = projected.get(key, {})
        lead = p.get("lead") or "projected"
        on_track = p.get("case_status") == "on track"  # V5
        r.update(specialty_name=words.specialty(r["specialty"]),
                 status_words=(f"On track: fewer than {m.benchmarks.case_minimum} closed episodes so far, enough "
                               "with the open ones expected to close" if on_track else words.status(r["status"], m)),
                 reason_words=words.reason(r["status_reason"]), projection=p, measure_rows=measures.get(key, []),
                 levers=fixes.get(key, []),
                 episode_rows=eps.get(key, []), lines_page=f"lines/{r['npi']}-{r['cohort']}.html",
                 figures=[_figure(p, f) for f in (lead, "pool" if lead == "projected" else "projected")] if p else [],
                 charts=_charts(ctx, p, measures.get(key, []), steps.get(key, []), history.get(key, []))
                 if p and r["status"] == "scored" else {})
        rows.append(r)
    return rows


def _csv(tin: str, participants: list[dict], others: list[dict], measures: list[str], basis: str, py: int) -> pl.DataFrame:
    rows = []
    for r in participants:
        points = {x["measure_id"]: x["pool_points"] for x in r["measure_rows"]}
        status = {x["measure_id"]: x["pool_status"] for x in r["measure_rows"]}
        rows.append({
            "performance_year": r["performance_year"], "tin": tin, "npi": r["npi"], "cohort": r["cohort"],
            "specialty": r["specialty"], "status": r["status"], "status_reason": r["status_reason"],
            "attributed_episodes": r["episodes"], "cost_measure_score": r["measure_score"],
            "cost_points": r["cost_points"], "cost_score": r["cost_score"],
            **{f"points_{mm}": points.get(mm) for mm in measures}, **{f"status_{mm}": status.get(mm) for mm in measures},
            **{c: r.get(c) for c in CSV_TAIL if c in r}, **{c: r["projection"].get(c) for c in PROJECTED_CSV},
            "peer_pool_size": r["projection"].get("peer_pool_size"), "small_pool_warning": None, "cost_basis": basis})
    for o in others:
        rows.append({"performance_year": py, "tin": tin, "npi": o["npi"], "cohort": o["cohort"], "specialty": o["specialty"],
                     "status": "not_in_asm", "status_reason": o["reason"], "cost_basis": basis})
    cols = [*CSV_FIXED, *[f"points_{mm}" for mm in measures], *[f"status_{mm}" for mm in measures], *CSV_TAIL,
            *PROJECTED_CSV]
    return pl.DataFrame([{c: row.get(c) for c in cols} for row in rows], infer_schema_length=None)


def _lines_pages(ctx: ScorecardContext, tin: str, participants: list[dict], folder: Path) -> pl.DataFrame:
    """lines/<npi>-<cohort>.html per participant with episodes; returns every line (for the workbook)."""
    ids = sorted({e["episode_id"] for r in participants for e in r["episode_rows"]})
    if not ids:
        return pl.DataFrame()
    lines = billed_under(ctx.lines, ids, tin)
    by_episode = {k[0]: g.to_dicts() for k, g in lines.group_by("episode_id")}
    (folder / "lines").mkdir(parents=True, exist_ok=True)
    template = ctx.env.get_template("lines.html.j2")
    for r in participants:
        if not r["episode_rows"]:
            continue
        html = template.render(title=f"Episode lines, TIN {tin}, NPI {r['npi']} ({r['cohort']})", tin=tin, p=r,
                               episodes=[dict(e, line_rows=by_episode.get(e["episode_id"], [])) for e in r["episode_rows"]],
                               root="../../", patient_notice=trace.PATIENT_NOTICE, **ctx.common)
        (folder / r["lines_page"]).write_text(html, encoding="utf-8")
    return lines


def write_scorecard(ctx: ScorecardContext, tin: str, folder: Path) -> None:
    t, m, py = ctx.t, ctx.m, ctx.settings.performance_year
    participants = _participants(ctx, tin)
    npis = {r["npi"] for r in participants}
    others = [dict(o, specialty_name=words.specialty(o["specialty"]), reason_words=words.reason(o["reason"]))
              for o in t.eligibility.filter((pl.col("tin") == tin) & ~pl.col("npi").is_in(list(npis))).sort("npi").to_dicts()]
    cohorts_here = {r["cohort"] for r in participants}
    summary = [dict(s, statuses=words.status_counts(s, m)) for s in t.projection_tins.filter(pl.col("tin") == tin).to_dicts()]
    drivers = []
    for (cohort,), g in t.tin_drivers.filter(pl.col("tin") == tin).group_by("cohort", maintain_order=True):
        cats = g.filter(pl.col("kind") == "service_category").to_dicts()
        drivers.append({"cohort": cohort, "episodes": g["episodes"][0], "total": g["observed_cost"][0],
                        "categories": cats, "drivers": g.filter(pl.col("kind") == "driver").to_dicts(),
                        "chart": charts.cost_drivers(cats)})
    folder.mkdir(parents=True, exist_ok=True)
    lines = _lines_pages(ctx, tin, participants, folder)
    html = ctx.env.get_template("scorecard.html.j2").render(
        title=f"ASM scorecard TIN {tin} PY {py}", tin=tin, runtime=f"../{charts.RUNTIME}", clinicians=len(participants) + len(others),
        participants=participants, summary=summary, others=others, drivers=drivers,
        last_service_date=(participants[0]["projection"].get("data_last_service_date") if participants else None),
        warnings=[w for w in ctx.warnings if any(f"for {c}:" in w for c in cohorts_here)],
        notes=[n for n in ctx.notes if not n.startswith("Q6") or "HF" in cohorts_here],
        admission_rows=t.admissions.filter(pl.col("tin") == tin).sort("npi").to_dicts(),
        q492_note=("Q492 is computed from Part A inpatient claims (Q6) and scored on deciles like the other measures."
                   if ctx.part_a else "Q492 is not scored: the run has no Part A claims (Q6); HF quality is scored "
                   "on the other measures."),
        small_pool_limit=m.benchmarks.small_pool_participants, draws=m.projection.bootstrap_draws,
        level=m.projection.interval_level, root="../",
        patient_notice=trace.PATIENT_NOTICE if any(r["episode_rows"] for r in participants) else "", **ctx.common)
    (folder / "scorecard.html").write_text(html, encoding="utf-8")
    _csv(tin, participants, others, ctx.measures, ctx.common["basis"], py).write_csv(folder / "scorecard.csv")
    write_workbook(folder / "scorecard.xlsx", {
        "scores": t.projected.filter(pl.col("tin") == tin).drop("data_last_service_date"),
        "measures": t.projected_measures.filter(pl.col("tin") == tin),
        "episodes": ctx.episodes.filter(pl.col("tin") == tin) if ctx.episodes.height else pl.DataFrame(),
        "lines": lines}, about=trace.trace_rows(ctx.common, patient=True), notices=PATIENT_SHEETS)
    trace.write_about(folder / trace.ABOUT_FILE, ctx.common, tin=tin, patient_information={
        "files": ["scorecard.html (episode list)", "scorecard.xlsx (sheets episodes, lines)", "lines/*.html"],
        "notice": trace.PATIENT_NOTICE})


__all__ = ["ScorecardContext", "write_scorecard"]
