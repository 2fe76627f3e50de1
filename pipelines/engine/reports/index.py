"""The reports index for a consultant scoring many TINs (issue 19, item 2): OUT/reports/index.html, a table
sortable and filterable in the page (inline script, no network), and OUT/reports/index.csv, the same table.

One row per TIN and cohort with ASM participants (each cohort has its own peer pool, estimates and payment
adjustment, so a TIN with clinicians in both cohorts has two rows), then one row per TIN with no ASM
participant saying why. Totals per cohort above. Every figure is computed over whole tables (group_by), never
TIN by TIN: the index of 2,759 TINs takes seconds.

Dollars at risk (defined here, shown on the page and in the README): what a TIN stands to lose in a cohort,
max(0, -dollars) of the estimate its scorecard leads with (V4, projection_tin_summary.lead). The index is
ordered by it, largest first; ties by Part B paid (largest first), then TIN and cohort."""
from __future__ import annotations

from pathlib import Path

import jinja2
import polars as pl

from pipelines.engine.methodology import Methodology
from pipelines.engine.projection.interval import LOSES
from pipelines.engine.reports import words
from pipelines.engine.reports.columns import COLUMNS, header
from pipelines.engine.reports.inputs import tin_folder

KEYS = ["performance_year", "tin", "cohort"]
ESTIMATE_DOLLARS = [f"{f}_dollar_impact{e}" for f in words.ESTIMATES for e in ("", "_low", "_high")]
# index.csv: the columns in order (names, units and definitions in columns.COLUMNS)
CSV_COLUMNS = ["performance_year", "tin", "cohort", "tin_statuses", "lead", "dollars_at_risk", "share_of_partb",
               "lead_mean_final_score", "asm_clinicians", "scored_clinicians", "on_track", "at_risk_clinicians",
               "scored_partb_paid", *ESTIMATE_DOLLARS, "scorecard"]
DIGITS = {"currency": 2, "points": 2, "percent": 4, "number": 4}  # CSV rounding by unit: cents, 2 dp, 4 dp
# Why a TIN has no ASM participant: the furthest eligibility rule its clinicians reached (G2 < G3 < G4)
WHY_NONE = {"G2": "no clinician has an ASM cohort specialty (G2)",
            "G3": "its clinicians with a cohort specialty are outside the selected areas (G3)",
            "G4": "its clinicians with a cohort specialty have too few attributed episodes (G4)"}
WHY_OTHER = "none of its clinicians is in ASM this run"
# The default order, kept by the page's script as its tie-breaker (data-i)
ORDER, DESCENDING = ["dollars_at_risk", "scored_partb_paid", "tin", "cohort"], [True, True, False, False]


def dollars_at_risk(dollars: pl.Expr) -> pl.Expr:
    """Dollars at risk: what an estimate says is lost, max(0, -dollars); 0 when it gains (null stays null)."""
    return pl.when(dollars.is_not_null()).then(pl.max_horizontal(-dollars, pl.lit(0.0)))


def at_risk_of_lead() -> pl.Expr:
    """A participant's dollars at risk in the estimate its scorecard leads with (projected_scores rows)."""
    return dollars_at_risk(_led("pool_dollar_impact", "projected_dollar_impact")).alias("dollars_at_risk")


def _led(pool: str, projected: str) -> pl.Expr:
    """A participant's (or a TIN row's) figure in the estimate its scorecard leads with."""
    return pl.when(pl.col("lead") == "pool").then(pl.col(pool)).otherwise(pl.col(projected))


def clinician_counts(projected: pl.DataFrame) -> pl.DataFrame:
    """Per TIN and cohort, from projected_scores: clinicians in ASM, those the led estimate scores (Scored or
    Scored 0), at risk (scored, and the led estimate says they lose), the sum of their led final scores, their
    Part B paid, and the Part B the led estimate prices (scaled to the whole year in an in-year run)."""
    score = _led("pool_final_score", "projected_final_score")
    scored = score.is_not_null()
    return projected.group_by(KEYS).agg(
        (pl.col("status") != "not_eligible").sum().alias("asm_clinicians"),
        scored.sum().alias("scored_clinicians"),
        (scored & (_led("pool_sign", "projected_sign") == LOSES)).sum().alias("at_risk_clinicians"),
        score.sum().alias("_score_sum"),
        pl.col("partb_paid").filter(scored).sum().alias("scored_partb_paid"),
        _led("partb_paid", "projected_partb_paid").filter(scored).sum().alias("_priced_partb"))


def index_table(t, py: int | None = None) -> pl.DataFrame:
    """The index's rows with participants, in the default order: projection_tin_summary (statuses, on track
    (V5), lead, each estimate's dollars and interval) with `clinician_counts`, dollars at risk, share of Part B
    and mean final score. `t`: ReportTables (or anything with projection_tins and projected)."""
    summary, projected = t.projection_tins, t.projected
    if py is not None:
        summary, projected = (x.filter(pl.col("performance_year") == py) for x in (summary, projected))
    counts = clinician_counts(projected)
    table = summary.join(counts, on=KEYS, how="left").filter(pl.col("asm_clinicians") > 0)
    return table.with_columns(
        dollars_at_risk(pl.col("lead_dollar_impact")).alias("dollars_at_risk"),
        (pl.col("lead_dollar_impact") / pl.col("_priced_partb")).alias("share_of_partb"),
        (pl.col("_score_sum") / pl.col("scored_clinicians")).alias("lead_mean_final_score"),
        pl.col("scored_partb_paid").fill_null(0.0),
    ).with_columns(  # no estimate dollars (nobody scored): no dollars at risk, no share, no mean
        *[pl.when(pl.col("scored_clinicians") > 0).then(pl.col(c)).alias(c)
          for c in ("dollars_at_risk", "share_of_partb", "lead_mean_final_score")]
    ).sort(ORDER, descending=DESCENDING, nulls_last=True)


