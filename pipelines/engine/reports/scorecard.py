"""One TIN's folder: scorecard.html (TIN summary first, then each clinician with charts, measures and
episodes), scorecard.csv, scorecard.xlsx, lines.csv (exports.py) and lines/<npi>-<cohort>.html (lines.py).
Only the TIN's own clinicians; never a beneficiary id. Figures come from the final tables (`ReportTables`);
charts draw them."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import jinja2
import polars as pl
from markupsafe import Markup, escape

from pipelines.engine.methodology import Methodology
from pipelines.engine.reports import charts, trace, words
from pipelines.engine.reports.episode_ids import display_levers, episode_key, keyed_ids, with_display_ids
from pipelines.engine.reports.inputs import ReportTables, split_by_tin
from pipelines.engine.reports.episodes import listed_lines, participant_episodes
from pipelines.engine.reports.exports import Exports, build_exports, write_exports
from pipelines.engine.reports.index import at_risk_of_lead
from pipelines.engine.reports.lines import page_sections
from pipelines.engine.reports.privacy import Written
from pipelines.engine.settings import RunSettings
from pipelines.engine.tables import PARTICIPANT

# participant_episodes' order, on the keyed id: per participant by excess cost, largest first (open ones last)
EPISODE_ORDER = ["tin", "npi", "cohort", "excess_cost", "start_date", "episode_id"]
PATIENT_SHEETS = {"Episodes": trace.PATIENT_NOTICE}  # claim-level detail (the lines are in lines.csv)
FIGURE_WORDS = words.ESTIMATES  # the two named estimates: "Peer-pool estimate", "CMS-benchmark estimate"
HAS_SCORE = ("scored", "failed_minimum_submission")  # S6: a minimum submission missed is a score of 0, not "no score"
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
    episodes: pl.DataFrame  # episode_id: the keyed id a practice sees (episode_ids.py), as in the pages and t.levers
    pages: dict[str, pl.DataFrame]  # TIN -> its lines pages' sections (npi, cohort, sections: HTML)
    exports: Exports  # the TINs' CSV and workbook rows
    break_even: dict  # cohort -> cohort_summary row (P2 break-even score, scaling factor)
    episodes_by_tin: dict[str, pl.DataFrame] = field(default_factory=dict)
    refs: dict = field(default_factory=dict)  # cohort -> cost bands and distribution (_cost_reference)

    @classmethod
    def build(cls, settings, m, t, env, common, warnings, notes, part_a, scope) -> "ScorecardContext":
        """Everything the scorecards of the TINs `scope` show, computed for all of them at once."""
        py = settings.performance_year
        t = t.only(scope)  # a TIN's rows are all it shows (the cohort-wide tables have no tin column)
        summary = t.cohort_summary.filter(pl.col("performance_year") == py).to_dicts()
        measures = [x for r in summary for x in r["required_measures"].split(", ") if x]
        episodes = participant_episodes(settings, scope)
        lines = listed_lines(settings, episodes)  # looked up by the warehouse's ids
        # issue 19 item 9: from here on every episode id is the keyed one (never the warehouse's MD5 id)
        key = episode_key(settings.out_dir)
        known = keyed_ids(episodes["episode_id"], key)  # the lines' episodes are these: each id hashed once
        episodes = with_display_ids(_plain_notes(episodes), key, known=known).sort(  # item 6: largest excess cost first
            EPISODE_ORDER, descending=[False, False, False, True, False, False], nulls_last=True, maintain_order=True)
        lines = with_display_ids(lines, key, ["report_tin", "episode_id"], known)
        # ordered once for every TIN (a polars call per TIN costs ~0.5 ms: 80k of them at 2,000+ TINs)
        t = replace(t, levers=top_levers(display_levers(t.levers, key), MAX_LEVERS),
                    projected=t.projected.with_columns(at_risk_of_lead()),
                    projected_measures=t.projected_measures.with_columns(words.rate_in_unit()),
                    levers_tin=t.levers_tin.filter(pl.col("points_gained") > 1e-9).sort("tin", "rank"),
                    projection_tins=t.projection_tins.sort("tin", "cohort"), eligibility=t.eligibility.sort("tin", "npi"),
                    tin_drivers=t.tin_drivers.sort("tin", "cohort", maintain_order=True))
        pages = split_by_tin(page_sections(episodes, lines))
        exports = build_exports(t, m, py, measures, common["basis"], scope, episodes, lines)
        return cls(settings, m, t, env, common, warnings, notes, part_a, measures, episodes, pages, exports,
                   {r["cohort"]: r for r in summary}, split_by_tin(episodes))

    def of(self, tin: str) -> "ScorecardContext":
        """This context with only `tin`'s rows in its tables and episodes (split once, not filtered per TIN)."""
        return replace(self, t=self.t.of(tin), episodes=self.episodes_by_tin.get(tin, self.episodes.clear()))


