"""One TIN's folder: scorecard.html (TIN summary first, then each clinician with charts, measures and
episodes), scorecard.csv, scorecard.xlsx, lines.csv (exports.py) and lines/<npi>-<cohort>.html (lines.py).
Only the TIN's own clinicians; never a beneficiary id. Figures come from the final tables (`ReportTables`);
charts draw them."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import jinja2
import polars as pl
from markupsafe import Markup

from pipelines.engine.methodology import Methodology
from pipelines.engine.reports import charts, words
from pipelines.engine.reports.inputs import ReportTables, split_by_tin
from pipelines.engine.reports.episodes import listed_lines, participant_episodes
from pipelines.engine.reports.exports import Exports, build_exports, write_exports
from pipelines.engine.reports.lines import page_sections
from pipelines.engine.settings import RunSettings
from pipelines.engine.tables import PARTICIPANT

FIGURE_WORDS = {"pool": "Pool-based", "projected": "Projected (CMS)"}
SECTIONS_SLOT = "\x00sections\x00"  # where a lines page's sections go in the frame Jinja renders


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
    episodes: pl.DataFrame
    pages: dict[str, pl.DataFrame]  # TIN -> its lines pages' sections (npi, cohort, sections: HTML)
    exports: Exports  # the TINs' CSV and workbook rows
    episodes_by_tin: dict[str, pl.DataFrame] = field(default_factory=dict)

    @classmethod
    def build(cls, settings, m, t, env, common, warnings, notes, part_a, scope) -> "ScorecardContext":
        """Everything the scorecards of the TINs `scope` show, computed for all of them at once."""
        py = settings.performance_year
        summary = t.cohort_summary.filter(pl.col("performance_year") == py).to_dicts()
        measures = [x for r in summary for x in r["required_measures"].split(", ") if x]
        episodes = participant_episodes(settings, scope)
        lines = listed_lines(settings, episodes)
        pages = split_by_tin(page_sections(episodes, lines))
        exports = build_exports(t, m, py, measures, common["basis"], scope, episodes, lines)
        return cls(settings, m, t, env, common, warnings, notes, part_a, measures, episodes, pages, exports,
                   split_by_tin(episodes))

    def of(self, tin: str) -> "ScorecardContext":
        """This context with only `tin`'s rows in its tables and episodes (split once, not filtered per TIN)."""
        return replace(self, t=self.t.of(tin), episodes=self.episodes_by_tin.get(tin, self.episodes.clear()))


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


def _lines_pages(ctx: ScorecardContext, tin: str, participants: list[dict], folder: Path) -> None:
    """lines/<npi>-<cohort>.html per participant with episodes: Jinja draws the frame, the sections lines.py built
    for every page at once are written into it as the bytes Polars holds (a page can be tens of MB)."""
    pages = ctx.pages.get(tin)
    if pages is None:
        return
    sections = {(npi, cohort): html for npi, cohort, html in
                pages.select("npi", "cohort", pl.col("sections").cast(pl.Binary)).iter_rows()}
    (folder / "lines").mkdir(parents=True, exist_ok=True)
    template = ctx.env.get_template("lines.html.j2")
    for r in participants:
        if not r["episode_rows"]:
            continue
        frame = template.render(title=f"Episode lines, TIN {tin}, NPI {r['npi']} ({r['cohort']})", tin=tin, p=r,
                                sections=Markup(SECTIONS_SLOT), **ctx.common)
        head, tail = frame.split(SECTIONS_SLOT)
        with open(folder / r["lines_page"], "wb") as f:
            f.write(head.encode())
            f.write(sections.get((r["npi"], r["cohort"]), b""))
            f.write(tail.encode())


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
    _lines_pages(ctx, tin, participants, folder)
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
        level=m.projection.interval_level, **ctx.common)
    (folder / "scorecard.html").write_text(html, encoding="utf-8")
    write_exports(ctx.exports, tin, folder)  # scorecard.csv, lines.csv, scorecard.xlsx


__all__ = ["ScorecardContext", "write_scorecard"]
