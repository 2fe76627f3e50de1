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
FIGURE_WORDS = words.ESTIMATES  # the two named estimates: "Peer-pool estimate", "CMS-benchmark estimate"
HAS_SCORE = ("scored", "failed_minimum_submission")  # S6: a minimum submission missed is a score of 0, not "no score"
CSV_FIXED = ["performance_year", "tin", "npi", "cohort", "specialty", "status", "status_reason", "attributed_episodes",
             "cost_measure_score", "cost_points", "cost_score"]
CSV_TAIL = ["quality_points", "measures_scored", "quality_score", "ia_adjustment", "pi_adjustment", "complex_bonus",
            "small_practice_bonus", "final_score", "transformed_score", "adjustment_factor", "partb_paid",
            "dollar_impact", "peer_pool_size", "small_pool_warning", "cost_basis"]
PROJECTED_CSV = ["lead", "projected_final_score", "projected_final_score_low", "projected_final_score_high",
                 "projected_factor", "projected_factor_low", "projected_factor_high", "projected_dollar_impact",
                 "pool_final_score_low", "pool_final_score_high", "quality_source", "cost_average_source",
                 "cost_spread_source"]
# tables a scorecard reads, split by TIN once per build (a national run has thousands of TINs)
BY_TIN = ("scores", "projected", "projected_measures", "waterfall", "history", "levers", "levers_tin", "projection_tins",
          "tin_drivers", "clinician_drivers", "admissions", "eligibility")


def split_by_tin(df: pl.DataFrame, scope: list[str]) -> dict[str, pl.DataFrame]:
    if df.height == 0 or "tin" not in df.columns:
        return {}
    return {k[0]: g for k, g in df.filter(pl.col("tin").is_in(scope)).partition_by("tin", as_dict=True).items()}


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
    tins: dict  # table name -> {tin: rows of that TIN}
    break_even: dict  # cohort -> cohort_summary row (P2 break-even score, scaling factor)

    @classmethod
    def build(cls, settings, m, t, env, common, warnings, notes, part_a, scope) -> "ScorecardContext":
        summary = t.cohort_summary.filter(pl.col("performance_year") == settings.performance_year).to_dicts()
        measures = [x for r in summary for x in r["required_measures"].split(", ") if x]
        episodes = participant_episodes(settings, scope) if scope else pl.DataFrame()
        ids = episodes["episode_id"].unique().to_list() if episodes.height else []
        lines = episode_lines(settings, ids)
        # issue 19 item 9: from here on every episode id is the keyed one (never the warehouse's MD5 id)
        key = episode_key(settings.out_dir)
        episodes = with_display_ids(episodes, key, EPISODE_ORDER)
        t = replace(t, levers=display_levers(t.levers, key))
        tins = {name: split_by_tin(getattr(t, name), scope) for name in BY_TIN}
        tins["episodes"] = split_by_tin(episodes, scope)
        return cls(settings, m, t, env, common, warnings, notes, part_a, measures, episodes,
                   with_display_ids(lines, key, ["episode_id"]), tins, {r["cohort"]: r for r in summary})

    def of(self, name: str, tin: str) -> pl.DataFrame:
        """Rows of table `name` for `tin` (empty frame of the table's columns when it has none)."""
        got = self.tins[name].get(tin)
        if got is not None:
            return got
        source = self.episodes if name == "episodes" else getattr(self.t, name)
        return source.head(0) if source.width else source


def _figure(row: dict, figure: str) -> dict:
    """One estimate (peer-pool or CMS-benchmark) of a projected_scores row, for the templates."""
    return {"name": figure, "label": FIGURE_WORDS[figure], "final": row[f"{figure}_final_score"],
            "low": row[f"{figure}_final_score_low"], "high": row[f"{figure}_final_score_high"],
            "factor": row[f"{figure}_factor"], "factor_low": row[f"{figure}_factor_low"],
            "factor_high": row[f"{figure}_factor_high"], "dollars": row[f"{figure}_dollar_impact"],
            "dollars_low": row.get(f"{figure}_dollar_impact_low"), "dollars_high": row.get(f"{figure}_dollar_impact_high"),
            "sign": row.get(f"{figure}_sign"),
            "cost_points": row[f"{figure}_cost_points"], "cost_low": row[f"{figure}_cost_points_low"],
            "cost_high": row[f"{figure}_cost_points_high"]}