def _plain_notes(episodes: pl.DataFrame) -> pl.DataFrame:
    """Episode notes ('excluded: X1: age under 18 ...') in words, without rule ids (a few distinct texts)."""
    if episodes.height == 0 or "note" not in episodes.columns:
        return episodes
    texts = episodes["note"].drop_nulls().unique().to_list()
    return episodes.with_columns(pl.col("note").replace_strict({x: words.plain(x) for x in texts}, default=None))


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


def _cost_reference(ctx: ScorecardContext, cohort: str) -> tuple[list[dict], dict | None]:
    """A cohort's cost bands (peer pool, CMS reference) and the pool's distribution of cost measure scores,
    read once per cohort for every clinician of every TIN (`ctx.refs` is shared by the per-TIN contexts)."""
    if cohort not in ctx.refs:
        t, py = ctx.t, ctx.settings.performance_year
        of = (pl.col("cohort") == cohort) & (pl.col("performance_year") == py)
        bands = []
        for figure, table in (("pool", t.cost_benchmarks), ("projected", t.projected_cost)):
            r = table.filter(of).to_dicts()
            if r and r[0].get("t1") is not None:
                bands.append({"figure": FIGURE_WORDS[figure], **{f"t{k}": r[0][f"t{k}"] for k in range(1, 11)}})
        dist = t.distribution.filter(of & (pl.col("metric") == "measure_score")).to_dicts()
        ctx.refs[cohort] = (bands, dist[0] if dist else None)
    return ctx.refs[cohort]


