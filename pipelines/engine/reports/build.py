"""Reports (data-contracts "Reports"), rendered from the final tables only (templates in `templates/`,
charts in `charts.py`). The renderer computes no rule: every figure is a column of participant_scores,
payment_adjustments, participant_measure_points, admission_rates, tin_summary, tin_cost_drivers,
cohort_summary, cohort_cost_drivers, cost/quality benchmarks, score_distribution, eligibility, the
projection tables (projected_scores, projected_measure_points, projected_*_benchmarks, score_waterfall,
projection_tin_summary), the episode tables and the projection history.

  OUT/reports/index.html, index.csv               every TIN of the run by dollars at risk (index.py)
  OUT/reports/cohort_summary.html                 benchmarks and distributions only
  OUT/reports/<tin>/scorecard.html, .csv, .xlsx   only that TIN's clinicians
  OUT/reports/<tin>/lines/<npi>-<cohort>.html     each listed episode's lines (anchors per episode)
"""
from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import polars as pl

from pipelines.engine.methodology import Methodology
from pipelines.engine.reports import charts, trace, words
from pipelines.engine.reports.guide import write_guide
from pipelines.engine.reports.index import write_index
from pipelines.engine.reports.inputs import ReportTables, tin_folder
from pipelines.engine.reports.privacy import FolderScan, PrivacyGuard, privacy_scan
from pipelines.engine.settings import RunSettings

TEMPLATES = Path(__file__).parent / "templates"
NOT_STANDARDIZED = "allowed, not standardized"
DISTRIBUTION_DIGITS = {"measure_score": 2, "cost_points": 2, "final_score": 2, "dollar_impact": 2}


# ------------------------------------------------------------------------------------------ formatting
# The number formats live in words.py (scorecard.py's episode rows use them too).
_missing, _num, _money, _money0, _pct, _spct = (words.missing, words.num, words.money, words.money0, words.pct,
                                                words.spct)


class _Environment(jinja2.Environment):
    """Jinja's environment, with `x.name` on a dict looked up as its key at once. Jinja tries the attribute
    first and the key after its AttributeError: the pages' rows are dicts, and raising that error for every
    cell cost a few percent of the stage at 10M lines. Same result: a dict's only attributes are its type's
    (those names, e.g. `.items`, still go to Jinja's own lookup)."""

    def getattr(self, obj, attribute):
        if type(obj) is dict and not hasattr(dict, attribute):
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def environment() -> jinja2.Environment:
    env = _Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                       undefined=jinja2.StrictUndefined)
    env.filters.update(num=_num, money=_money, money0=_money0, pct=_pct, spct=_spct, plain=words.plain_html,
                       rule=words.rule_marker, measure=words.measure_label, collection=words.collection_type,
                       metric=words.metric, status=words.status, short=trace.short)
    return env


# ------------------------------------------------------------------------------------------ data

def inyear_notes(projected: pl.DataFrame) -> list[str]:
    """V5: what an in-year run's projected figures count, in words."""
    if projected.height == 0 or not projected["in_year"].any():
        return []
    last = projected["data_last_service_date"].drop_nulls().max()
    expected = int(projected["expected_episodes"].sum())
    return [f"In-year run: the claims data end on {last}. Pool-based figures count closed episodes only; projected "
            f"figures also count the open episodes expected to close before the year ends ({expected:,} attributions), "
            "their cost so far projected to the full year from how closed episodes' costs build up, and scale Part B "
            "paid so far to the whole year. 'On track' clinicians have fewer than the minimum closed episodes today "
            "but enough with the expected ones."]


def cohort_warnings(cohort_summary: pl.DataFrame) -> tuple[list[str], list[str]]:
    """B1 small-pool warnings, N5 and Q6 notes, from cohort_summary."""
    warnings, notes = [], []
    rows = cohort_summary.to_dicts()
    tins = rows[0]["tins_in_run"] if rows else 0
    for r in rows:
        if r["small_pool"]:
            warnings.append(
                f"B1: small peer pool for {r['cohort']}: {r['peer_pool_size']} participant(s) meet the case minimum in "
                f"this run. Benchmarks from a small pool are unstable"
                + ("; this run covers a single practice, so its clinicians are compared with each other only."
                   if tins == 1 else "."))
    for r in rows:  # P2: the break-even score, not 50, is where a cohort's adjustment turns positive
        if r.get("break_even_score") is not None:
            notes.append(f"P2: in {r['cohort']} a final score of {r['break_even_score']:.1f} is the break-even score "
                         f"this run: above it the payment adjustment is positive, below it negative (scaling factor "
                         f"S = {r['scaling_factor']:.3f}).")
        elif r.get("scaling_factor") is not None:
            notes.append(f"P2: in {r['cohort']} no final score reaches a positive adjustment this run (scaling "
                         f"factor S = {r['scaling_factor']:.3f}).")
    if rows and rows[0]["cost_basis"] == NOT_STANDARDIZED:
        notes.append("N5: costs are allowed, not standardized (no standardization_factors.csv was supplied).")
    if rows and not rows[0]["part_a_supplied"]:
        notes.append("Q6: no Part A claims were supplied, so Q492 (HF admissions) is not scored.")
    return warnings, notes


