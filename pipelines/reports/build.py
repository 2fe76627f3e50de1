"""Reports (data-contracts "Reports"): one scorecard per TIN and a cohort summary, rendered from the
final tables only (templates in `templates/`). The renderer computes no rule: every figure is a
column of participant_scores, payment_adjustments, participant_measure_points, admission_rates,
tin_summary, tin_cost_drivers, cohort_summary, cohort_cost_drivers, cost/quality benchmarks,
score_distribution or eligibility.

  OUT/reports/<tin>/scorecard.html, scorecard.csv   only that TIN's clinicians
  OUT/reports/cohort_summary.html                     benchmarks and distributions only
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import polars as pl

from pipelines.methodology import Methodology
from pipelines.settings import RunSettings

TEMPLATES = Path(__file__).parent / "templates"
PARTICIPANT = ["performance_year", "cohort", "tin", "npi"]
NOT_STANDARDIZED = "allowed, not standardized"
CSV_FIXED = ["performance_year", "tin", "npi", "cohort", "specialty", "status", "status_reason", "attributed_episodes",
             "cost_measure_score", "cost_points", "cost_score"]
CSV_TAIL = ["quality_points", "measures_scored", "quality_score", "ia_adjustment", "pi_adjustment", "complex_bonus",
            "small_practice_bonus", "final_score", "transformed_score", "adjustment_factor", "partb_paid",
            "dollar_impact", "peer_pool_size", "small_pool_warning", "cost_basis"]
DISTRIBUTION_DIGITS = {"measure_score": 2, "cost_points": 2, "final_score": 2, "dollar_impact": 2}


def tin_folder(tin: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", tin) or "_"


# ------------------------------------------------------------------------------------------ formatting

def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _num(v, digits=2):
    return "" if _missing(v) else f"{v:,.{digits}f}"


def _money(v):
    return "" if _missing(v) else (f"-${abs(v):,.2f}" if v < 0 else f"${v:,.2f}")


def _pct(v, digits=1):
    return "" if _missing(v) else f"{100 * v:.{digits}f}%"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(num=_num, money=_money, pct=_pct)
    return env


# ------------------------------------------------------------------------------------------ data

@dataclass
class ReportTables:
    """The final tables reports render (already restricted to --tin by scoring where per TIN)."""

    scores: pl.DataFrame  # participant_scores + payment + specialty
    measures: pl.DataFrame  # participant_measure_points
    admissions: pl.DataFrame
    tin_summary: pl.DataFrame
    tin_drivers: pl.DataFrame
    cohort_summary: pl.DataFrame
    cohort_drivers: pl.DataFrame
    cost_benchmarks: pl.DataFrame
    quality_benchmarks: pl.DataFrame
    distribution: pl.DataFrame
    eligibility: pl.DataFrame

    @classmethod
    def read(cls, settings: RunSettings) -> "ReportTables":
        wh = settings.warehouse
        elig = wh.read("eligibility", ["tin", "npi", "specialty", "cohort", "reason"])
        pay = wh.read("payment_adjustments").select(*PARTICIPANT, "transformed_score", "adjustment_factor",
                                                     "dollar_impact", "partb_paid")
        scores = (wh.read("participant_scores").join(pay, on=PARTICIPANT, how="left")
                  .join(elig.select("tin", "npi", "specialty"), on=["tin", "npi"], how="left"))
        return cls(scores, wh.read("participant_measure_points"), wh.read("admission_rates"), wh.read("tin_summary"),
                   wh.read("tin_cost_drivers"), wh.read("cohort_summary"), wh.read("cohort_cost_drivers"),
                   wh.read("cost_benchmarks"), wh.read("quality_benchmarks"), wh.read("score_distribution"), elig)


def _measure_cell(row: dict | None) -> str:
    """A participant's Q7 cell: points when scored; else what participant_measure_points says."""
    if row is None:
        return "-"
    if row["status"] == "scored":
        return _num(row["points"], 2)
    if row["status"] == "not_scored":
        return "not scored (no Part A)" if (row["status_reason"] or "").startswith("Q6") else "not scored"
    if row["status"] == "not_submitted":
        return "not submitted"
    if row["status"] == "no_attributed_episodes":
        return "no HF episodes"
    return f"0 ({row['status']})"