def _charts(ctx: ScorecardContext, row: dict, measures: list[dict], steps: list[dict], history: list[dict]) -> dict:
    bands, dist = _cost_reference(ctx, row["cohort"])
    lead = row["lead"] or "projected"
    return {
        "cost": charts.cost_position(bands, {"score": row["measure_score"], "low": row["measure_score_low"],
                                             "high": row["measure_score_high"]}, dist),
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


TOP_LEVERS = 3  # on the clinicians table; a clinician's page lists up to MAX_LEVERS
MAX_LEVERS = 100
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
    """A measure's rate (`rate`: words.rate_in_unit) with its unit: '74.3%', '65.6 per 100 person-years'."""
    rate = x.get("rate")
    if rate is None:
        return ""
    own = words.OWN_UNIT_MEASURES.get(x["measure_id"])
    return f"{rate:.1f} {own}" if own else f"{rate:.1f}%"


def _measure_row(x: dict, m: Methodology) -> dict:
    return dict(x, title=words.measure_title(x["measure_id"]), full_title=words.measure_title(x["measure_id"], short=False),
                collection_words=words.collection_type(x["collection_type"]), rate_text=rate_text(x),
                status_words=words.measure_status(x["projected_status"], m, x["status_reason"]))


def _episode_order(rows: list[dict]) -> list[dict]:
    """By excess cost, largest first (where the expected cost is known), then by start date."""
    return sorted(rows, key=lambda e: (-(e.get("excess_cost") or float("-inf")) if e.get("excess_cost") is not None
                                       else float("inf"), str(e.get("start_date"))))


def _text(v) -> str:
    """`{{ v }}` under autoescape: text escaped; dates, numbers and None (as 'None') hold no markup."""
    return escape(v) if isinstance(v, str) else str(v)


def episode_table(rows: list[dict], lines_page: str) -> Markup:
    """The rows of a clinician page's episodes table, as a template loop drew them (autoescaped, the `money`,
    `pct` and `num` filters, whose text holds no markup): one string per participant instead of a template loop
    per episode (hundreds of thousands of episodes at 10 M lines)."""
    page = escape(lines_page)
    out = []
    for e in rows:
        status = e["status"]
        eid = _text(e["episode_id"])
        out.append(
            f'<tr class="{"open" if status == "open" else ""}"><td class="l"><a href="../{page}#E-{eid}">{eid}</a></td>\n'
            f'<td>{_text(e["start_date"])}</td><td>{_text(e["end_date"])}</td><td class="l">'
            f'{"open" if status == "open" else _text(status)}</td><td>{words.pct(e["share"], 0)}</td>\n'
            f'<td>{words.money(e["observed_cost"])}</td><td>{words.money(e["observed_cost_winsorized"])}</td>'
            f'<td>{words.money(e["expected_cost"])}</td><td>{words.num(e["observed_to_expected"], 2)}</td>\n'
            f'<td>{words.money(e["excess_cost"])}</td><td>{_text(e["lines"])}</td><td class="l small">'
            f'{words.plain_html(e["note"])}</td></tr>')
    return Markup("".join(out))


def _participants(ctx: ScorecardContext, tin: str) -> list[dict]:
    m = ctx.m
    projected = {(r["npi"], r["cohort"]): r for r in ctx.t.projected.iter_rows(named=True)}
    group = lambda name, fn=None: _group(ctx.episodes if name == "episodes" else getattr(ctx.t, name), fn)  # noqa: E731
    measures = group("projected_measures", lambda x: _measure_row(x, m))
    steps = group("waterfall")
    history = group("history", lambda x: dict(x, as_of=x["as_of"].isoformat()))
    eps = group("episodes")
    drivers = group("clinician_drivers")
    admissions = group("admissions")
    all_fixes = _group(ctx.t.levers, _lever)  # top_levers, ranked (ScorecardContext.build)
    rows = []
    for r in ctx.t.scores.iter_rows(named=True):
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
                 measure_rows=measures.get(key, []), levers=all_fixes.get(key, [])[:TOP_LEVERS], all_levers=all_fixes.get(key, []),
                 episode_rows=_episode_order(eps.get(key, [])), lines_page=f"lines/{r['npi']}-{r['cohort']}.html",
                 page=f"clinicians/{r['npi']}-{r['cohort']}.html",
                 figures=[_figure(p, f) for f in (lead, "pool" if lead == "projected" else "projected")] if p else [],
                 categories=cats, driver_rows=[d for d in drivers.get(key, []) if d["kind"] == "driver"],
                 drivers_chart=charts.cost_drivers(cats, who="This clinician"), admissions=admissions.get(key, []),
                 charts=_charts(ctx, p, measures.get(key, []), steps.get(key, []), history.get(key, []))
                 if p and has_score else {})
        r["at_risk"] = p.get("dollars_at_risk") if has_score else None
        r["episode_table"] = episode_table(r["episode_rows"], r["lines_page"])
        rows.append(r)
    # most dollars at risk first (the estimate each leads with), then the others by cohort and NPI
    return sorted(rows, key=lambda r: (not r["has_score"], -(r["at_risk"] or 0.0), r["cohort"], r["npi"]))


def _group(df: pl.DataFrame, fn=None) -> dict:
    out: dict = {}
    for x in df.iter_rows(named=True):
        out.setdefault((x["npi"], x["cohort"]), []).append(fn(x) if fn else x)
    return out


def _lines_pages(ctx: ScorecardContext, tin: str, participants: list[dict], folder: Path, written: Written) -> None:
    """lines/<npi>-<cohort>.html per participant with episodes: Jinja draws the frame, the sections lines.py built
    for every page at once are written into it as the bytes Polars holds (a page can be tens of MB); the parts
    kept in `written` for the privacy scan."""
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
                                sections=Markup(SECTIONS_SLOT), root="../../", patient_notice=trace.PATIENT_NOTICE,
                                **ctx.common)
        head, tail = frame.split(SECTIONS_SLOT)
        body = sections.get((r["npi"], r["cohort"]), b"")
        with open(folder / r["lines_page"], "wb") as f:
            f.write(head.encode())
            f.write(body)
            f.write(tail.encode())
        written[folder / r["lines_page"]] = (head, body, tail)


def _tin_drivers(ctx: ScorecardContext, tin: str) -> list[dict]:
    by_cohort: dict[str, list[dict]] = {}
    for x in ctx.t.tin_drivers.iter_rows(named=True):
        by_cohort.setdefault(x["cohort"], []).append(x)
    drivers = []
    for cohort, rows in by_cohort.items():
        cats = [x for x in rows if x["kind"] == "service_category"]
        drivers.append({"cohort": cohort, "episodes": rows[0]["episodes"], "total": rows[0]["observed_cost"],
                        "categories": cats, "drivers": [x for x in rows if x["kind"] == "driver"],
                        "chart": charts.cost_drivers(cats)})
    return drivers


