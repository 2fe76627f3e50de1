"""Episode stage (E1-E6, X1-X2, A1-A3, C1-C4): partb_lines -> episodes, episode_lines, attribution,
costs. `run_episodes(settings, methodology)` is the stage; the SQL is `sql/20_episodes` .. `sql/50_costs`."""
from pipelines.episodes.params import EpisodeConfigError, EpisodeParams, episode_params
from pipelines.episodes.stage import EPISODE_TABLES, EpisodeInputs, EpisodeResult, build_episode_tables, run_episodes

__all__ = ["EPISODE_TABLES", "EpisodeConfigError", "EpisodeInputs", "EpisodeParams", "EpisodeResult",
           "build_episode_tables", "episode_params", "run_episodes"]

# Every file this stage runs (its code version and code references), besides the shared engine files.
SOURCES = ("pipelines/episodes", "pipelines/reference.py", "sql/20_episodes", "sql/30_episode_lines",
           "sql/40_attribution", "sql/50_costs", "data/reference/code_lists")
INPUTS = ("partb_lines", "parta_claims", "beneficiaries")