def _cohort_warnings(cohort_summary: pl.DataFrame) -> tuple[list[str], list[str]]:
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
    if rows and rows[0]["cost_basis"] == NOT_STANDARDIZED:
        notes.append("N5: costs are allowed, not standardized (no standardization_factors.csv was supplied).")
    if rows and not rows[0]["part_a_supplied"]:
        notes.append("Q6: no Part A claims were supplied, so Q492 (HF admissions) is not scored.")
    return warnings, notes


def _drivers(rows: pl.DataFrame) -> list[dict]:
    out = []
    for (cohort,), g in rows.group_by("cohort", maintain_order=True):
        first = g.row(0, named=True)
        out.append({"cohort": cohort, "episodes": first["episodes"], "total": first["observed_cost"],
                    "categories": g.filter(pl.col("kind") == "service_category").to_dicts(),
                    "drivers": g.filter(pl.col("kind") == "driver").to_dicts()})
    return out


# ------------------------------------------------------------------------------------------ scorecards

def _participant_rows(t: ReportTables, tin: str, measures: list[str]) -> list[dict]:
    pool = {r["cohort"]: r for r in t.tin_summary.filter(pl.col("tin") == tin).to_dicts()}
    cells: dict[tuple, dict] = {}
    for x in t.measures.filter(pl.col("tin") == tin).iter_rows(named=True):
        cells.setdefault((x["npi"], x["cohort"]), {})[x["measure_id"]] = x
    rows = []
    for r in t.scores.filter(pl.col("tin") == tin).sort("cohort", "npi").iter_rows(named=True):
        mine = cells.get((r["npi"], r["cohort"]), {})
        r["measure_rows"] = mine
        r["measure_cells"] = {m: _measure_cell(mine.get(m)) for m in measures}
        r["peer_pool_size"] = pool.get(r["cohort"], {}).get("peer_pool_size", 0)
        r["small_pool"] = pool.get(r["cohort"], {}).get("small_pool", True)
        rows.append(r)
    return rows


def _csv_rows(tin: str, participants: list[dict], others: list[dict], measures: list[str], basis: str, py: int) -> pl.DataFrame:
    rows = []
    for r in participants:
        points = {m: (x["points"] if x["status"] == "scored" or x["zero_reason"] else None)
                  for m, x in r["measure_rows"].items()}
        rows.append({
            "performance_year": r["performance_year"], "tin": tin, "npi": r["npi"], "cohort": r["cohort"],
            "specialty": r["specialty"], "status": r["status"], "status_reason": r["status_reason"],
            "attributed_episodes": r["episodes"], "cost_measure_score": r["measure_score"],
            "cost_points": r["cost_points"], "cost_score": r["cost_score"],
            **{f"points_{m}": points.get(m) for m in measures},
            **{f"status_{m}": r["measure_cells"][m] for m in measures},
            **{c: r.get(c) for c in CSV_TAIL if c in r},
            "peer_pool_size": r["peer_pool_size"], "small_pool_warning": r["small_pool"], "cost_basis": basis,
        })
    for o in others:
        rows.append({"performance_year": py, "tin": tin, "npi": o["npi"], "cohort": o["cohort"], "specialty": o["specialty"],
                     "status": "not_in_asm", "status_reason": o["reason"], "cost_basis": basis})
    cols = [*CSV_FIXED, *[f"points_{m}" for m in measures], *[f"status_{m}" for m in measures], *CSV_TAIL]
    return pl.DataFrame([{c: row.get(c) for c in cols} for row in rows], infer_schema_length=None)


