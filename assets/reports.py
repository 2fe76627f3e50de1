"""Reports (data-contracts "Reports"): one scorecard per TIN and a cohort summary.

  OUT/reports/<tin>/scorecard.html, scorecard.csv   only that TIN's clinicians: status and reason
      (S7 below_case_minimum, G2/G3 not eligible, S6), cost measure score and points (R4, B3),
      quality points per required measure (Q5, Q7; Q492 from Part A, Q6), IA/PI/bonuses (S2-S5),
      final score (S1), payment adjustment and dollar impact (P3, P4), the peer-pool size with a
      small-pool warning (B1), the cost basis (N5), and cost drivers by service category over the TIN's
      attributed episodes (C3).
  OUT/reports/cohort_summary.html   benchmarks and distributions only: no TIN, NPI or beneficiary.

`asm run --tin T1,T2` writes scorecards for those TINs only; the cohort summary always describes the
whole run. Reports never show a beneficiary id; before anything is written the asset scans every file
for the run's beneficiary ids and, in each TIN's folder, for any NPI of another TIN, and fails when it
finds one. The folder is built under a temporary name and renamed into the run's staging area
(`RunSettings.reports_write_dir`); `publish` swaps it into OUT/reports only when every blocking check
passed (without a run tag, library use, it is swapped into OUT/reports directly).
"""
from __future__ import annotations

import math
import re
import shutil
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import polars as pl
from dagster import AssetDep, Failure, MaterializeResult, MetadataValue, asset

from assets.publish import swap_dir
from assets.scoring import SCORING_TABLES, UpstreamMissing, part_a_supplied, read_path, read_table, small_pool_threshold
from pipelines.methodology import Methodology
from pipelines.resources import AsmResource
from pipelines.scoring import cost
from pipelines.scoring.params import quality_params
from pipelines.settings import RunSettings

REPORTS_ASSET = "reports"
CATEGORIES = ("em", "imaging", "procedures", "tests", "dme", "inpatient", "post_acute", "other")
CATEGORY_LABELS = {"em": "E&M visits", "imaging": "Imaging", "procedures": "Procedures", "tests": "Tests",
                   "dme": "DME", "inpatient": "Inpatient (Part A)", "post_acute": "Post-acute (Part A)",
                   "other": "Other"}
DRIVERS = {"hospitalizations": "Hospitalizations", "post_acute_after_hospitalization": "Post-acute after a stay",
           "echos_beyond_first": "Echocardiograms beyond the first (HF)",
           "advanced_imaging_early": "Advanced imaging in the first 30 days (LBP)",
           "injections_or_procedures": "Injections or procedures", "spine_surgery": "Spine surgery (LBP)"}
NOT_STANDARDIZED = "allowed, not standardized"
_TOKEN = re.compile(r"[A-Za-z0-9]+")


class PrivacyError(Exception):
    pass


# ------------------------------------------------------------------------------------------ data

