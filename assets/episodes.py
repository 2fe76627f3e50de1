"""Episode assets: one graph-backed multi-asset writing the six episode tables. Its graph has one step
per beneficiary shard (`episodes_shard_<k>`: E/X, C1-C3, A1-A3 for that shard's beneficiaries, writing
that shard's file of each table) and one step over every shard (`episodes_cohort`: C4's cohort-wide
winsorizing cap -> episode_costs, and the stage's metadata). Under the multiprocess executor (`asm run
--workers N`) the shard steps run in parallel; on Kubernetes each is its own pod (docs/scale-out.md).
Engine: `pipelines.engine.episodes`; shards: `pipelines.engine.shards`."""
from __future__ import annotations

from dagster import AssetIn, AssetOut, In, MetadataValue, Nothing, Out, Output, graph_multi_asset, op

from assets._common import DUCKDB_POOL, failure, stage_specs, table_metadata
from pipelines.engine.episodes import (EPISODE_TABLES, INPUTS, SHARD_TABLES, SOURCES, EpisodeConfigError, run_episode_costs,
                                run_episode_shard)
from pipelines.engine.methodology import Methodology
from assets.runtime.resources import AsmResource
from pipelines.engine.shards import Shard

def _shard_step(shard: Shard):
    @op(name=f"episodes_shard_{shard.index}", pool=DUCKDB_POOL, ins={d: In(Nothing) for d in INPUTS},
        out=Out(dict), description=f"E, X, C1-C3, A for the beneficiaries of shard {shard.label} (pipelines.engine.shards).")
    def episodes_shard(context, asm: AsmResource) -> dict:
        try:
            result = run_episode_shard(asm.settings(), asm.methodology(), shard)
        except EpisodeConfigError as exc:
            raise failure("episodes", exc) from None
        context.log.info(f"episodes shard {shard.label}: {result.row_counts} in {result.seconds:.1f}s")
        return {"rows": result.row_counts, "seconds": round(result.seconds, 2), **result.summary}

    return episodes_shard


@op(name="episodes_cohort", pool=DUCKDB_POOL, ins={"shards": In(list)},
    out={t: Out(Nothing) for t in EPISODE_TABLES},
    description="C4: the winsorizing cap over every shard's episode_observed_costs -> episode_costs.")
def episodes_cohort(context, asm: AsmResource, shards: list):
    settings, m = asm.settings(), asm.methodology()
    try:
        costs = run_episode_costs(settings, m)
    except EpisodeConfigError as exc:
        raise failure("episodes", exc) from None
    rows = {t: sum(s["rows"][t] for s in shards) for t in SHARD_TABLES} | costs.row_counts
    context.log.info(f"episodes: {rows} over {len(shards)} shard(s)")
    for table in EPISODE_TABLES:
        md = table_metadata(settings.table_path(table), rows[table])
        if table in SHARD_TABLES:
            md["rows_by_shard"] = MetadataValue.json([s["rows"][table] for s in shards])
        if table == "episodes":
            md.update({
                "by_cohort": MetadataValue.json(costs.summary["by_cohort"]),
                "last_service_date": shards[0]["last_service_date"],
                "demographics_supplied": shards[0]["demographics_supplied"],
                "shards": len(shards),
                "seconds_by_shard": MetadataValue.json([s["seconds"] for s in shards]),
                "step_seconds": MetadataValue.json([s["step_seconds"] for s in shards]),
                "methodology_version": m.version,
            })
        yield Output(None, output_name=table, metadata=md)


def episodes_asset(methodology: Methodology, shards: int = 1):
    specs = stage_specs("episodes", sources=SOURCES, methodology_fingerprint=methodology.fingerprint,
                        asset_module="assets/episodes.py", kinds={"duckdb", "parquet"}, with_deps=False)
    steps = [_shard_step(Shard(k, shards)) for k in range(shards)]

    @graph_multi_asset(name="episodes_stage", can_subset=False, group_name="episodes",
                       ins={d: AssetIn(key=d, dagster_type=Nothing) for d in INPUTS},
                       outs={s.key.to_user_string(): AssetOut.from_spec(s, dagster_type=Nothing) for s in specs})
    def episodes_stage(**upstream):
        return episodes_cohort(shards=[step(**upstream) for step in steps])

    return episodes_stage