def write_scorecard(t: ReportTables, tin: str, folder: Path, env: jinja2.Environment, common: dict,
                    measures: list[str], warnings: list[str], notes: list[str], q492_note: str) -> None:
    participants = _participant_rows(t, tin, measures)
    npis = {r["npi"] for r in participants}
    others = t.eligibility.filter((pl.col("tin") == tin) & ~pl.col("npi").is_in(list(npis))).sort("npi").to_dicts()
    cohorts_here = {r["cohort"] for r in participants}
    html = env.get_template("scorecard.html.j2").render(
        title=f"ASM scorecard TIN {tin} PY {common['py']}", tin=tin, clinicians=len(participants) + len(others),
        participants=participants, measures=measures,
        warnings=[w for w in warnings if any(f"for {c}:" in w for c in cohorts_here)],
        notes=[n for n in notes if not n.startswith("Q6") or "HF" in cohorts_here], q492_note=q492_note,
        admission_rows=t.admissions.filter(pl.col("tin") == tin).sort("npi").to_dicts(),
        drivers=_drivers(t.tin_drivers.filter(pl.col("tin") == tin)), others=others, **common)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scorecard.html").write_text(html, encoding="utf-8")
    _csv_rows(tin, participants, others, measures, common["basis"], common["py"]).write_csv(folder / "scorecard.csv")


# ------------------------------------------------------------------------------------------ cohort summary

def _cohort_sections(t: ReportTables, py: int) -> list[dict]:
    out = []
    for c in t.cohort_summary.filter(pl.col("performance_year") == py).iter_rows(named=True):
        cohort = c["cohort"]
        of = (pl.col("cohort") == cohort) & (pl.col("performance_year") == py)
        d = t.distribution.filter(of)
        cost_row = t.cost_benchmarks.filter(of).to_dicts()
        out.append({
            "cohort": cohort, "episodes": c["scored_episodes"], "mean_cost": c["mean_observed_cost"],
            "cost": cost_row[0] if cost_row else None,
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

def build_reports(settings: RunSettings, m: Methodology, out_dir: Path) -> dict:
    """Write every report into `out_dir` (a fresh folder). Returns a summary for metadata."""
    py = settings.performance_year
    t = ReportTables.read(settings)
    summary_rows = t.cohort_summary.filter(pl.col("performance_year") == py).to_dicts()
    basis = summary_rows[0]["cost_basis"] if summary_rows else NOT_STANDARDIZED
    part_a = bool(summary_rows and summary_rows[0]["part_a_supplied"])
    measures = [x for r in summary_rows for x in r["required_measures"].split(", ") if x]
    warnings, notes = _cohort_warnings(t.cohort_summary.filter(pl.col("performance_year") == py))
    q492_note = ("Q492 is computed from Part A inpatient claims (Q6) and scored on deciles like the other measures."
                 if part_a else "Q492 is not scored: the run has no Part A claims (Q6); HF quality is scored on "
                 "the other measures.")
    env = environment()
    common = dict(css=(TEMPLATES / "style.css").read_text(), py=py, methodology_version=m.version, basis=basis,
                  generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    tins = sorted(t.scores["tin"].unique().to_list())
    if settings.tins:
        tins = [x for x in tins if x in settings.tins]
    for tin in tins:
        write_scorecard(t, tin, out_dir / tin_folder(tin), env, common, measures, warnings, notes, q492_note)
    html = env.get_template("cohort_summary.html.j2").render(
        title=f"ASM cohort summary PY {py}", cohorts=_cohort_sections(t, py),
        tin_count=summary_rows[0]["tins_in_run"] if summary_rows else 0, warnings=warnings, notes=notes, **common)
    (out_dir / "cohort_summary.html").write_text(html, encoding="utf-8")
    pools = {r["cohort"]: r["peer_pool_size"] for r in summary_rows if r["peer_pool_size"]}
    return {"tins": tins, "part_a": part_a, "cost_basis": basis, "pools": pools,
            "small_pool": m.benchmarks.small_pool_participants}
