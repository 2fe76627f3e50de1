"""Episode assets: one multi-asset writing the five episode tables, because the `assigned_*`
attribution bases need the C1 lines and C1 needs the episodes (one read of partb_lines for all).
Engine: `pipelines.episodes`."""
from __future__ import annotations

from dagster import AssetDep, MaterializeResult, MetadataValue, multi_asset

from assets._common import DUCKDB_POOL, failure, stage_specs, table_metadata
from pipelines.episodes import EPISODE_TABLES, INPUTS, SOURCES, EpisodeConfigError, run_episodes
from pipelines.methodology import Methodology
from pipelines.resources import AsmResource

DESCRIPTIONS = {
    "episodes": "HF and LBP episodes (E1-E6, X1-X2): trigger/confirming line keys, window, PY, open/closed.",
    "episode_lines": "Every service assigned to an episode (C1) with its service category (C3) and cost (C2).",
    "episode_attribution": "Episode x participant (TIN/NPI) shares and the 30% rule (A1-A2).",
    "episode_attribution_tin": "Episode x TIN shares and the 30% rule at TIN level (A3).",
    "episode_costs": "Per episode: observed and winsorized cost (C2, C4), cost by category and driver flags (C3).",
}


def episodes_asset(methodology: Methodology):
    @multi_asset(pool=DUCKDB_POOL, name="episodes_stage", can_subset=False,
                 specs=stage_specs(EPISODE_TABLES, DESCRIPTIONS, group="episodes", sources=SOURCES,
                                   methodology_fingerprint=methodology.fingerprint,
                                   asset_module="assets/episodes.py", kinds={"duckdb", "parquet"},
                                   deps=[AssetDep(d) for d in INPUTS]))
    def episodes_stage(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        try:
            result = run_episodes(settings, m)
        except EpisodeConfigError as exc:
            raise failure("episodes", exc) from None
        context.log.info(f"episodes: {result.row_counts} in {result.seconds:.1f}s")
        for table in EPISODE_TABLES:
            md = table_metadata(settings.table_path(table), result.row_counts[table])
            if table == "episodes":
                md.update({
                    "by_cohort": MetadataValue.json(result.summary["by_cohort"]),
                    "last_service_date": result.summary["last_service_date"],
                    "demographics_supplied": result.summary["demographics_supplied"],
                    "seconds": round(result.seconds, 2),
                    "step_seconds": MetadataValue.json(result.summary["step_seconds"]),
                    "methodology_version": m.version,
                })
            yield MaterializeResult(asset_key=table, metadata=md)

    return episodes_stage