def tin_estimates(row: dict) -> list[dict]:
    """The TIN × cohort row of projection_tin_summary as the two named estimates, the one its scorecard
    leads with first (V4)."""
    lead = row.get("lead") or "projected"
    return [{"name": f, "label": FIGURE_WORDS[f], "leads": f == lead, "dollars": row.get(f"{f}_dollar_impact"),
             "low": row.get(f"{f}_dollar_impact_low"), "high": row.get(f"{f}_dollar_impact_high"),
             "sign": row.get(f"{f}_sign")} for f in (lead, "pool" if lead == "projected" else "projected")]


def _charts(ctx: ScorecardContext, row: dict, measures: list[dict], steps: list[dict], history: list[dict]) -> dict:
    t, py = ctx.t, ctx.settings.performance_year
    of = (pl.col("cohort") == row["cohort"]) & (pl.col("performance_year") == py)
    bands = []
    for figure, table in (("pool", t.cost_benchmarks), ("projected", t.projected_cost)):
        r = table.filter(of).to_dicts()
        if r and r[0].get("t1") is not None:
            bands.append({"figure": FIGURE_WORDS[figure], **{f"t{k}": r[0][f"t{k}"] for k in range(1, 11)}})
    dist = t.distribution.filter(of & (pl.col("metric") == "measure_score")).to_dicts()
    lead = row["lead"] or "projected"
    return {
        "cost": charts.cost_position(bands, {"score": row["measure_score"], "low": row["measure_score_low"],
                                             "high": row["measure_score_high"]}, dist[0] if dist else None),
        "quality": charts.quality_deciles(
            [{"measure": words.measure_title(x["measure_id"]), "figure": FIGURE_WORDS[f], "points": x[f"{f}_points"]}
             for x in measures for f in ("pool", "projected") if x["projected_status"] != "not_scored"]),
        "waterfall": charts.waterfall([s for s in steps if s["figure"] == lead],
                                      f"{FIGURE_WORDS[lead]}: the final score, step by step"),
        "trend_final": charts.trend(history, "projected_final_score", "CMS-benchmark estimate of the final score during the year",
                                    "Final score", [0, 100]),
        "trend_cost": charts.trend(history, "projected_cost_points", "CMS-benchmark estimate of the cost points during the year",
                                   "Cost points", [0, 10]),
    }


TOP_LEVERS = 3
TOP_TIN_ACTIONS = 5
LEVER_WORDS = {  # improvement_levers' kinds, for a practice manager
    "minimum_submission": "Meet the minimum submission (a clinician scored 0 would get a score)",
    "ia": "Attest the improvement activities",
    "pi": "Report Promoting Interoperability at 100",
    "case_minimum": "Reach the minimum number of episodes to be scored",
    "measure_cases": "Report enough cases of a quality measure",
    "measure_completeness": "Report enough of a measure's eligible patients",
    "measure_decile": "Raise a quality measure's rate to its next decile",
    "excess_cost_episode": "Bring the costliest episodes down to their expected cost",
}


def top_levers(levers: pl.DataFrame, k: int) -> pl.DataFrame:
    """What to fix first: a participant's k levers that gain the most points (improvement_levers' rank), those
    that gain nothing left out."""
    if levers.height == 0:
        return levers
    return (levers.filter(pl.col("points_gained") > 1e-9).sort([*PARTICIPANT, "rank"])
            .group_by(PARTICIPANT, maintain_order=True).head(k))


def _lever(x: dict) -> dict:
    return dict(x, kind_words=LEVER_WORDS.get(x["lever"], x["lever"]), text=words.plain_html(x["description"]))


def rate_text(x: dict) -> str:
    """A measure's rate in one unit: percent for performance rates (whatever scale the source used),
    Q492's own unit (admissions per 100 person-years)."""
    rate = x.get("rate_cms_units")
    if rate is None:
        return ""
    if x["measure_id"] == "Q492":
        return f"{rate:.1f} per 100 person-years"
    return f"{rate if x.get('rate_scale') == 100 else 100 * rate:.1f}%"


def _measure_row(x: dict, m: Methodology) -> dict:
    return dict(x, title=words.measure_title(x["measure_id"]), full_title=words.measure_title(x["measure_id"], short=False),
                collection_words=words.collection_type(x["collection_type"]), rate_text=rate_text(x),
                status_words=words.measure_status(x["projected_status"], m, x["status_reason"]))


def _episode_order(rows: list[dict]) -> list[dict]:
    """By excess cost, largest first (where the expected cost is known), then by start date."""
    return sorted(rows, key=lambda e: (-(e.get("excess_cost") or float("-inf")) if e.get("excess_cost") is not None
                                       else float("inf"), str(e.get("start_date"))))


