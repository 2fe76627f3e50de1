"""One name per figure across the reports' CSV files, Excel workbooks and index (issue 19, item 8): the
column names a practice manager or consultant reads, with the unit (how Excel formats it and how many decimals
a CSV keeps) and a definition (the workbook's data-dictionary sheet). Exports rename the final tables' columns
through `COLUMNS`; a figure that appears in several exports appears under the same name in each."""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.engine.reports import words


@dataclass(frozen=True)
class Column:
    name: str  # the header a person reads
    unit: str  # a key of UNITS
    definition: str


# unit: (Excel number format, decimals a CSV keeps); fractions are shares (0.09 shows 9.00%)
UNITS: dict[str, tuple[str | None, int | None]] = {
    "text": (None, None), "yes/no": (None, None), "date": ("yyyy-mm-dd", None), "year": ("0", 0),
    "count": ("#,##0", 0), "currency": ("$#,##0.00;-$#,##0.00", 2), "percent": ("0.00%", 4),
    "points": ("0.00", 2), "ratio": ("0.00", 4), "number": ("0.00", 2),
}


def _c(name: str, unit: str, definition: str) -> Column:
    assert unit in UNITS, unit
    return Column(name, unit, definition)


def _estimate(prefix: str, how: str) -> dict[str, Column]:
    """The figures of one estimate (projected_scores' `pool_*` / `projected_*` columns), each with its interval."""
    e = words.ESTIMATES[prefix]
    out = {}
    for figure, unit, what in (("final_score", "points", "Final score (0-100)"),
                               ("factor", "percent", "Payment adjustment factor (share of Part B payments)"),
                               ("dollar_impact", "currency", "Payment adjustment x Part B paid, dollars gained (+) or lost (-)")):
        label = {"final_score": "final score", "factor": "payment adjustment", "dollar_impact": "dollars"}[figure]
        out[f"{prefix}_{figure}"] = _c(f"{e}: {label}", unit, f"{what} {how}.")
        out[f"{prefix}_{figure}_low"] = _c(f"{e}: {label}, low", unit, f"Lower end of the interval of '{e}: {label}'.")
        out[f"{prefix}_{figure}_high"] = _c(f"{e}: {label}, high", unit, f"Upper end of the interval of '{e}: {label}'.")
    out[f"{prefix}_sign"] = _c(f"{e}: payment", "text", "Gains, loses or not yet known (the factor's interval holds "
                                                       "zero).")
    out[f"{prefix}_cost_points"] = _c(f"{e}: cost points", "points", f"Cost points 1-10 {how}.")
    out[f"{prefix}_quality_score"] = _c(f"{e}: quality score", "percent", f"Quality category score (share) {how}.")
    return out


POOL = "with benchmarks from this run's peer pool"
CMS = "with CMS's latest published benchmarks and national average cost"