def _tin_fixes(ctx: ScorecardContext, tin: str, participants: list[dict]) -> tuple[list[dict], list[dict]]:
    """What to fix first for the TIN: each kind of lever (improvement_levers_tin, by rank) with the clinicians
    it concerns, points and dollars; and the single actions worth the most dollars across its clinicians."""
    kinds = [dict(x, kind_words=LEVER_WORDS.get(x["lever"], x["lever"]), marker=words.rule_marker(x["rule"]))
             for x in ctx.t.levers_tin.iter_rows(named=True)]  # gaining levers by rank (build)
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


def _write(path: Path, text: str, written: Written) -> None:
    path.write_text(text, encoding="utf-8")
    written[path] = text


def write_scorecard(ctx: ScorecardContext, tin: str, folder: Path, written: Written | None = None) -> None:
    """scorecard.html (the TIN: where it stands, what to fix first, its clinicians by dollars at risk, what drives
    cost), clinicians/<npi>-<cohort>.html (each participant in detail), lines pages, CSV and workbook. The texts
    written are kept in `written` (path -> text) for the privacy scan (privacy.FolderScan), which need not
    read them back."""
    written = {} if written is None else written
    m, py = ctx.m, ctx.settings.performance_year
    participants = _participants(ctx, tin)
    npis = {r["npi"] for r in participants}
    others = [dict(o, specialty_name=words.specialty(o["specialty"]), reason_html=words.plain_html(o["reason"]))
              for o in ctx.t.eligibility.iter_rows(named=True) if o["npi"] not in npis]  # sorted by NPI (build)
    cohorts_here = {r["cohort"] for r in participants}
    in_asm = [r for r in participants if r["status"] != "not_eligible"]
    summary = [dict(s, statuses=words.status_counts(s, m), estimates=tin_estimates(s), cohort_row=ctx.break_even.get(s["cohort"], {}))
               for s in ctx.t.projection_tins.iter_rows(named=True)]  # by cohort (build)
    kinds, actions = _tin_fixes(ctx, tin, participants)
    folder.mkdir(parents=True, exist_ok=True)
    _lines_pages(ctx, tin, participants, folder, written)
    page = dict(tin=tin, small_pool_limit=m.benchmarks.small_pool_participants, draws=m.projection.bootstrap_draws,
                level=m.projection.interval_level, q492_note=_q492_note(ctx.part_a),
                last_service_date=(participants[0]["projection"].get("data_last_service_date") if participants else None),
                warnings=[w for w in ctx.warnings if any(f"for {c}:" in w for c in cohorts_here)],
                notes=[n for n in ctx.notes if _note_applies(n, cohorts_here)], **ctx.common)
    html = ctx.env.get_template("scorecard.html.j2").render(
        title=f"ASM scorecard TIN {tin} PY {py}", runtime=f"../{charts.RUNTIME}", clinicians=len(participants) + len(others),
        participants=participants, in_asm=in_asm, summary=summary, others=others, drivers=_tin_drivers(ctx, tin),
        fix_kinds=kinds, fix_actions=actions, root="../", **page)
    _write(folder / "scorecard.html", html, written)
    detail = ctx.env.get_template("clinician.html.j2")
    (folder / "clinicians").mkdir(exist_ok=True)
    for r in in_asm:
        _write(folder / r["page"], detail.render(
            title=f"ASM PY {py}: NPI {r['npi']} ({r['cohort']}), TIN {tin}", runtime=f"../../{charts.RUNTIME}", r=r,
            root="../../", patient_notice=trace.PATIENT_NOTICE if r["episode_rows"] else "", **page), written)
    # scorecard.csv, lines.csv, scorecard.xlsx (with its 'About this file' sheet), about.json
    write_exports(ctx.exports, tin, folder, about=trace.trace_rows(ctx.common, patient=True), notices=PATIENT_SHEETS,
                  written=written)
    trace.write_about(folder / trace.ABOUT_FILE, ctx.common, tin=tin, patient_information={
        "files": ["clinicians/*.html (episode lists)", "scorecard.xlsx (sheet Episodes)", "lines.csv", "lines/*.html"],
        "notice": trace.PATIENT_NOTICE})


__all__ = ["ScorecardContext", "write_scorecard"]
