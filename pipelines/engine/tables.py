"""The key of every warehouse table, in one place.

The warehouse writers (`pipelines.engine.warehouse.write_frame` / `write_query`) sort every table they write
by its key, then by every other column as a tie-break, so the same input and configuration give
byte-identical Parquet files (issue 11 item 5: a checksum proves a rerun). A test checks that every
table asset of the code location has a key here and that each key is unique on the demo run.
Nothing here imports Dagster.
"""
from __future__ import annotations

PARTICIPANT = ("performance_year", "cohort", "tin", "npi")

TABLE_KEYS: dict[str, tuple[str, ...]] = {
    # ingest (N1-N6)
    "partb_lines": ("claim_control_number", "line_number", "bene_id"),
    "parta_claims": ("claim_control_number", "bene_id"),
    "parta_diagnoses": ("claim_id", "dx_sequence"),
    "beneficiaries": ("bene_id",),
    "bene_xref": ("previous_bene_id",),
    "ingest_audit": ("source_file", "source_row", "rule"),
    "quarantine": ("source_file", "source_row"),
    "ingest_files": ("source_file",),
    "line_versions": ("delivery_file", "source_row"),
    # episodes (E, X, C, A)
    "episodes": ("episode_id",),
    "episode_lines": ("episode_id", "source", "claim_control_number", "line_number"),
    "episode_attribution": ("episode_id", "tin", "npi"),
    "episode_attribution_tin": ("episode_id", "tin"),
    "episode_observed_costs": ("episode_id",),
    "episode_costs": ("episode_id",),
    # eligibility and risk (G, R1-R3)
    "eligibility": ("tin", "npi"),
    "episode_risk": ("episode_id",),
    "risk_models": ("performance_year", "cohort", "covariate"),
    # scoring (R4-R5, B, Q, S, P) and the summary tables reports render
    "cost_measure_scores": PARTICIPANT,
    "cost_benchmarks": ("performance_year", "cohort"),
    "quality_benchmarks": ("performance_year", "cohort", "measure_id", "collection_type"),
    "quality_measure_points": (*PARTICIPANT, "measure_id", "collection_type"),
    "participant_measure_points": (*PARTICIPANT, "measure_id"),
    "quality_submission_issues": ("source_file", "source_row", "rule"),
    "participant_scores": PARTICIPANT,
    "payment_adjustments": PARTICIPANT,
    "episode_admissions": ("episode_id",),
    "admission_rates": PARTICIPANT,
    "score_distribution": ("performance_year", "cohort", "metric"),
    "tin_summary": ("performance_year", "tin", "cohort"),
    "tin_cost_drivers": ("performance_year", "cohort", "tin", "kind", "item"),
    "cohort_summary": ("performance_year", "cohort"),
    "cohort_cost_drivers": ("performance_year", "cohort", "kind", "item"),
    "score_waterfall": (*PARTICIPANT, "figure", "step_order"),
    # projection against CMS's published benchmarks (V1-V5)
    "projected_cost_benchmarks": ("performance_year", "cohort"),
    "projected_quality_benchmarks": ("performance_year", "cohort", "measure_id", "collection_type"),
    "projected_measure_points": (*PARTICIPANT, "measure_id"),
    "projected_scores": PARTICIPANT,
    "projection_tin_summary": ("performance_year", "tin", "cohort"),
}


def table_name(path) -> str:
    """The table a warehouse path holds: `<table>.parquet` (a file or a folder of shards), or one shard
    file `<table>.parquet/shard-<k>-of-<n>.parquet` of it (pipelines.engine.shards)."""
    from pathlib import Path

    path = Path(path)
    if path.name.startswith("shard-") and path.parent.name.endswith(".parquet"):
        path = path.parent
    return path.name.removesuffix(".parquet")


def sort_columns(table: str, columns: list[str]) -> list[str]:
    """The write order of a table: its key, then every other column (a total order, so rows that tie
    on the key are still written in one order). Unknown tables are sorted by every column."""
    key = [c for c in TABLE_KEYS.get(table, ()) if c in columns]
    return key + [c for c in columns if c not in key]
