"""Steering (issue 18): what to fix, ranked in points and dollars (`levers`: the improvement_levers
tables, a stage after the projection) and `asm whatif` (`whatif`: a scenario re-scored in a scratch
folder beside the run). The package sits above the registry: a what-if re-runs registered stages
(pipelines.engine.rerun). Nothing here imports Dagster."""
from __future__ import annotations

from pipelines.engine.steering.stage import compute_steering, run_steering

SOURCES = ("pipelines/engine/steering",)

__all__ = ["SOURCES", "compute_steering", "run_steering"]
