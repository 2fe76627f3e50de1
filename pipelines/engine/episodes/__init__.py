"""Episode stage (E1-E6, X1-X2, A1-A3, C1-C4): partb_lines -> episodes, episode_lines, attribution,
costs. Per beneficiary shard `run_episode_shard`, then `run_episode_costs` (C4) over all shards;
`run_episodes` runs both in this process. The SQL is `sql/20_episodes` .. `sql/55_winsorizing`."""
from pipelines.engine.episodes.params import EpisodeConfigError, EpisodeParams, episode_params
from pipelines.engine.episodes.stage import (EPISODE_TABLES, SHARD_TABLES, EpisodeInputs, EpisodeResult, build_episode_tables,
                                      run_episode_costs, run_episode_shard, run_episodes)

__all__ = ["EPISODE_TABLES", "SHARD_TABLES", "EpisodeConfigError", "EpisodeInputs", "EpisodeParams", "EpisodeResult",
           "build_episode_tables", "episode_params", "run_episode_costs", "run_episode_shard", "run_episodes"]

# Every file this stage runs (its code version and code references), besides the shared engine files.
SOURCES = ("pipelines/engine/episodes", "pipelines/engine/reference.py", "sql/20_episodes", "sql/30_episode_lines",
           "sql/40_attribution", "sql/50_costs", "sql/55_winsorizing", "pipelines/engine/shards.py",
           "data/reference/code_lists", "pipelines/engine/qpp.py", "data/reference/qpp")
INPUTS = ("partb_lines", "parta_claims", "beneficiaries")
