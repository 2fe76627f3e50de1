"""Scoring assets: eligibility (G), episode_risk (R1-R3) and the scoring multi-asset (R4-R5, B, Q,
S, P and the summary tables reports render). Engine: `pipelines.engine.scoring`."""
from __future__ import annotations

import time

import polars as pl
from dagster import AssetDep, MaterializeResult, MetadataValue, multi_asset

from assets._common import DUCKDB_POOL, failure, stage_specs, table_metadata
from pipelines.engine.methodology import Methodology
from assets.runtime.resources import AsmResource
from pipelines.engine.scoring import SOURCES, risk
from pipelines.engine.scoring.inputs import SideInputError, TableMissing, side_inputs_status
from pipelines.engine.scoring.stage import SCORING_TABLES, compute_eligibility, compute_episode_risk, compute_scores

DESCRIPTIONS = {
    "eligibility": "G1-G4 per TIN/NPI: specialty by plurality, cohort, location (selected CBSA), volume, reason.",
    "episode_risk": "R1-R3 per episode: covariates, CMS-HCC V28 flags and risk score (hccinfhir), expected cost.",
    "risk_models": "R2 per cohort, PY and covariate: the fitted coefficient, fitted episodes, floor and rescale "
                   "factor, so an episode's predicted cost can be re-derived from its episode_risk covariates.",
    "cost_measure_scores": "R4-R5 per participant, cohort and PY: O/E x cohort mean; scored when >= 20 episodes.",
    "cost_benchmarks": "B1-B3 per cohort and PY: pool median, sample SD and thresholds t1..t10.",
    "quality_benchmarks": "Q5 per cohort, measure and collection type: decile boundaries d1..d9.",
    "quality_measure_points": "Q2-Q5 per submitted row (TIN or TIN/NPI, measure, collection type): rate, completeness, points.",
    "quality_submission_issues": "Q1/Q2 per refused row of quality_submissions.csv (tin, npi, measure, collection type, "
                                 "source row): the reason it is not used (not an ASM measure, a collection type the "
                                 "measure does not have, negative counts, more cases than the eligible population, "
                                 "a TIN-level row of a practice of more than 15 clinicians).",
    "participant_measure_points": "Q7 per participant and measure: the best points over own and TIN-level rows and "
                                  "collection types, with the row that gave them.",
    "participant_scores": "S1-S7 per participant: quality, cost, IA, PI, bonuses, final score and status.",
    "payment_adjustments": "P1-P4 per participant: transformed score, scaling factor (solved so the withhold holds "
                           "after clipping), adjustment factor, dollar impact; no factor when FS > 0 and Part B "
                           "paid <= 0 (payment_status, payment_reason).",
    "episode_admissions": "Q6 per scored HF episode of the PY: person-years, unplanned cardiovascular admissions "
                          "(Part A), expected admissions from R1 covariates. Empty without Part A.",
    "admission_rates": "Q6 per HF participant: observed, expected and risk-standardized Q492 rate per 100 "
                       "person-years. Empty without Part A.",
    "score_distribution": "Cohort distributions (no participant ids): quantiles of cost measure scores, points, "
                          "quality and final scores, adjustment factors, over every participant of the run.",
    "tin_summary": "Per TIN, cohort and PY: participants by status, Part B paid, dollar impact, peer pool (B1).",
    "tin_cost_drivers": "Per TIN, cohort and PY: C3 cost by service category and driver counts of the TIN's "
                        "attributed scored episodes, next to the cohort's.",
    "cohort_summary": "Per cohort and PY: pool size (B1), scored episodes and mean cost, cost basis (N5), Q492 "
                      "status (Q6), measures not scored.",
    "cohort_cost_drivers": "Per cohort and PY: C3 cost by service category and driver counts over scored episodes.",
}
SCORING_INPUTS = ("episode_risk", "eligibility", "episode_attribution", "partb_lines", "episodes", "parta_claims",
                  "episode_costs")


def _specs(tables, methodology: Methodology, deps, extra_version: str = ""):
    return stage_specs(tables, DESCRIPTIONS, group="scoring", sources=SOURCES,
                       methodology_fingerprint=f"{methodology.fingerprint}{extra_version}",
                       asset_module="assets/scoring.py", kinds={"polars", "parquet"}, deps=[AssetDep(d) for d in deps])


def _write(settings, name: str, df: pl.DataFrame) -> dict:
    n = settings.warehouse.write(name, df)
    return table_metadata(settings.table_path(name), n)


def eligibility_asset(methodology: Methodology):
    @multi_asset(pool=DUCKDB_POOL, name="eligibility_stage",
                 specs=_specs(("eligibility",), methodology, ("partb_lines", "episodes", "episode_attribution")))
    def _eligibility(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            table, info = compute_eligibility(settings, m)
        except (TableMissing, SideInputError) as exc:
            raise failure("eligibility", exc) from None
        md = _write(settings, "eligibility", table)  # whole run: benchmarks need it (B1)
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
    deps = ("episodes", "episode_costs", "partb_lines", "parta_diagnoses", "beneficiaries", "eligibility")

    @multi_asset(pool=DUCKDB_POOL, name="episode_risk_stage",
                 specs=_specs(("episode_risk", "risk_models"), methodology, deps, f"-{risk.hcc_library_version()}"))
    def _episode_risk(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            table, models_table = compute_episode_risk(settings, m, settings.warehouse.read("eligibility"))
        except TableMissing as exc:
            raise failure("episode_risk", exc) from None
        md = _write(settings, "episode_risk", table)
        yield MaterializeResult(asset_key="risk_models", metadata=_write(settings, "risk_models", models_table))
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
    @multi_asset(pool=DUCKDB_POOL, name="scoring", can_subset=False, specs=_specs(SCORING_TABLES, methodology, SCORING_INPUTS))
    def _scoring(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            tables, info = compute_scores(settings, m)
        except (TableMissing, SideInputError) as exc:
            raise failure("scoring", exc) from None
        for name in SCORING_TABLES:
            md = _write(settings, name, tables[name])
            md.update(_scoring_metadata(name, tables[name], info, m))
            md["methodology_version"] = m.version
            if settings.tins:
                md["report_scope"] = f"participant rows restricted to TINs {', '.join(settings.tins)}; benchmarks use every TIN"
            md["seconds"] = round(time.perf_counter() - t0, 2)
            yield MaterializeResult(asset_key=name, metadata=md)

    return _scoring