# key: the source column (final tables / export frames); value: how exports show it
COLUMNS: dict[str, Column] = {
    # who
    "performance_year": _c("Performance year", "year", "The year whose claims are measured (paid two years later)."),
    "tin": _c("TIN", "text", "Taxpayer identification number of the practice."),
    "npi": _c("NPI", "text", "National provider identifier of the clinician."),
    "cohort": _c("Cohort", "text", "HF = heart failure; LBP = low back pain."),
    "specialty": _c("Specialty", "text", "The clinician's Medicare specialty."),
    "specialty_code": _c("Specialty code", "text", "CMS's provider specialty code."),
    "status": _c("Status", "text", "Whether the clinician has an ASM score, in words."),
    "status_code": _c("Status code", "text", "The status as a code, for programs: scored, failed_minimum_submission, "
                                             "below_case_minimum, not_eligible or not_in_asm."),
    "status_reason": _c("Status reason", "text", "Why the status, with the rule it comes from."),
    "episodes": _c("Attributed episodes", "count", "Attributed episodes that count for scoring (closed, not excluded)."),
    "case_status_words": _c("Episodes closed and expected (in-year)", "text",
                            "In-year runs: closed episodes and open ones expected to close before the year ends."),
    "lead": _c("Report leads with", "text", "The estimate the scorecard shows first: the peer-pool estimate when the "
                                            "cohort's pool is large enough, else the CMS-benchmark estimate."),
    # the two estimates
    **_estimate("pool", POOL),
    **_estimate("projected", CMS),
    # components
    "measure_score": _c("Cost measure score", "currency", "Observed / expected cost x the cohort's mean cost (R4); "
                                                          "lower is better."),
    "measure_score_low": _c("Cost measure score, low", "currency", "Lower end of the cost measure score's interval."),
    "measure_score_high": _c("Cost measure score, high", "currency", "Upper end of the cost measure score's interval."),
    "quality_points": _c("Quality points", "points", "Points summed over the scored required quality measures."),
    "measures_scored": _c("Quality measures scored", "count", "The cohort's required measures scored (the "
                                                              "quality score's denominator is 10 x this)."),
    "ia_adjustment": _c("Improvement activities adjustment", "points", "0 both done, -10 one, -20 neither (S2)."),
    "pi_adjustment": _c("Promoting interoperability adjustment", "points", "-(100 - PI score) / 10; -10 when not "
                                                                           "reported (S3)."),
    "complex_bonus": _c("Complex-patient bonus", "points", "Points 0-10 (S4)."),
    "small_practice_bonus": _c("Small-practice bonus", "points", "+15 solo, +10 for 2-15 clinicians (S5)."),
    "transformed_score": _c("Peer-pool estimate: transformed score", "ratio",
                            "1 / (1 + exp(-0.1 x (final score - 50))), 0-1 (P2)."),
    "partb_paid": _c("Part B paid", "currency", "Medicare Part B paid for the clinician's services in the year."),
    "peer_pool_size": _c("Peer pool size", "count", "Participants of the cohort meeting the case minimum (B1)."),
    "small_pool": _c("Small peer pool", "yes/no", "The cohort's peer pool is below the small-pool limit: peer-pool "
                                                  "benchmarks are unstable (B1)."),
    "cost_basis": _c("Cost basis", "text", "Standardized costs, or allowed amounts when no standardization factors "
                                           "were supplied (N5)."),
    "pool_source": _c("Peer-pool estimate: source", "text", "The peer pool the benchmarks come from."),
    "quality_source": _c("CMS-benchmark estimate: quality benchmarks", "text", "CMS's MIPS benchmarks used (year); "
                                                                               "measures without one use the pool."),
    "cost_average_source": _c("CMS-benchmark estimate: national average cost", "text",
                              "CMS's national average cost used as the centre of the cost reference."),
    "cost_spread_source": _c("CMS-benchmark estimate: cost spread", "text", "Where the spread of the cost reference "
                                                                           "comes from."),
    # measures sheet
    "measure": _c("Measure", "text", "The quality measure's title and id."),
    "measure_id": _c("Measure ID", "text", "CMS's quality measure id."),
    "collection_type": _c("Collection type", "text", "How the measure was submitted (eCQM, MIPS CQM, claims)."),
    "submitted_as": _c("Submitted as", "text", "By the clinician or by the whole TIN."),
    "rate": _c("Performance rate", "number", "The measure's rate in one unit per measure (percent; "
                                                                   "Q492: admissions per 100 person-years)."),
    "data_completeness": _c("Data completeness", "percent", "Share of eligible cases reported (Q3)."),
    "cases": _c("Cases", "count", "Cases reported (Q4)."),
    "pool_points": _c("Peer-pool points", "points", "Points 0-10 on the run pool's deciles (Q5, Q7)."),
    "pool_decile": _c("Peer-pool decile", "count", "Decile 1-10 on the run pool; empty at 0 points."),
    "pool_status": _c("Peer-pool status", "text", "Scored, or why the measure earns 0 points, in words."),
    "projected_points": _c("CMS-benchmark points", "points", "Points 0-10 on CMS's published deciles (V1)."),
    "projected_decile": _c("CMS-benchmark decile", "count", "Decile 1-10 on CMS's scale; empty at 0 points."),
    "projected_status": _c("CMS-benchmark status", "text", "Scored, or why the measure earns 0 points, in words."),
    "source": _c("CMS-benchmark estimate: benchmark used", "text", "CMS, or the run pool when CMS has no usable "
                                                                   "benchmark."),
    "cms_performance_year": _c("CMS benchmark MIPS year", "year", "MIPS performance year of CMS's benchmark."),
    "benchmark_year": _c("CMS benchmark year", "year", "Benchmark year of CMS's benchmark."),
    "is_topped_out": _c("Topped out (CMS)", "yes/no", "CMS flags the measure as topped out."),
    "no_cms_benchmark_reason": _c("Why no CMS benchmark", "text", "Why the run pool's deciles were used instead."),
    # episodes sheet
    "episode_id": _c("Episode", "text", "The episode's id (links the lines in lines.csv)."),
    "trigger_date": _c("Trigger date", "date", "Date of the service that triggered the episode."),
    "start_date": _c("Start date", "date", "First day of the episode window."),
    "end_date": _c("End date", "date", "Last day of the episode window."),
    "episode_status": _c("Episode status", "text", "Closed, or open (cost to date, not scored yet)."),
    "share": _c("Attribution share", "percent", "The clinician's share of the episode (A2)."),
    "observed_cost": _c("Observed cost", "currency", "Cost of the episode's lines (to date when open)."),
    "partb_cost": _c("Part B cost", "currency", "Cost of its Part B lines."),
    "parta_cost": _c("Part A cost", "currency", "Cost of its Part A stays."),
    "observed_cost_winsorized": _c("Observed cost, winsorized", "currency", "Observed cost capped at the cohort's "
                                                                            "winsorization cap (what R4 sums)."),
    "expected_cost": _c("Expected cost", "currency", "What the risk model expects the episode to cost (risk model "
                                                     "x the specialty's O/E); empty for open episodes."),
    "observed_to_expected": _c("Observed / expected", "ratio", "Winsorized observed cost / expected cost; above 1 "
                                                               "costs more than expected."),
    "excess_cost": _c("Excess cost", "currency", "Winsorized observed cost - expected cost, dollars above (+) or "
                                                 "below (-) what the risk model expects."),
    "lines": _c("Lines", "count", "Part B lines and Part A stays of the episode."),
    "counts_for_scoring": _c("Counts for scoring", "yes/no", "Closed, not excluded and not quarantined."),
    "note": _c("Note", "text", "Why an episode does not count (open, excluded, quarantined)."),
    # lines.csv
    "service_date": _c("Service date", "date", "Date of service."),
    "episode_day": _c("Day of episode", "count", "Days since the episode's start."),
    "part": _c("Part", "text", "Part B line or Part A stay."),
    "code": _c("Code", "text", "HCPCS code (Part B) or DRG (Part A)."),
    "service_category": _c("Service category", "text", "The category the line's cost counts in (C3)."),
    "billed_by": _c("Billed by", "text", "The NPI when billed under this TIN, else 'another practice' or "
                                         "'facility (Part A)'."),
    "cost_amount": _c("Cost", "currency", "The line's cost (standardized, or allowed: see Cost basis)."),
    "claim_control_number": _c("Claim", "text", "Claim control number."),
    "line_number": _c("Line", "count", "Line number within the claim."),
    "source_file": _c("Source file", "text", "The input file the line came from (E6)."),
    "source_row": _c("Source row", "count", "Its row in that file."),
    # the reports index (index.py): one row per TIN and cohort
    "tin_statuses": _c("Clinicians by status", "text",
                       "The TIN's clinicians in the cohort by status, in words; for a TIN with no ASM participant, "
                       "why."),
    "dollars_at_risk": _c("Dollars at risk", "currency",
                          "What the TIN stands to lose in the cohort: max(0, -dollars) of the estimate its scorecard "
                          "leads with; 0 when it gains. The index is ordered by it, ties by Part B paid."),
    "share_of_partb": _c("Share of Part B", "percent",
                         "The led estimate's dollars as a share of the Part B paid they are priced on (the scored "
                         "clinicians'; in an in-year run the CMS-benchmark estimate scales it to the whole year)."),
    "lead_mean_final_score": _c("Mean final score", "points",
                                "Mean final score of the TIN's scored clinicians in the cohort, in the estimate its "
                                "scorecard leads with."),
    "asm_clinicians": _c("Clinicians in ASM", "count",
                         "The TIN's clinicians in the cohort's ASM, scored or not (not those out of ASM: G2-G4)."),
    "scored_clinicians": _c("Clinicians scored", "count",
                            "Clinicians the led estimate gives a final score (Scored, or Scored 0: minimum "
                            "submission not met)."),
    "on_track": _c("Clinicians on track", "count",
                   "In-year run (V5): clinicians below the case minimum today, on track to reach it with the open "
                   "episodes expected to close."),
    "at_risk_clinicians": _c("Clinicians at risk", "count",
                             "Scored clinicians whose led estimate says they lose (the whole interval below $0)."),
    "scored_partb_paid": _c("Part B paid, scored clinicians", "currency",
                            "Medicare Part B paid in the year for the TIN's scored clinicians in the cohort."),
    "scorecard": _c("Scorecard", "text", "The TIN's scorecard page, relative to the reports folder."),
}


def measure_columns(measure_id: str) -> dict[str, Column]:
    """A clinician row's columns for one quality measure, titled with the measure (words.measure_label)."""
    label = words.measure_label(measure_id)
    return {f"pool_points:{measure_id}": _c(f"Peer-pool points: {label}", "points",
                                            f"Points 0-10 of {label} on the run pool's deciles."),
            f"projected_points:{measure_id}": _c(f"CMS-benchmark points: {label}", "points",
                                                 f"Points 0-10 of {label} on CMS's published deciles."),
            f"pool_status:{measure_id}": _c(f"Status: {label}", "text", f"{label}: scored, or why it earns 0 points.")}


def header(column: str) -> str:
    """The name exports show for a source column (the column itself when it has no entry yet)."""
    c = COLUMNS.get(column)
    return c.name if c else column