def cohort_totals(table: pl.DataFrame) -> pl.DataFrame:
    """Per cohort, then all cohorts ("All"): TINs, clinicians (in ASM, scored, on track, at risk), Part B paid
    of the scored clinicians, each estimate's dollars, dollars at risk, share of Part B and mean final score
    (over all scored clinicians, not a mean of TIN means)."""
    def totals(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.agg(
            pl.col("tin").n_unique().alias("tins"),
            *[pl.col(c).sum() for c in ("asm_clinicians", "scored_clinicians", "on_track", "at_risk_clinicians",
                                        "scored_partb_paid", "dollars_at_risk", "_score_sum", "_priced_partb")],
            *[pl.when(pl.col(c).count() > 0).then(pl.col(c).sum()).alias(c)  # a sum of nothing is not $0
              for c in ("pool_dollar_impact", "projected_dollar_impact", "lead_dollar_impact")])

    out = pl.concat([totals(table.group_by("cohort")).sort("cohort"),
                     totals(table.with_columns(pl.lit("All").alias("cohort")).group_by("cohort"))])
    return out.with_columns(
        (pl.col("lead_dollar_impact") / pl.col("_priced_partb")).alias("share_of_partb"),
        (pl.col("_score_sum") / pl.col("scored_clinicians")).alias("lead_mean_final_score"))


def without_participants(eligibility: pl.DataFrame, listed: pl.Series) -> pl.DataFrame:
    """TINs of the run (eligibility) not in `listed`, each with why it has no ASM participant."""
    rule = pl.col("reason").str.extract(r"^(G[0-9])", 1)
    return (eligibility.filter(pl.col("tin").is_not_null() & ~pl.col("tin").is_in(listed.implode()))
            .group_by("tin").agg(rule.max().alias("rule"))
            .with_columns(pl.col("rule").replace_strict(WHY_NONE, default=WHY_OTHER).alias("why")).sort("tin"))


def _scorecards(out_dir: Path) -> set[str]:
    """Folders of out_dir holding a scorecard (rebuilt now or carried over from an earlier run)."""
    return {p.parent.name for p in out_dir.glob("*/scorecard.html")}


def _link(tin: str, cards: set[str]) -> str:
    return f"{tin_folder(tin)}/scorecard.html" if tin_folder(tin) in cards else ""


def _sort_value(v, digits: int = 2) -> str:
    """A number for the page's script to sort by (rounded: no long digit runs in the page)."""
    return "" if v is None else f"{v:.{digits}f}"


def csv_frame(rows: list[dict], none: list[dict], py: int) -> pl.DataFrame:
    """index.csv: the rows with participants, then those without; plain numbers rounded by unit, status and
    estimate in words, headers from COLUMNS."""
    words_of = [dict(r, lead=words.ESTIMATES.get(r["lead"], ""), scorecard=r["link"] or None) for r in rows]
    words_of += [{"performance_year": py, "tin": r["tin"], "tin_statuses": f"No ASM participant: {words.plain(r['why'])}",
                  "scorecard": r["link"] or None} for r in none]
    numbers = [c for c in CSV_COLUMNS if COLUMNS[c].unit in DIGITS]
    frame = pl.DataFrame([{c: r.get(c) for c in CSV_COLUMNS} for r in words_of], infer_schema_length=None,
                         schema_overrides={c: pl.Float64 for c in numbers})
    if frame.width == 0:  # a run with no TIN at all: the header alone
        frame = pl.DataFrame(schema={c: pl.Float64 if c in numbers else pl.String for c in CSV_COLUMNS})
    return frame.with_columns(pl.col(c).round(DIGITS[COLUMNS[c].unit]) for c in numbers).rename(
        {c: header(c) for c in CSV_COLUMNS})


def write_index(t, out_dir: Path, m: Methodology, env: jinja2.Environment, py: int, **page) -> int:
    """Write index.html and index.csv into `out_dir` over whatever scorecards it holds. `page`: the
    template's common values (css, py, generated, warnings, notes...). Returns how many TINs it lists."""
    table = index_table(t, py)
    cards = _scorecards(out_dir)
    rows = [dict(r, tin_statuses=words.status_counts(r, m), link=_link(r["tin"], cards)) for r in table.to_dicts()]
    none = [dict(r, link=_link(r["tin"], cards))
            for r in without_participants(t.eligibility, table["tin"]).to_dicts()]
    tins = table["tin"].n_unique() + len(none)
    (out_dir / "index.html").write_text(env.get_template("index.html.j2").render(
        title=f"ASM reports PY {py}", py=py, rows=rows, without=none, totals=cohort_totals(table).to_dicts(),
        cohorts=sorted(table["cohort"].unique().to_list()), tins=tins, with_participants=table["tin"].n_unique(),
        with_card=len({r["tin"] for r in rows + none if r["link"]}), estimates=words.ESTIMATES, sv=_sort_value,
        **page), encoding="utf-8")
    csv_frame(rows, none, py).write_csv(out_dir / "index.csv")
    return tins
