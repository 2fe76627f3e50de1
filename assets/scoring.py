"""Scoring assets: eligibility (G), episode_risk (R1-R3) and the scoring multi-asset (R4-R5, B, Q,
S, P and the summary tables reports render). Engine: `pipelines.engine.scoring`."""
from __future__ import annotations

import time

import polars as pl
from dagster import MaterializeResult, MetadataValue, multi_asset

from assets._common import DUCKDB_POOL, failure, stage_specs, written_metadata
from pipelines.engine.methodology import Methodology
from assets.runtime.resources import AsmResource
from pipelines.engine import registry
from pipelines.engine.scoring import SOURCES, risk
from pipelines.engine.scoring.inputs import SideInputError, TableMissing, side_inputs_status
from pipelines.engine.scoring.stage import SCORING_TABLES, run_eligibility, run_episode_risk, run_scoring

def _specs(stage: str, methodology: Methodology, extra_version: str = ""):
    return stage_specs(stage, sources=SOURCES, methodology_fingerprint=f"{methodology.fingerprint}{extra_version}",
                       asset_module="assets/scoring.py", kinds={"polars", "parquet"})


def eligibility_asset(methodology: Methodology):
    @multi_asset(pool=DUCKDB_POOL, name="eligibility_stage",
                 specs=_specs("eligibility", methodology))
    def _eligibility(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            tables, info = run_eligibility(settings, m)
        except (TableMissing, SideInputError) as exc:
            raise failure("eligibility", exc) from None
        table = tables["eligibility"]
        md = written_metadata(settings, "eligibility", table)
        md.update({
            "side_inputs": MetadataValue.json(side_inputs_status(settings)),
            "eligible": int(table["eligible"].sum()),
            "not_eligible_by_reason": MetadataValue.json(
                dict(table.filter(~pl.col("eligible")).select(pl.col("reason").str.slice(0, 2)).to_series()
                     .value_counts().iter_rows())),
            "reference_year": info["reference_year"],
            "specialty_from_py_fallback": info["specialty_fallback_npis"],
            "location": "unknown for everyone (zip_cbsa.csv / asm_selected_cbsas.csv absent): all scored, flagged"
            if info["location_unknown"] else "ZIP -> CBSA -> selected list",
            "location_status": MetadataValue.json(info["location_status"]),
            "zip_cbsa_rule": MetadataValue.json(info["cbsa_rule"]),
            "seconds": round(time.perf_counter() - t0, 2),
        })
        yield MaterializeResult(asset_key="eligibility", metadata=md)

    return _eligibility


def episode_risk_asset(methodology: Methodology):
    @multi_asset(pool=DUCKDB_POOL, name="episode_risk_stage",
                 specs=_specs("episode_risk", methodology, f"-{risk.hcc_library_version()}"))
    def _episode_risk(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            tables, _ = run_episode_risk(settings, m)
        except TableMissing as exc:
            raise failure("episode_risk", exc) from None
        table = tables["episode_risk"]
        md = written_metadata(settings, "episode_risk", table)
        yield MaterializeResult(asset_key="risk_models", metadata=written_metadata(settings, "risk_models", tables["risk_models"]))
        models = table.group_by("performance_year", "cohort", "model").agg(
            pl.col("model_episodes").first(), pl.col("model_covariates").first()).sort("performance_year", "cohort")
        md.update({
            "hcc_library": risk.hcc_library_version(),
            "hcc_model": m.risk.hcc_model,
            "models": MetadataValue.json(models.to_dicts()),
            "episodes_without_demographics": int(table.filter(pl.col("age_band") == "unknown").height),
            "seconds": round(time.perf_counter() - t0, 2),
        })
        yield MaterializeResult(asset_key="episode_risk", metadata=md)

    return _episode_risk


def _scoring_metadata(name: str, df: pl.DataFrame, info: dict, m: Methodology) -> dict:
    md: dict = {}
    if name == "cost_benchmarks":
        md["pool_sizes"] = MetadataValue.json({f"{r['cohort']} {r['performance_year']}": r["participants"]
                                               for r in df.iter_rows(named=True)})
        small = [f"{r['cohort']}: {r['participants']}" for r in df.iter_rows(named=True)
                 if r["participants"] < info["small_pool"]]
        md["small_pool_warning"] = (f"B1: small peer pool ({'; '.join(small)} participants); benchmarks from "
                                    "a small pool are unstable" if small else "none")
    if name == "quality_benchmarks":
        md["quality_submissions"] = "supplied" if info["submissions"] else "absent or empty: quality scores 0"
        md["part_a_measures"] = (
            f"{', '.join(info['part_a_measures'])} computed from Part A claims (Q6)"
            + (f"; {info['replaced_part_a_submissions']} submitted rows replaced" if info["replaced_part_a_submissions"]
               else "")
            if info["part_a"] else f"{', '.join(info['part_a_measures'])} not scored: no Part A claims (Q6)")
    if name in ("episode_admissions", "admission_rates"):
        md["q6"] = ("computed from Part A inpatient claims" if info["part_a"]
                    else "not computed: the run has no Part A claims (Q492 not scored)")
    if name == "quality_submission_issues":
        md["refused_rows_by_reason"] = MetadataValue.json(info["submission_issues"])
        md["refused_rows"] = int(sum(info["submission_issues"].values()))
    if name == "participant_scores":
        md["status_counts"] = MetadataValue.json(info["status_counts"])
        md["side_inputs"] = MetadataValue.json(info["side_inputs"])
    if name == "payment_adjustments":
        budget = info["budget"]
        md["risk_level"] = m.payment.risk_level
        md["budget_identity"] = MetadataValue.json([
            {k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()} for r in budget.iter_rows(named=True)])
        md["budget_identity_holds"] = bool(budget["identity_holds"].fill_null(True).all()) if budget.height else True
        md["payment_status"] = MetadataValue.json(info["payment_status"])
        md["budget_statement"] = (f"P3: over each cohort's pool (FS > 0, B > 0) sum(adjustment factor x B) = "
                                  f"-(1 - {m.payment.payback_share}) x r x sum(B) within rounding, on the factors "
                                  "after clipping to [-r, +r] (S solved over the clipped set)")
    return md


def scoring_asset(methodology: Methodology):
    @multi_asset(pool=DUCKDB_POOL, name="scoring", can_subset=False, specs=_specs("scoring", methodology))
    def _scoring(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            tables, info = run_scoring(settings, m)
        except (TableMissing, SideInputError) as exc:
            raise failure("scoring", exc) from None
        for name in registry.in_lineage_order(SCORING_TABLES):
            md = written_metadata(settings, name, tables[name])
            md.update(_scoring_metadata(name, tables[name], info, m))
            md["methodology_version"] = m.version
            if settings.tins:
                md["report_scope"] = f"participant rows restricted to TINs {', '.join(settings.tins)}; benchmarks use every TIN"
            md["seconds"] = round(time.perf_counter() - t0, 2)
            yield MaterializeResult(asset_key=name, metadata=md)

    return _scoring