def _participants(ctx: ScorecardContext, tin: str) -> list[dict]:
    m = ctx.m
    projected = {(r["npi"], r["cohort"]): r for r in ctx.of("projected", tin).iter_rows(named=True)}
    group = lambda name, fn=None: _group(ctx.of(name, tin), fn)  # noqa: E731
    measures = group("projected_measures", lambda x: _measure_row(x, m))
    steps = group("waterfall")
    history = group("history", lambda x: dict(x, as_of=x["as_of"].isoformat()))
    eps = group("episodes")
    drivers = group("clinician_drivers")
    admissions = group("admissions")
    fixes = _group(top_levers(ctx.of("levers", tin), TOP_LEVERS), _lever)
    all_fixes = _group(top_levers(ctx.of("levers", tin), 100), _lever)
    rows = []
    for r in ctx.of("scores", tin).iter_rows(named=True):
        key = (r["npi"], r["cohort"])
        p = projected.get(key, {})
        lead = p.get("lead") or "projected"
        on_track = p.get("case_status") == "on track"  # V5
        has_score = r["status"] in HAS_SCORE
        cats = [d for d in drivers.get(key, []) if d["kind"] == "service_category"]
        r.update(specialty_name=words.specialty(r["specialty"]), has_score=has_score, on_track=on_track,
                 status_words=(f"On track: fewer than {m.benchmarks.case_minimum} closed episodes so far, enough "
                               "with the open ones expected to close" if on_track else words.status(r["status"], m)),
                 reason_html=words.plain_html(r["status_reason"]), projection=p,
                 episodes_words=("" if r["status"] == "not_eligible" else
                                 p.get("case_status_words") if p.get("in_year") else f"{r['episodes'] or 0}"),
                 measure_rows=measures.get(key, []), levers=fixes.get(key, []), all_levers=all_fixes.get(key, []),
                 episode_rows=_episode_order(eps.get(key, [])), lines_page=f"lines/{r['npi']}-{r['cohort']}.html",
                 page=f"clinicians/{r['npi']}-{r['cohort']}.html",
                 figures=[_figure(p, f) for f in (lead, "pool" if lead == "projected" else "projected")] if p else [],
                 categories=cats, driver_rows=[d for d in drivers.get(key, []) if d["kind"] == "driver"],
                 drivers_chart=charts.cost_drivers(cats, who="This clinician"), admissions=admissions.get(key, []),
                 charts=_charts(ctx, p, measures.get(key, []), steps.get(key, []), history.get(key, []))
                 if p and has_score else {})
        r["at_risk"] = _at_risk(r)
        rows.append(r)
    # most dollars at risk first (the estimate each leads with), then the others by cohort and NPI
    return sorted(rows, key=lambda r: (not r["has_score"], -(r["at_risk"] or 0.0), r["cohort"], r["npi"]))


def _at_risk(r: dict) -> float | None:
    """Dollars at risk: what the estimate a clinician's page leads with says it loses (0 when it gains)."""
    f = r["figures"][0] if r["figures"] else None
    return None if not f or f["dollars"] is None else max(0.0, -f["dollars"])


def _group(df: pl.DataFrame, fn=None) -> dict:
    out: dict = {}
    for x in df.iter_rows(named=True):
        out.setdefault((x["npi"], x["cohort"]), []).append(fn(x) if fn else x)
    return out


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


def _tin_drivers(ctx: ScorecardContext, tin: str) -> list[dict]:
    drivers = []
    for (cohort,), g in ctx.of("tin_drivers", tin).group_by("cohort", maintain_order=True):
        cats = g.filter(pl.col("kind") == "service_category").to_dicts()
        drivers.append({"cohort": cohort, "episodes": g["episodes"][0], "total": g["observed_cost"][0],
                        "categories": cats, "drivers": g.filter(pl.col("kind") == "driver").to_dicts(),
                        "chart": charts.cost_drivers(cats)})
    return drivers


def _tin_fixes(ctx: ScorecardContext, tin: str, participants: list[dict]) -> tuple[list[dict], list[dict]]:
    """What to fix first for the TIN: each kind of lever (improvement_levers_tin, by rank) with the clinicians
    it concerns, points and dollars; and the single actions worth the most dollars across its clinicians."""
    kinds = [dict(x, kind_words=LEVER_WORDS.get(x["lever"], x["lever"]), marker=words.rule_marker(x["rule"]))
             for x in ctx.of("levers_tin", tin).filter(pl.col("points_gained") > 1e-9).sort("rank").iter_rows(named=True)]
    actions = [dict(x, npi=r["npi"], cohort=r["cohort"], page=r["page"]) for r in participants for x in r["all_levers"]
               if x.get("dollars_gained") is not None and x["dollars_gained"] > 0]
    actions.sort(key=lambda x: (-x["dollars_gained"], x["npi"], x["cohort"], x["rank"]))
    return kinds, actions[:TOP_TIN_ACTIONS]


