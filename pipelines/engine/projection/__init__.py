"""Projection before the national pool exists (V1-V4): projected quality points against CMS's published MIPS
percentiles, projected cost position against CMS's national average cost, projected final score and
payment factor with bootstrap intervals, the figure reports lead with, and the history of projections
during the PY. `compute_projection(settings, methodology)`; nothing here imports Dagster."""
from __future__ import annotations

from pipelines.engine.projection.history import append_history, read_history
from pipelines.engine.qpp import ReferenceFileError
from pipelines.engine.projection.stage import compute_projection, run_projection

SOURCES = ("pipelines/engine/projection", "pipelines/engine/scoring", "pipelines/engine/qpp.py", "data/reference/qpp")  # V3 runs scoring's rules
PROJECTION_TABLES = ("projected_scores", "projected_measure_points", "projected_quality_benchmarks",
                     "projected_cost_benchmarks", "score_waterfall", "projection_tin_summary",
                     "inyear_cost_curve", "open_episode_projections")
PROJECTION_INPUTS = ("participant_scores", "payment_adjustments", "cost_measure_scores", "cost_benchmarks",
                     "quality_measure_points", "participant_measure_points", "cohort_summary", "episode_risk",
                     "episode_attribution", "episode_admissions", "admission_rates", "partb_lines", "episodes",
                     "episode_costs", "episode_lines")
__all__ = ["PROJECTION_INPUTS", "PROJECTION_TABLES", "SOURCES", "ReferenceFileError", "append_history",
           "compute_projection", "read_history", "run_projection"]