# ------------------------------------------------------------------------------------------ cohort summary

def cohort_sections(t: ReportTables, py: int) -> list[dict]:
    out = []
    for c in t.cohort_summary.filter(pl.col("performance_year") == py).iter_rows(named=True):
        cohort = c["cohort"]
        of = (pl.col("cohort") == cohort) & (pl.col("performance_year") == py)
        d = t.distribution.filter(of)
        cost_row = t.cost_benchmarks.filter(of).to_dicts()
        projected = t.projected_cost.filter(of).to_dicts()
        out.append({
            "cohort": cohort, "episodes": c["scored_episodes"], "mean_cost": c["mean_observed_cost"],
            "cost": cost_row[0] if cost_row else None, "projected_cost": projected[0] if projected else None,
            "quality": t.quality_benchmarks.filter(of).sort("measure_id", "collection_type").to_dicts(),
            "distribution": [dict(x, digits=DISTRIBUTION_DIGITS.get(x["metric"], 4))
                             for x in d.filter(~pl.col("metric").str.starts_with("status:")).to_dicts()],
            "statuses": [{"status": x["metric"].removeprefix("status:"), "n": x["n"]}
                         for x in d.filter(pl.col("metric").str.starts_with("status:")).to_dicts()],
            "categories": t.cohort_drivers.filter(of & (pl.col("kind") == "service_category")).to_dicts()
            if c["scored_episodes"] else [],
        })
    return out


# ------------------------------------------------------------------------------------------ all reports

# Scorecards are written a chunk of TINs at a time: the chunk's episodes, lines, lines pages and export rows are
# built at once in Polars and DuckDB (memory grows with the chunk: ~4 GB for 10,000 clinicians at 10M lines),
# then each TIN's files. What remains per TIN is Python (rows, charts, templates, workbook calls), so many
# scorecards are written by a pool of processes, a chunk or more each. Starting a process and reading the tables
# again costs a few seconds: the demo's 579 clinicians took 4.5 s in process and 10.6 s in two processes.
CHUNK_CLINICIANS = 10_000  # at most this many clinicians' scorecards built at once
MIN_CLINICIANS_FOR_POOL = 5_000  # below this, starting the processes costs more than it saves


def scorecard_workers(settings: RunSettings, scorecards: int, clinicians: int) -> int:
    """Processes drawing `scorecards` TIN scorecards of `clinicians` participants in all: the run's --threads
    (0 = every core), never more than the scorecards, 1 when there is little to draw."""
    if scorecards < 2 or clinicians < MIN_CLINICIANS_FOR_POOL:
        return 1
    return max(1, min(settings.threads or os.cpu_count() or 1, scorecards))


def chunks(weights: dict[str, int], n: int) -> list[list[str]]:
    """The TINs in `n` chunks of about equal clinicians (`weights`: TIN -> clinicians), largest TIN first into
    the lightest chunk; each chunk in TIN order."""
    out, loads = [[] for _ in range(n)], [0] * n
    for tin in sorted(weights, key=lambda x: (-weights[x], x)):
        i = loads.index(min(loads))
        out[i].append(tin)
        loads[i] += weights[tin]
    return [sorted(c) for c in out if c]


@dataclass
class ScorecardJob:
    """Writes the scorecards of some TINs: in the calling process, or pickled to a worker process, where it
    reads the tables itself. The page header (`common`, with its generation time) comes from the caller, so
    a scorecard is the same whichever process wrote it."""

    settings: RunSettings
    m: Methodology
    out_dir: Path
    common: dict
    warnings: list[str]
    notes: list[str]
    part_a: bool

    def write(self, tins: list[str], t: "ReportTables | None" = None, env: jinja2.Environment | None = None,
              guard: PrivacyGuard | None = None) -> tuple[int, int]:
        """Write the TINs' folders, then scan them for privacy (in the process that wrote them, so the scans of
        the pool's chunks run side by side). Returns (TINs, files scanned); PrivacyError when a file may not be
        shown."""
        from pipelines.engine.reports.scorecard import ScorecardContext, write_scorecard

        t = t or ReportTables.read(self.settings)
        ctx = ScorecardContext.build(self.settings, self.m, t, env or environment(), self.common, self.warnings,
                                     self.notes, self.part_a, tins)
        scan, written = FolderScan(guard or _guard(self.settings), self.out_dir), {}
        for tin in tins:  # each folder scanned on the texts just written (privacy.FolderScan)
            write_scorecard(ctx.of(tin), tin, self.out_dir / tin_folder(tin), written)
            scan.add(tin, written)
        return len(tins), scan.finish()


_GUARDS: dict[tuple, PrivacyGuard] = {}