def _note_applies(note: str, cohorts: set[str]) -> bool:
    """A run note a TIN's page shows: the Part A note (Q6) only with HF participants, a cohort's break-even
    note (P2: in <cohort> ...) only with that cohort's."""
    if note.startswith("Q6"):
        return "HF" in cohorts
    if note.startswith("P2: in "):
        return note.split()[2] in cohorts
    return True


def _q492_note(part_a: bool) -> str:
    return ("Cardiovascular hospital admissions (Q492) are computed from Part A inpatient claims and scored on "
            "deciles like the other measures." if part_a else
            "Cardiovascular hospital admissions (Q492) are not scored: the run has no Part A claims; heart-failure "
            "quality is scored on the other measures.")


def write_scorecard(ctx: ScorecardContext, tin: str, folder: Path) -> None:
    """scorecard.html (the TIN: where it stands, what to fix first, its clinicians by dollars at risk, what drives
    cost), clinicians/<npi>-<cohort>.html (each participant in detail), lines pages, CSV and workbook."""
    m, py = ctx.m, ctx.settings.performance_year
    participants = _participants(ctx, tin)
    npis = {r["npi"] for r in participants}
    elig = ctx.of("eligibility", tin)
    others = [dict(o, specialty_name=words.specialty(o["specialty"]), reason_html=words.plain_html(o["reason"]))
              for o in elig.filter(~pl.col("npi").is_in(list(npis))).sort("npi").to_dicts()]
    cohorts_here = {r["cohort"] for r in participants}
    in_asm = [r for r in participants if r["status"] != "not_eligible"]
    summary = [dict(s, statuses=words.status_counts(s, m), estimates=tin_estimates(s), cohort_row=ctx.break_even.get(s["cohort"], {}))
               for s in ctx.of("projection_tins", tin).sort("cohort").to_dicts()]
    kinds, actions = _tin_fixes(ctx, tin, participants)
    folder.mkdir(parents=True, exist_ok=True)
    lines = _lines_pages(ctx, tin, participants, folder)
    page = dict(tin=tin, small_pool_limit=m.benchmarks.small_pool_participants, draws=m.projection.bootstrap_draws,
                level=m.projection.interval_level, q492_note=_q492_note(ctx.part_a),
                last_service_date=(participants[0]["projection"].get("data_last_service_date") if participants else None),
                warnings=[w for w in ctx.warnings if any(f"for {c}:" in w for c in cohorts_here)],
                notes=[n for n in ctx.notes if _note_applies(n, cohorts_here)], **ctx.common)
    html = ctx.env.get_template("scorecard.html.j2").render(
        title=f"ASM scorecard TIN {tin} PY {py}", runtime=f"../{charts.RUNTIME}", clinicians=len(participants) + len(others),
        participants=participants, in_asm=in_asm, summary=summary, others=others, drivers=_tin_drivers(ctx, tin),
        fix_kinds=kinds, fix_actions=actions, root="../", **page)
    (folder / "scorecard.html").write_text(html, encoding="utf-8")
    detail = ctx.env.get_template("clinician.html.j2")
    (folder / "clinicians").mkdir(exist_ok=True)
    for r in in_asm:
        (folder / r["page"]).write_text(detail.render(
            title=f"ASM PY {py}: NPI {r['npi']} ({r['cohort']}), TIN {tin}", runtime=f"../../{charts.RUNTIME}", r=r,
            root="../../", patient_notice=trace.PATIENT_NOTICE if r["episode_rows"] else "", **page), encoding="utf-8")
    _csv(tin, participants, others, ctx.measures, ctx.common["basis"], py).write_csv(folder / "scorecard.csv")
    write_workbook(folder / "scorecard.xlsx", {
        "scores": ctx.of("projected", tin).drop("data_last_service_date"),
        "measures": ctx.of("projected_measures", tin),
        "episodes": ctx.of("episodes", tin) if ctx.episodes.height else pl.DataFrame(),
        "lines": lines}, about=trace.trace_rows(ctx.common, patient=True), notices=PATIENT_SHEETS)
    trace.write_about(folder / trace.ABOUT_FILE, ctx.common, tin=tin, patient_information={
        "files": ["clinicians/*.html (episode lists)", "scorecard.xlsx (sheets episodes, lines)", "lines/*.html"],
        "notice": trace.PATIENT_NOTICE})


__all__ = ["ScorecardContext", "write_scorecard"]
