"""The episodes and lines a scorecard lists (E5, E6, C1, C2): a participant's attributed episodes of the PY
(open ones with cost to date) and each episode's lines with the source file and row they came from.
Beneficiary ids are read only as join keys and never leave this module; a line billed under another TIN
shows "another practice", never that practice's clinician."""
from __future__ import annotations

import polars as pl
import pyarrow as pa

from pipelines.engine.duck import connect, sql_literal
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import parquet_files, scan_frame

OTHER_PRACTICE = "another practice"
FACILITY = "facility (Part A)"
EPISODE_COLUMNS = ["tin", "npi", "cohort", "episode_id", "trigger_date", "start_date", "end_date", "status", "share",
                   "observed_cost", "partb_cost", "parta_cost", "observed_cost_winsorized", "expected_cost",
                   "observed_to_expected", "excess_cost", "lines", "counts_for_scoring", "note"]
LINE_COLUMNS = ["episode_id", "service_date", "episode_day", "source", "code", "service_category", "billed_by",
                "cost_amount", "claim_control_number", "line_number", "source_file", "source_row"]


def _scan(settings: RunSettings, table: str) -> pl.LazyFrame:
    return scan_frame(settings.read_path(table))


def participant_episodes(settings: RunSettings, tins: list[str]) -> pl.DataFrame:
    """Attributed episodes of the PY per participant of `tins` (A2), with status, share and cost (to date
    for open ones, E5), and why an episode does not count (excluded, quarantined, open).

    Per episode, as R4 sums them for the cost measure score: the winsorized observed cost, the expected cost
    (episode_risk: the risk model's prediction x the specialty's O/E; null for open episodes), their ratio
    `observed_to_expected` and `excess_cost` = winsorized observed - expected (dollars above what the risk
    model expects). Sorted by participant, then by excess cost, largest first (episodes without one last)."""
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
    risk = _scan(settings, "episode_risk").filter(pl.col("episode_id").is_in(ids)).select(
        "episode_id", pl.col("observed_cost_winsorized").cast(pl.Float64), pl.col("expected_cost").cast(pl.Float64))
    observed, expected = pl.col("observed_cost_winsorized"), pl.col("expected_cost")
    note = (pl.when(pl.col("quarantined")).then(pl.format("quarantined: {}", pl.col("quarantine_reason")))
            .when(pl.col("excluded")).then(pl.format("excluded: {}", pl.col("exclusion_reason")))
            .when(pl.col("status") == "open").then(pl.lit("open: cost to date, not scored yet (E5)"))
            .otherwise(pl.lit("")))
    return (att.lazy().join(eps, on="episode_id", how="left").join(costs, on="episode_id", how="left")
            .join(risk, on="episode_id", how="left")
            .with_columns(note.alias("note"),
                          pl.when(expected > 0).then(observed / expected).alias("observed_to_expected"),
                          (observed - expected).alias("excess_cost"))
            .select(EPISODE_COLUMNS)
            .sort("tin", "npi", "cohort", "excess_cost", "start_date", "episode_id",
                  descending=[False, False, False, True, False, False], nulls_last=True).collect())