def _guard(settings: RunSettings) -> PrivacyGuard:
    """This process's privacy guard for the run's tables (read once: a worker scans every chunk it draws)."""
    key = (str(settings.read_path("partb_lines")), str(settings.read_path("eligibility")))
    if key not in _GUARDS:
        _GUARDS.clear()
        _GUARDS[key] = PrivacyGuard.read(settings)
    return _GUARDS[key]


def _write_scorecards(settings: RunSettings, card: ScorecardJob, parts: list[list[str]], total: int, workers: int,
                      t: ReportTables, env: jinja2.Environment) -> tuple[int, PrivacyGuard]:
    """The chunks `parts` of scorecards, in this process or a pool of `workers`; returns (files scanned, this
    process's privacy guard for the files at the top)."""
    done = scanned = 0
    if workers == 1:
        guard = PrivacyGuard.read(settings)
        for part in parts:
            n, files = card.write(part, t, env, guard)
            done, scanned = done + n, scanned + files
            settings.progress(f"reports: {done:,} of {total:,} scorecards")
    else:
        settings.progress(f"reports: {total:,} scorecards in {workers} processes")
        with ThreadPoolExecutor(1) as reader, \
                ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            ahead = reader.submit(PrivacyGuard.read, settings)  # for the top files, read while the pool draws
            for n, files in pool.map(card.write, parts):  # in order; an error in a worker is raised here
                done, scanned = done + n, scanned + files
                settings.progress(f"reports: {done:,} of {total:,} scorecards")
            guard = ahead.result()
    return scanned, guard


def build_reports(settings: RunSettings, m: Methodology, out_dir: Path, tins: list[str] | None = None,
                  report_id: str = "") -> dict:
    """Write the reports into `out_dir`: scorecards of `tins` (default: every TIN with participants, or the
    run's --tin), then the cohort summary and the index over whatever scorecards `out_dir` holds. Every page
    carries the trace (run, input, code, methodology: trace.py); `report_id` names an `asm report`. Every file
    written is scanned for privacy (privacy.py; PrivacyError): each TIN's folder by the process that wrote it,
    then the files at the top; folders `out_dir` held before (carried over) are not."""
    py = settings.performance_year
    t = ReportTables.read(settings)
    summary_rows = t.cohort_summary.filter(pl.col("performance_year") == py).to_dicts()
    basis = summary_rows[0]["cost_basis"] if summary_rows else NOT_STANDARDIZED
    part_a = bool(summary_rows and summary_rows[0]["part_a_supplied"])
    warnings, notes = cohort_warnings(t.cohort_summary.filter(pl.col("performance_year") == py))
    notes = inyear_notes(t.projected) + notes
    env = environment()
    common = dict(css=(TEMPLATES / "style.css").read_text(), py=py, methodology_version=m.version, basis=basis,
                  generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  trace=trace.report_trace(settings, m, report_id))
    wanted = tins if tins is not None else (list(settings.tins) or None)
    all_tins = sorted(t.scores["tin"].unique().to_list())
    scope = [x for x in all_tins if wanted is None or x in wanted]
    card = ScorecardJob(settings, m, out_dir, common, warnings, notes, part_a)
    weights = dict(t.scores.filter(pl.col("tin").is_in(scope)).group_by("tin").len().iter_rows())
    clinicians = sum(weights.values())
    workers = scorecard_workers(settings, len(scope), clinicians)
    parts = chunks(weights, max(workers, math.ceil(clinicians / CHUNK_CLINICIANS)))
    out_dir.mkdir(parents=True, exist_ok=True)  # the runtime is written into it before any scorecard
    with ThreadPoolExecutor(1) as side:
        # the Vega runtime the pages load (drawn in the browser): vl-convert bundles it in ~2.5 s, beside the scorecards
        runtime = side.submit(charts.write_runtime, out_dir, settings.reports_dir)
        scanned, guard = _write_scorecards(settings, card, parts, len(scope), workers, t, env)
        runtime.result()
    html = env.get_template("cohort_summary.html.j2").render(
        title=f"ASM cohort summary PY {py}", cohorts=cohort_sections(t, py),
        tin_count=summary_rows[0]["tins_in_run"] if summary_rows else 0, warnings=warnings, notes=notes, root="",
        **common)
    (out_dir / "cohort_summary.html").write_text(html, encoding="utf-8")
    write_guide(env, m, common, out_dir)  # how-it-works.html, glossary.html
    index_tins = write_index(t, out_dir, m, env, warnings=warnings, notes=notes, root="", **common)  # index.html, .csv
    trace.write_about(out_dir / trace.ABOUT_FILE, common)
    pools = {r["cohort"]: r["peer_pool_size"] for r in summary_rows if r["peer_pool_size"]}
    privacy = privacy_scan(settings, out_dir, only=[], guard=guard)  # the files at the top; the TINs' were scanned
    privacy["files"] += scanned
    return {"tins": scope, "part_a": part_a, "cost_basis": basis, "pools": pools, "privacy": privacy,
            "small_pool": m.benchmarks.small_pool_participants, "index_tins": index_tins, "trace": common["trace"]}