def tin_folder(tin: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", tin) or "_"


def cost_basis(settings: RunSettings) -> str:
    """N5: the ingest applies standardization factors only when standardization_factors.csv is supplied."""
    supplied = (Path(settings.input_dir) / "standardization_factors.csv").is_file()
    return "standardized allowed amount" if supplied else NOT_STANDARDIZED


def measure_points_by_participant(participants: pl.DataFrame, qmp: pl.DataFrame) -> pl.DataFrame:
    """Q7 as scored: best points per measure over the participant's own rows and its TIN-level rows
    (npi blank) and collection types. One row per (participant, measure) submitted."""
    keys = cost.PARTICIPANT
    base = participants.select(keys).unique()
    own = qmp.filter(pl.col("npi").is_not_null()).join(base, on=keys, how="inner")
    tin_level = qmp.filter(pl.col("npi").is_null()).drop("npi").join(
        base, on=["performance_year", "cohort", "tin"], how="inner")
    rows = pl.concat([own.select(tin_level.columns), tin_level], how="vertical_relaxed")
    return rows.sort("points", descending=True).group_by([*keys, "measure_id"], maintain_order=True).agg(
        pl.col("points").first(), pl.col("collection_type").first(), pl.col("performance_rate").first(),
        pl.col("zero_reason").first())


def cost_drivers(settings: RunSettings, py: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """C3 over scored episodes of the PY (closed, not excluded): per (tin, cohort) for the TIN's
    attributed episodes (each counted once per TIN), and cohort-wide. Columns: episodes, observed cost,
    cost_<category>, and <driver> = number of episodes with the driver."""
    er = read_table(settings, "episode_risk", ["episode_id", "performance_year", "fit"]).filter(
        pl.col("fit") & (pl.col("performance_year") == py)).select("episode_id")
    costs = read_table(settings, "episode_costs")
    cat_cols = [f"cost_{c}" for c in CATEGORIES if f"cost_{c}" in costs.columns]
    drv_cols = [d for d in DRIVERS if d in costs.columns]
    ec = costs.join(er, on="episode_id", how="inner").select(
        "episode_id", "cohort", pl.col("observed_cost").cast(pl.Float64),
        *[pl.col(c).cast(pl.Float64) for c in cat_cols],
        *[(pl.col(d).cast(pl.Int64).fill_null(0) > 0).cast(pl.Int64).alias(d) for d in drv_cols])
    aggs = [pl.len().alias("episodes"), pl.col("observed_cost").sum(), *[pl.col(c).sum() for c in cat_cols],
            *[pl.col(d).sum() for d in drv_cols]]
    att = read_table(settings, "episode_attribution", ["episode_id", "tin", "attributed"]).filter(
        pl.col("attributed")).select("episode_id", "tin").unique()
    by_tin = att.join(ec, on="episode_id", how="inner").group_by("tin", "cohort").agg(aggs)
    cohort = ec.group_by("cohort").agg(aggs)
    return by_tin, cohort


def driver_rows(row: dict, cohort_row: dict | None) -> tuple[list[dict], list[dict]]:
    n = row["episodes"] or 0
    cn = (cohort_row or {}).get("episodes") or 0
    total = row["observed_cost"] or 0.0
    cats = []
    for c in CATEGORIES:
        v = row.get(f"cost_{c}")
        if v is None:
            continue
        cv = (cohort_row or {}).get(f"cost_{c}")
        cats.append({"label": CATEGORY_LABELS[c], "total": v, "share": v / total if total else None,
                     "per_episode": v / n if n else None, "cohort_per_episode": cv / cn if cn and cv is not None else None})
    drivers = []
    for d, label in DRIVERS.items():
        other = "(LBP)" if row.get("cohort") == "HF" else "(HF)"
        if d not in row or label.endswith(other):
            continue
        cv = (cohort_row or {}).get(d)
        drivers.append({"label": label, "episodes": row[d], "share": row[d] / n if n else None,
                        "cohort_share": cv / cn if cn and cv is not None else None})
    return cats, drivers


# ------------------------------------------------------------------------------------------ templates

CSS = """
body{font-family:Arial,Helvetica,sans-serif;margin:24px;color:#1b1b1b;font-size:14px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:2px solid #1f4e79;color:#1f4e79}
h3{font-size:15px;margin-top:18px}
table{border-collapse:collapse;margin:8px 0 12px 0}th,td{border:1px solid #c8c8c8;padding:4px 8px;text-align:right}
th{background:#eef3f8}td.l,th.l{text-align:left}.muted{color:#666}.small{font-size:12px}
.warn{background:#fff4e5;border-left:5px solid #e08a00;padding:8px 12px;margin:8px 0}
.note{background:#eef6ee;border-left:5px solid #3c8d3c;padding:8px 12px;margin:8px 0}
.scored{color:#1d6b1d;font-weight:bold}.notscored{color:#8a4b00}
"""

BASE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title><style>{{ css }}</style></head>
<body>{% block body %}{% endblock %}
<p class="muted small">asm-pipeline &middot; methodology {{ methodology_version }} &middot; PY {{ py }} &middot;
generated {{ generated }}. DEFAULT parameters are listed in the README and data/methodology/methodology.toml.</p>
</body></html>"""

SCORECARD = """{% extends "base" %}{% block body %}
<h1>ASM scorecard: TIN {{ tin }}</h1>
<p>Performance year {{ py }} (measured {{ py }}, scored {{ py + 1 }}, paid {{ py + 2 }}).
{{ rows|length }} clinician(s) of this TIN; {{ participants|length }} ASM participant row(s) (TIN/NPI and cohort).</p>
{% for w in warnings %}<div class="warn">{{ w }}</div>{% endfor %}
{% for n in notes %}<div class="note">{{ n }}</div>{% endfor %}

<h2>Scores and payment</h2>
<table><tr><th class="l">NPI</th><th class="l">Cohort</th><th class="l">Status</th><th>Episodes</th>
<th>Cost measure score</th><th>Cost points</th><th>Quality score</th><th>IA</th><th>PI</th><th>Complex bonus</th>
<th>Small-practice bonus</th><th>Final score</th><th>Adjustment</th><th>Part B paid</th><th>Dollar impact</th><th>Peer pool</th></tr>
{% for r in participants %}<tr><td class="l">{{ r.npi }}</td><td class="l">{{ r.cohort }}</td>
<td class="l {{ 'scored' if r.status == 'scored' else 'notscored' }}">{{ r.status }}{% if r.status_reason %}<br><span class="small">{{ r.status_reason }}</span>{% endif %}</td>
<td>{{ r.episodes }}</td><td>{{ r.measure_score|money }}</td><td>{{ r.cost_points|num(2) }}</td><td>{{ r.quality_score|num(4) }}</td>
<td>{{ r.ia_adjustment|num(1) }}</td><td>{{ r.pi_adjustment|num(1) }}</td><td>{{ r.complex_bonus|num(2) }}</td>
<td>{{ r.small_practice_bonus|num(1) }}</td><td>{{ r.final_score|num(2) }}</td><td>{{ r.adjustment_factor|pct(2) }}</td>
<td>{{ r.partb_paid|money }}</td><td>{{ r.dollar_impact|money }}</td>
<td>{{ r.peer_pool_size }}{% if r.small_pool %} (small){% endif %}</td></tr>
{% endfor %}</table>
<p class="small muted">Cost measure score = observed / expected cost x cohort mean (R4, lower is better), points 1-10 against
the peer pool's thresholds (B3). Final score = 100 x (0.5 quality + 0.5 cost/10) + IA + PI + bonuses, clamped to 0-100 (S1).
Adjustment = factor applied to Part B payments in {{ py + 2 }} (P3); dollar impact = factor x this year's Part B paid (P4).
Participants below the case minimum or not eligible get no ASM score or adjustment (S7, G).</p>

<h2>Quality points per measure</h2>
<table><tr><th class="l">NPI</th><th class="l">Cohort</th>{% for m in measures %}<th>{{ m }}</th>{% endfor %}<th>Points</th><th>Scored measures</th><th>Quality score</th></tr>
{% for r in participants %}<tr><td class="l">{{ r.npi }}</td><td class="l">{{ r.cohort }}</td>
{% for m in measures %}<td>{{ r.measure_cells[m] }}</td>{% endfor %}
<td>{{ r.quality_points|num(2) }}</td><td>{{ r.measures_scored }}</td><td>{{ r.quality_score|num(4) }}</td></tr>{% endfor %}
</table>
<p class="small muted">Points 0-10 per required measure (Q5 deciles of this year's participants; best of the clinician's own and TIN-level
submissions and collection types). "-" = not a measure of the cohort; "not submitted" earns 0;
{{ q492_note }}</p>

{% if admission_rows %}<h3>Q492 from Part A (Q6): unplanned cardiovascular admissions per 100 person-years</h3>
<table><tr><th class="l">NPI</th><th>HF episodes</th><th>Person-years</th><th>Admissions</th><th>Expected</th>
<th>Observed rate</th><th>Expected rate</th><th>Cohort rate</th><th>Risk-standardized rate</th></tr>
{% for a in admission_rows %}<tr><td class="l">{{ a.npi }}</td><td>{{ a.episodes }}</td><td>{{ a.person_years|num(1) }}</td>
<td>{{ a.admissions }}</td><td>{{ a.expected_admissions|num(2) }}</td><td>{{ a.observed_rate|num(2) }}</td>
<td>{{ a.expected_rate|num(2) }}</td><td>{{ a.cohort_rate|num(2) }}</td><td>{{ a.risk_standardized_rate|num(2) }}</td></tr>{% endfor %}
</table>{% endif %}

<h2>What drives cost: the TIN's attributed episodes ({{ basis }})</h2>
{% for d in drivers %}<h3>{{ d.cohort }}: {{ d.episodes }} scored episode(s), observed cost {{ d.total|money }}</h3>
<table><tr><th class="l">Service category</th><th>Cost</th><th>Share</th><th>Per episode</th><th>Cohort per episode</th></tr>
{% for c in d.categories %}<tr><td class="l">{{ c.label }}</td><td>{{ c.total|money }}</td><td>{{ c.share|pct(1) }}</td>
<td>{{ c.per_episode|money }}</td><td>{{ c.cohort_per_episode|money }}</td></tr>{% endfor %}</table>
<table><tr><th class="l">Driver</th><th>Episodes</th><th>Share of episodes</th><th>Cohort share</th></tr>
{% for c in d.drivers %}<tr><td class="l">{{ c.label }}</td><td>{{ c.episodes }}</td><td>{{ c.share|pct(1) }}</td>
<td>{{ c.cohort_share|pct(1) }}</td></tr>{% endfor %}</table>
{% else %}<p>No scored episodes are attributed to this TIN in {{ py }}.</p>{% endfor %}

{% if others %}<h2>Other clinicians billing under this TIN (not in ASM)</h2>
<table><tr><th class="l">NPI</th><th class="l">Specialty</th><th class="l">Reason</th></tr>
{% for o in others %}<tr><td class="l">{{ o.npi }}</td><td class="l">{{ o.specialty or "" }}</td><td class="l">{{ o.reason or "" }}</td></tr>{% endfor %}
</table>{% endif %}
{% endblock %}"""

SUMMARY = """{% extends "base" %}{% block body %}
<h1>ASM cohort summary, PY {{ py }}</h1>
<p>Benchmarks and distributions over every participant of this run ({{ tin_count }} TIN(s)). No clinician-level rows.</p>
{% for w in warnings %}<div class="warn">{{ w }}</div>{% endfor %}
{% for n in notes %}<div class="note">{{ n }}</div>{% endfor %}
{% for c in cohorts %}
<h2>{{ c.cohort }}</h2>
<p>Scored episodes: {{ c.episodes }}; mean observed cost per episode {{ c.mean_cost|money }} ({{ basis }}).</p>
<h3>Cost benchmarks (B1-B3)</h3>
{% if c.cost %}<table><tr><th>Peer pool</th><th>Median</th><th>SD</th>{% for k in range(1, 11) %}<th>T{{ k }}</th>{% endfor %}</tr>
<tr><td>{{ c.cost.participants }}</td><td>{{ c.cost.median|money }}</td><td>{{ c.cost.sd|money }}</td>
{% for k in range(1, 11) %}<td>{{ c.cost["t" ~ k]|money }}</td>{% endfor %}</tr></table>
<p class="small muted">Score above T1 earns 1 point, at or below T10 earns 10, the median earns 6.</p>
{% else %}<p>No participant meets the case minimum: no cost benchmark.</p>{% endif %}
<h3>Quality benchmarks (Q5 decile boundaries)</h3>
{% if c.quality %}<table><tr><th class="l">Measure</th><th class="l">Collection</th><th>Participants</th><th class="l">Direction</th><th>Worst</th>
{% for k in range(1, 10) %}<th>D{{ k }}</th>{% endfor %}</tr>
{% for q in c.quality %}<tr><td class="l">{{ q.measure_id }}</td><td class="l">{{ q.collection_type }}</td><td>{{ q.participants }}</td>
<td class="l">{{ q.direction }}</td><td>{{ q.worst_rate|num(4) }}</td>{% for k in range(1, 10) %}<td>{{ q["d" ~ k]|num(4) }}</td>{% endfor %}</tr>{% endfor %}
</table>{% else %}<p>No quality benchmark (no submissions passing Q3/Q4).</p>{% endif %}
<h3>Distributions</h3>
<table><tr><th class="l">Metric</th><th>N</th><th>Mean</th><th>Min</th><th>P10</th><th>P25</th><th>Median</th><th>P75</th><th>P90</th><th>Max</th></tr>
{% for d in c.distribution %}<tr><td class="l">{{ d.metric }}</td><td>{{ d.n }}</td>{% for k in ("mean", "min", "p10", "p25", "p50", "p75", "p90", "max") %}<td>{{ d[k]|num(d.digits) }}</td>{% endfor %}</tr>{% endfor %}
</table>
<table><tr><th class="l">Status</th><th>Participants</th></tr>{% for s in c.statuses %}<tr><td class="l">{{ s.status }}</td><td>{{ s.n }}</td></tr>{% endfor %}</table>
{% if c.categories %}<h3>Cost per episode by service category</h3>
<table><tr><th class="l">Service category</th><th>Per episode</th><th>Share</th></tr>
{% for k in c.categories %}<tr><td class="l">{{ k.label }}</td><td>{{ k.cohort_per_episode|money }}</td><td>{{ k.share|pct(1) }}</td></tr>{% endfor %}</table>{% endif %}
{% endfor %}
{% endblock %}"""


def _num(v, digits=2):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:,.{digits}f}"


def _money(v):
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else (
        f"-${abs(v):,.2f}" if v < 0 else f"${v:,.2f}")


def _pct(v, digits=1):
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.{digits}f}%"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.DictLoader({"base": BASE, "scorecard": SCORECARD, "summary": SUMMARY}),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(num=_num, money=_money, pct=_pct)
    return env


# ------------------------------------------------------------------------------------------ build

def build_reports(settings: RunSettings, m: Methodology, out_dir: Path) -> dict:
    """Write every report into `out_dir` (a fresh folder). Returns a summary for metadata."""
    py = settings.performance_year
    has_part_a = part_a_supplied(settings)
    qp = quality_params(m, part_a_supplied=has_part_a)
    small = small_pool_threshold(m)
    basis = cost_basis(settings)
    part_a_measures = list(m.get("quality.part_a_measures"))

    ps = read_table(settings, "participant_scores")
    pay = read_table(settings, "payment_adjustments")
    qmp = read_table(settings, "quality_measure_points")
    cb = read_table(settings, "cost_benchmarks")
    qb = read_table(settings, "quality_benchmarks")
    dist = read_table(settings, "score_distribution")
    adm = read_table(settings, "admission_rates")
    elig = read_table(settings, "eligibility", ["tin", "npi", "specialty", "cohort", "reason"])
    by_tin, by_cohort = cost_drivers(settings, py)
    if settings.tins:
        ps = ps.filter(pl.col("tin").is_in(list(settings.tins)))
    tin_count = elig["tin"].n_unique()

    pool = {r["cohort"]: r["participants"] for r in cb.filter(pl.col("performance_year") == py).iter_rows(named=True)}
    cohort_rows = {r["cohort"]: r for r in by_cohort.iter_rows(named=True)}
    measures = [x for c in qp.required_measures for x in qp.required_measures[c]]
    cohort_measures = qp.required_measures

    frame = (ps.join(pay.select(*cost.PARTICIPANT, "transformed_score", "adjustment_factor", "dollar_impact",
                                pl.col("partb_paid").alias("_paid")), on=cost.PARTICIPANT, how="left")
             .join(elig.select("tin", "npi", "specialty"), on=["tin", "npi"], how="left"))
    # Part B paid: from payment_adjustments when the participant has a payment row (P4's B).
    frame = frame.with_columns(pl.col("_paid").alias("partb_paid")).drop("_paid")
    mp = measure_points_by_participant(ps, qmp)

    def q492_cell(cohort: str, mid: str, pts: dict) -> str:
        if mid not in cohort_measures.get(cohort, ()):
            return "-"
        if mid in qp.not_scored_measures:
            return "not scored (no Part A)" if mid in part_a_measures else "not scored"
        r = pts.get(mid)
        if r is None:
            return "not submitted" if mid not in part_a_measures else "no HF episodes"
        if r["zero_reason"]:
            return f"0 ({r['zero_reason']})"
        return _num(r["points"], 2)

    warnings_common, notes_common = [], []
    for c, n in sorted(pool.items()):
        if n < small:
            warnings_common.append(
                f"B1: small peer pool for {c}: {n} participant(s) meet the case minimum in this run "
                f"(below {small}). Benchmarks from a small pool are unstable"
                + ("; this run covers a single practice, so its clinicians are compared with each other only."
                   if tin_count == 1 else "."))
    if basis == NOT_STANDARDIZED:
        notes_common.append("N5: costs are allowed, not standardized (no standardization_factors.csv was supplied).")
    q492_note = ("Q492 is computed from Part A inpatient claims (Q6) and scored on deciles like the other measures."
                 if has_part_a else "Q492 is not scored: the run has no Part A claims (Q6); HF quality is scored on "
                 "the other measures.")
    if not has_part_a:
        notes_common.append("Q6: no Part A claims were supplied, so Q492 (HF admissions) is not scored.")

    env = environment()
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    common = dict(css=CSS, py=py, methodology_version=m.version, generated=generated, basis=basis)
    csv_measure_cols = [f"points_{x}" for x in measures]
    written = []
    tins = sorted(frame["tin"].unique().to_list())
    for tin in tins:
        rows = frame.filter(pl.col("tin") == tin).sort("cohort", "npi")
        points_by_participant: dict[tuple, dict] = {}
        for x in mp.filter(pl.col("tin") == tin).iter_rows(named=True):  # one pass, not one filter per row
            points_by_participant.setdefault((x["npi"], x["cohort"]), {})[x["measure_id"]] = x
        participants, csv_rows = [], []
        for r in rows.iter_rows(named=True):
            pts = points_by_participant.get((r["npi"], r["cohort"]), {})
            r["measure_cells"] = {x: q492_cell(r["cohort"], x, pts) for x in measures}
            r["peer_pool_size"] = pool.get(r["cohort"], 0)
            r["small_pool"] = r["peer_pool_size"] < small
            participants.append(r)
            csv_rows.append({
                "performance_year": r["performance_year"], "tin": tin, "npi": r["npi"], "cohort": r["cohort"],
                "specialty": r["specialty"], "status": r["status"], "status_reason": r["status_reason"],
                "attributed_episodes": r["episodes"], "cost_measure_score": r["measure_score"],
                "cost_points": r["cost_points"], "cost_score": r["cost_score"],
                **{f"points_{x}": (pts[x]["points"] if x in pts and x not in qp.not_scored_measures else None)
                   for x in measures},
                **{f"status_{x}": r["measure_cells"][x] for x in measures},
                "quality_points": r["quality_points"], "measures_scored": r["measures_scored"],
                "quality_score": r["quality_score"], "ia_adjustment": r["ia_adjustment"],
                "pi_adjustment": r["pi_adjustment"], "complex_bonus": r["complex_bonus"],
                "small_practice_bonus": r["small_practice_bonus"], "final_score": r["final_score"],
                "transformed_score": r["transformed_score"], "adjustment_factor": r["adjustment_factor"],
                "partb_paid": r["partb_paid"], "dollar_impact": r["dollar_impact"],
                "peer_pool_size": r["peer_pool_size"], "small_pool_warning": r["small_pool"], "cost_basis": basis,
            })
        others = (elig.filter((pl.col("tin") == tin) & ~pl.col("npi").is_in(rows["npi"].implode()))
                  .sort("npi").to_dicts())
        for o in others:
            csv_rows.append({"performance_year": py, "tin": tin, "npi": o["npi"], "cohort": o["cohort"],
                             "specialty": o["specialty"], "status": "not_in_asm", "status_reason": o["reason"],
                             "cost_basis": basis})
        drivers = []
        for d in by_tin.filter(pl.col("tin") == tin).sort("cohort").iter_rows(named=True):
            cats, drv = driver_rows(d, cohort_rows.get(d["cohort"]))
            drivers.append({"cohort": d["cohort"], "episodes": d["episodes"], "total": d["observed_cost"],
                            "categories": cats, "drivers": drv})
        admission_rows = (adm.filter(pl.col("tin") == tin).sort("npi").to_dicts() if has_part_a else [])
        cohorts_here = set(rows["cohort"])
        warnings = [w for w in warnings_common if any(f"for {c}:" in w for c in cohorts_here)]
        notes = [n for n in notes_common if not n.startswith("Q6") or "HF" in cohorts_here]
        html = env.get_template("scorecard").render(
            title=f"ASM scorecard TIN {tin} PY {py}", tin=tin, rows=rows.to_dicts() + others,
            participants=participants, measures=measures, warnings=warnings, notes=notes, q492_note=q492_note,
            admission_rows=admission_rows, drivers=drivers, others=others, **common)
        folder = out_dir / tin_folder(tin)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "scorecard.html").write_text(html, encoding="utf-8")
        csv_cols = (["performance_year", "tin", "npi", "cohort", "specialty", "status", "status_reason",
                     "attributed_episodes", "cost_measure_score", "cost_points", "cost_score", *csv_measure_cols,
                     *[f"status_{x}" for x in measures], "quality_points", "measures_scored", "quality_score",
                     "ia_adjustment", "pi_adjustment", "complex_bonus", "small_practice_bonus", "final_score",
                     "transformed_score", "adjustment_factor", "partb_paid", "dollar_impact", "peer_pool_size",
                     "small_pool_warning", "cost_basis"])
        pl.DataFrame([{c: row.get(c) for c in csv_cols} for row in csv_rows], infer_schema_length=None
                     ).write_csv(folder / "scorecard.csv")
        written.append(tin)

    # Cohort summary: benchmarks and distributions only.
    cohorts = []
    for c in sorted(set(qp.required_measures) | set(pool)):
        cr = cohort_rows.get(c, {"episodes": 0})
        cats, _ = driver_rows(cr, cr) if cr.get("episodes") else ([], [])
        d = dist.filter((pl.col("cohort") == c) & (pl.col("performance_year") == py))
        dists = [dict(x, digits=2 if x["metric"] in ("measure_score", "cost_points", "final_score", "dollar_impact") else 4)
                 for x in d.filter(~pl.col("metric").str.starts_with("status:")).to_dicts()]
        statuses = [{"status": x["metric"].removeprefix("status:"), "n": x["n"]}
                    for x in d.filter(pl.col("metric").str.starts_with("status:")).to_dicts()]
        cost_row = cb.filter((pl.col("cohort") == c) & (pl.col("performance_year") == py)).to_dicts()
        cohorts.append({"cohort": c, "episodes": cr.get("episodes", 0),
                        "mean_cost": (cr["observed_cost"] / cr["episodes"]) if cr.get("episodes") else None,
                        "cost": cost_row[0] if cost_row else None,
                        "quality": qb.filter((pl.col("cohort") == c) & (pl.col("performance_year") == py))
                        .sort("measure_id", "collection_type").to_dicts(),
                        "distribution": dists, "statuses": statuses, "categories": cats})
    html = env.get_template("summary").render(title=f"ASM cohort summary PY {py}", cohorts=cohorts,
                                              tin_count=tin_count, warnings=warnings_common, notes=notes_common,
                                              **common)
    (out_dir / "cohort_summary.html").write_text(html, encoding="utf-8")
    return {"tins": written, "part_a": has_part_a, "cost_basis": basis, "pools": pool, "small_pool": small}


def privacy_scan(settings: RunSettings, out_dir: Path) -> dict:
    """Refuse reports that show a beneficiary id anywhere, another TIN's NPI in a TIN's folder, or
    any NPI in the cohort summary. Tokens are alphanumeric runs of the files' text."""
    bene = set()
    for t in ("partb_lines", "episodes"):
        path = read_path(settings, t)
        if path.exists():
            src = str(path / "*.parquet") if path.is_dir() else str(path)
            bene |= set(pl.scan_parquet(src).select(pl.col("bene_id").unique()).collect()["bene_id"].drop_nulls())
    elig = read_table(settings, "eligibility", ["tin", "npi"])
    all_npis = set(elig["npi"].drop_nulls())
    npis_by_tin: dict[str, set] = {}
    for tin, npi in elig.iter_rows():
        npis_by_tin.setdefault(tin_folder(tin), set()).add(npi)
    files = 0
    for f in sorted(out_dir.rglob("*")):
        if not f.is_file():
            continue
        files += 1
        tokens = set(_TOKEN.findall(f.read_text(encoding="utf-8")))
        if tokens & bene:
            raise PrivacyError(f"reports: {f.relative_to(out_dir)} would show a beneficiary id; nothing written")
        own = npis_by_tin.get(f.parent.name, set()) if f.parent != out_dir else set()
        if tokens & (all_npis - own):
            raise PrivacyError(f"reports: {f.relative_to(out_dir)} would show an NPI of another TIN; nothing written")
    return {"files": files, "beneficiary_ids_checked": len(bene), "npis_checked": len(all_npis)}


def write_reports(settings: RunSettings, m: Methodology) -> dict:
    """Build the reports in a temporary folder, scan them, then swap them into reports_write_dir."""
    dst = settings.reports_write_dir
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    try:
        info = build_reports(settings, m, tmp)
        info["privacy"] = privacy_scan(settings, tmp)
        swap_dir(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def reports_asset():
    @asset(
        name=REPORTS_ASSET,
        deps=[AssetDep(t) for t in (*SCORING_TABLES, "eligibility", "episode_risk", "episode_costs",
                                    "episode_attribution", "episodes", "partb_lines", "parta_claims")],
        group_name="reports",
        description="Per-TIN scorecards (HTML + CSV, only the TIN's clinicians) and the cohort summary "
                    "(benchmarks and distributions only); staged, published with the tables.",
        kinds={"html", "csv"},
    )
    def reports(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            info = write_reports(settings, m)
        except (UpstreamMissing, PrivacyError) as exc:
            raise Failure(description=str(exc)) from None
        scope = (f"TINs {', '.join(settings.tins)} (--tin); cohort summary covers the whole run" if settings.tins
                 else "every TIN with ASM participants")
        return MaterializeResult(metadata={
            "dagster/row_count": len(info["tins"]),
            "tin_reports": len(info["tins"]),
            "scope": scope,
            "folder": MetadataValue.path(str(settings.reports_dir)),
            "peer_pools": MetadataValue.json(info["pools"]),
            "cost_basis": info["cost_basis"],
            "q492": "computed from Part A (Q6)" if info["part_a"] else "not scored: no Part A claims (Q6)",
            "privacy_check": (f"passed: {info['privacy']['files']} files, no beneficiary id, no other TIN's NPI, "
                              "no NPI in the cohort summary"),
            "seconds": round(time.perf_counter() - t0, 2),
        })

    return reports