def episode_lines(settings: RunSettings, episode_ids: list[str]) -> pl.DataFrame:
    """C1 lines of the episodes, with source file and row (partb_lines / parta_claims) and the billing TIN and
    NPI (internal: `billed_under` masks them per TIN before anything is written).

    In DuckDB: the episodes' lines are picked by a semi-join, then only their claims are looked up in
    partb_lines and parta_claims, streaming. Polars held the whole of partb_lines for the join (or, filtered
    by `is_in`, took 330 s for one large TIN at 100M lines)."""
    def table(name: str) -> str:
        return f"read_parquet({sql_literal(parquet_files(settings.read_path(name)))})"

    parta = (f"SELECT claim_id, bene_id, source_file, source_row FROM {table('parta_claims')}"
             if settings.read_path("parta_claims").exists() else
             "SELECT NULL::VARCHAR AS claim_id, NULL::VARCHAR AS bene_id, NULL::VARCHAR AS source_file, "
             "NULL::BIGINT AS source_row WHERE false")
    con = connect(settings.threads, settings.memory_limit, settings.temp_dir)
    try:
        con.register("wanted", pa.table({"episode_id": pa.array(list(episode_ids), pa.string())}))
        return pl.from_arrow(con.sql(f"""
            WITH l AS MATERIALIZED (
                SELECT episode_id, source, claim_control_number, claim_id, line_number, bene_id, service_date,
                       episode_day, hcpcs, drg, service_category, tin, npi, CAST(cost_amount AS DOUBLE) AS cost_amount
                FROM {table('episode_lines')} SEMI JOIN wanted USING (episode_id)),
            b AS (SELECT claim_id, line_number, bene_id, source_file, source_row FROM {table('partb_lines')}
                  WHERE claim_id IN (SELECT claim_id FROM l WHERE source = 'partb')),
            a AS (SELECT * FROM ({parta}) WHERE claim_id IN (SELECT claim_id FROM l WHERE source = 'parta'))
            SELECT l.episode_id, l.source, l.claim_control_number, l.line_number, l.service_date, l.episode_day,
                   l.service_category, l.tin, l.npi, l.cost_amount,
                   CASE WHEN l.source = 'parta' THEN a.source_file ELSE b.source_file END AS source_file,
                   CASE WHEN l.source = 'parta' THEN a.source_row ELSE b.source_row END AS source_row,
                   CASE WHEN l.source = 'parta' THEN 'DRG ' || l.drg ELSE l.hcpcs END AS code
            FROM l
            LEFT JOIN b ON b.claim_id = l.claim_id AND b.line_number = l.line_number AND b.bene_id = l.bene_id
            LEFT JOIN a ON l.source = 'parta' AND a.claim_id = l.claim_id AND a.bene_id = l.bene_id
            ORDER BY l.episode_id NULLS FIRST, l.service_date NULLS FIRST, l.claim_control_number NULLS FIRST,
                     l.line_number NULLS FIRST""").to_arrow_table())
    finally:
        con.close()


def _shown(tin: pl.Expr) -> list[pl.Expr]:
    """`billed_by` and `source` as a report of TIN `tin` shows them: the NPI when billed under that TIN, else
    'another practice' (Part A: 'facility (Part A)')."""
    parta = pl.col("source") == "parta"
    billed = (pl.when(parta).then(pl.lit(FACILITY))
              .when(pl.col("tin") == tin).then(pl.col("npi")).otherwise(pl.lit(OTHER_PRACTICE)))
    return [billed.alias("billed_by"), pl.when(parta).then(pl.lit("Part A")).otherwise(pl.lit("Part B")).alias("source")]


def billed_under(lines: pl.DataFrame, episode_ids: list[str], tin: str) -> pl.DataFrame:
    """The lines of `episode_ids` as a TIN's report shows them (`_shown`); the billing TIN and NPI columns are
    dropped."""
    return lines.filter(pl.col("episode_id").is_in(episode_ids)).with_columns(_shown(pl.lit(tin))).select(LINE_COLUMNS)


def listed_lines(settings: RunSettings, episodes: pl.DataFrame) -> pl.DataFrame:
    """Every line of the episodes that `episodes` (participant_episodes) lists, once per TIN listing it, as that
    TIN's report shows it (`_shown`): columns `report_tin` and LINE_COLUMNS, ordered by episode, date, claim
    and line within each TIN. One query and one join for all the TINs, not a filter per TIN."""
    pairs = episodes.select(pl.col("tin").alias("report_tin"), "episode_id").unique()
    lines = episode_lines(settings, pairs["episode_id"].unique().to_list())
    # the query's order (episode, date, claim, line) kept: each TIN's rows come in that order
    return (lines.join(pairs, on="episode_id", how="inner", maintain_order="left")
            .with_columns(_shown(pl.col("report_tin"))).select("report_tin", *LINE_COLUMNS))
