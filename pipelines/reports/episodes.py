"""The episodes and lines a scorecard lists (E5, E6, C1, C2): a participant's attributed episodes of the PY
(open ones with cost to date) and each episode's lines with the source file and row they came from.
Beneficiary ids are read only as join keys and never leave this module; a line billed under another TIN
shows "another practice", never that practice's clinician."""
from __future__ import annotations

import polars as pl

from pipelines.settings import RunSettings
from pipelines.warehouse import scan_frame

OTHER_PRACTICE = "another practice"
FACILITY = "facility (Part A)"
EPISODE_COLUMNS = ["tin", "npi", "cohort", "episode_id", "trigger_date", "start_date", "end_date", "status", "share",
                   "observed_cost", "partb_cost", "parta_cost", "lines", "counts_for_scoring", "note"]
LINE_COLUMNS = ["episode_id", "service_date", "episode_day", "source", "code", "service_category", "billed_by",
                "cost_amount", "claim_control_number", "line_number", "source_file", "source_row"]


def _scan(settings: RunSettings, table: str) -> pl.LazyFrame:
    return scan_frame(settings.read_path(table))


def participant_episodes(settings: RunSettings, tins: list[str]) -> pl.DataFrame:
    """Attributed episodes of the PY per participant of `tins` (A2), with status, share and cost (to date
    for open ones, E5), and why an episode does not count (excluded, quarantined, open)."""
    py = settings.performance_year
    att = (_scan(settings, "episode_attribution").filter(pl.col("attributed") & pl.col("tin").is_in(tins)
                                                         & (pl.col("performance_year") == py))
           .select("episode_id", "tin", "npi", "cohort", "share")).collect()
    ids = att["episode_id"].unique()  # only these episodes are read (a filter the Parquet scan applies)
    eps = _scan(settings, "episodes").filter(pl.col("episode_id").is_in(ids)).select(
        "episode_id", "trigger_date", "start_date", "end_date", "status", "excluded", "exclusion_reason",
        "quarantined", "quarantine_reason", "counts_for_scoring")
    costs = _scan(settings, "episode_costs").filter(pl.col("episode_id").is_in(ids)).select(
        "episode_id", *[pl.col(c).cast(pl.Float64) for c in ("observed_cost", "partb_cost", "parta_cost")],
        (pl.col("partb_lines") + pl.col("parta_claims")).alias("lines"))
    note = (pl.when(pl.col("quarantined")).then(pl.format("quarantined: {}", pl.col("quarantine_reason")))
            .when(pl.col("excluded")).then(pl.format("excluded: {}", pl.col("exclusion_reason")))
            .when(pl.col("status") == "open").then(pl.lit("open: cost to date, not scored yet (E5)"))
            .otherwise(pl.lit("")))
    return (att.lazy().join(eps, on="episode_id", how="left").join(costs, on="episode_id", how="left")
            .with_columns(note.alias("note")).select(EPISODE_COLUMNS)
            .sort("tin", "npi", "cohort", "start_date", "episode_id").collect())


def episode_lines(settings: RunSettings, episode_ids: list[str]) -> pl.DataFrame:
    """C1 lines of the episodes, with source file and row (partb_lines / parta_claims) and the billing TIN and
    NPI (internal: `billed_under` masks them per TIN before anything is written)."""
    lines = _scan(settings, "episode_lines").filter(pl.col("episode_id").is_in(episode_ids)).select(
        "episode_id", "source", "claim_control_number", "claim_id", "line_number", "bene_id", "service_date",
        "episode_day", "hcpcs", "drg", "service_category", "tin", "npi", pl.col("cost_amount").cast(pl.Float64)
    ).collect()
    # Only the claims of these lines are read from partb_lines / parta_claims (a filter the Parquet scan applies
    # as it reads): a join against the whole of partb_lines held it in memory, 100M rows at 100M lines.
    claims = {src: lines.filter(pl.col("source") == src)["claim_id"].unique() for src in ("partb", "parta")}
    partb = (_scan(settings, "partb_lines").filter(pl.col("claim_id").is_in(claims["partb"]))
             .select("claim_id", "line_number", "bene_id", "source_file", "source_row"))
    out = lines.lazy().join(partb, on=["claim_id", "line_number", "bene_id"], how="left")
    if settings.read_path("parta_claims").exists():
        parta = (_scan(settings, "parta_claims").filter(pl.col("claim_id").is_in(claims["parta"]))
                 .select("claim_id", "bene_id", pl.col("source_file").alias("a_file"), pl.col("source_row").alias("a_row")))
        a = pl.col("source") == "parta"
        out = out.join(parta, on=["claim_id", "bene_id"], how="left").with_columns(
            pl.when(a).then(pl.col("a_file")).otherwise(pl.col("source_file")).alias("source_file"),
            pl.when(a).then(pl.col("a_row")).otherwise(pl.col("source_row")).alias("source_row"))
    return out.with_columns(
        pl.when(pl.col("source") == "parta").then(pl.format("DRG {}", pl.col("drg"))).otherwise(pl.col("hcpcs"))
        .alias("code"),
    ).drop("bene_id", "claim_id", "hcpcs", "drg").sort("episode_id", "service_date", "claim_control_number",
                                                        "line_number").collect()


def billed_under(lines: pl.DataFrame, episode_ids: list[str], tin: str) -> pl.DataFrame:
    """The lines of `episode_ids` as a TIN's report shows them: `billed_by` is the NPI when billed under `tin`,
    else 'another practice' (Part A: 'facility (Part A)'); the billing TIN and NPI columns are dropped."""
    parta = pl.col("source") == "parta"
    billed = (pl.when(parta).then(pl.lit(FACILITY))
              .when(pl.col("tin") == tin).then(pl.col("npi")).otherwise(pl.lit(OTHER_PRACTICE)))
    return lines.filter(pl.col("episode_id").is_in(episode_ids)).with_columns(
        billed.alias("billed_by"),
        pl.when(parta).then(pl.lit("Part A")).otherwise(pl.lit("Part B")).alias("source"),
    ).select(LINE_COLUMNS)
