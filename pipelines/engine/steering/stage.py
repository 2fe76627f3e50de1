"""The steering stage: reads the scoring and projection tables and the side inputs, writes
improvement_levers (participant x lever) and improvement_levers_tin (TIN x lever kind)."""
from __future__ import annotations

import polars as pl

from pipelines.engine.methodology import Methodology
from pipelines.engine.reference import SERVICE_CATEGORIES, COST_DRIVERS
from pipelines.engine.scoring import side_inputs
from pipelines.engine.scoring.inputs import part_a_supplied, participant_paid
from pipelines.engine.settings import RunSettings
from pipelines.engine.steering.levers import LeverInputs, improvement_levers
from pipelines.engine.tables import PARTICIPANT

STEERING_TABLES = ("improvement_levers", "improvement_levers_tin")


def scored_episodes(settings: RunSettings, py: int) -> pl.DataFrame:
    """Attributed scored episodes of the PY per participant with R4's inputs (winsorized observed, expected)
    and their C3 cost categories and driver flags (no beneficiary id)."""
    wh = settings.warehouse
    er = wh.read("episode_risk", ["episode_id", "performance_year", "fit", "observed_cost_winsorized",
                                  "expected_cost"]).filter(pl.col("fit") & (pl.col("performance_year") == py))
    att = wh.read("episode_attribution", ["episode_id", "tin", "npi", "attributed"]).filter(pl.col("attributed"))
    costs = wh.read("episode_costs")
    keep = [c for c in (*[f"cost_{k}" for k in SERVICE_CATEGORIES], *COST_DRIVERS) if c in costs.columns]
    costs = costs.select("episode_id", "cohort", *keep).with_columns(
        pl.col(c).cast(pl.Float64) for c in keep if c.startswith("cost_"))
    return (att.join(er, on="episode_id").join(costs, on="episode_id", how="left")
            .select(pl.col("performance_year").cast(pl.Int64), "cohort", "tin", "npi", "episode_id",
                    pl.col("observed_cost_winsorized").cast(pl.Float64).alias("observed_cost"), "expected_cost", *keep)
            .sort([*PARTICIPANT, "episode_id"]))


def read_inputs(settings: RunSettings, m: Methodology) -> LeverInputs:
    wh, py = settings.warehouse, settings.performance_year
    return LeverInputs(
        scores=wh.read("participant_scores"), pay=wh.read("payment_adjustments"),
        paid=participant_paid(settings, py), measure_points=wh.read("participant_measure_points"),
        quality_points=wh.read("quality_measure_points"), quality_benchmarks=wh.read("quality_benchmarks"),
        cost_measures=wh.read("cost_measure_scores"), cost_benchmarks=wh.read("cost_benchmarks"),
        attestations=side_inputs.attestations(settings, py, m.scoring),
        submissions=side_inputs.quality_submissions(settings, py), episodes=scored_episodes(settings, py),
        cms_measure_points=wh.read("projected_measure_points"), cms_benchmarks=wh.read("projected_quality_benchmarks"),
        case_counts=wh.read("projected_scores", [*PARTICIPANT, "expected_episodes"]),
        part_a=part_a_supplied(settings))


def compute_steering(settings: RunSettings, m: Methodology) -> tuple[dict[str, pl.DataFrame], dict]:
    levers, by_tin = improvement_levers(read_inputs(settings, m), m)
    info = {"levers": levers.height, "by_kind": dict(levers.group_by("lever").len().sort("lever").iter_rows()),
            "tins": by_tin["tin"].n_unique()}
    return {"improvement_levers": levers, "improvement_levers_tin": by_tin}, info


def run_steering(settings: RunSettings, m: Methodology) -> tuple[dict[str, pl.DataFrame], dict]:
    tables, info = compute_steering(settings, m)
    for name in STEERING_TABLES:
        settings.warehouse.write(name, tables[name])
    return tables, info
