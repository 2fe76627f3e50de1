"""Eligibility (G1-G4): specialty by plurality, cohort, location (selected CBSA), volume."""
from __future__ import annotations

import polars as pl

from pipelines.methodology import EligibilityParams


def _plurality(counts: pl.DataFrame, value: str, order: list[tuple[str, bool]], performance_year: int,
               offset: int) -> pl.DataFrame:
    """Pick one `value` per NPI from per-(npi, year, value) counts: the reference year PY - offset when the
    NPI has data there, else the PY itself (flagged). `order`: (column, descending) tie-break chain."""
    ref = performance_year - offset
    c = counts.filter(pl.col("year").is_in([ref, performance_year]) & pl.col(value).is_not_null())
    has_ref = c.filter(pl.col("year") == ref).select("npi").unique().with_columns(pl.lit(True).alias("_has_ref"))
    c = c.join(has_ref, on="npi", how="left").filter(
        pl.when(pl.col("_has_ref")).then(pl.col("year") == ref).otherwise(pl.col("year") == performance_year)
    )
    cols, desc = [x for x, _ in order], [d for _, d in order]
    return (
        c.sort(["npi", *cols], descending=[False, *desc])
        .group_by("npi", maintain_order=True).first()
        .select("npi", value, pl.col("year").alias(f"{value}_year"),
                (pl.col("year") != ref).alias(f"{value}_year_fallback"))
    )


def specialty_by_plurality(counts: pl.DataFrame, performance_year: int, p: EligibilityParams) -> pl.DataFrame:
    """G1: the specialty on the plurality of an NPI's Part B lines in PY - 2 (else the PY, flagged).
    Ties [DEFAULT]: larger allowed amount, then the lower code.
    `counts`: npi, year, specialty, lines, allowed."""
    return _plurality(counts, "specialty", [("lines", True), ("allowed", True), ("specialty", False)],
                      performance_year, p.reference_year_offset)


def zip_by_plurality(counts: pl.DataFrame, performance_year: int, p: EligibilityParams) -> pl.DataFrame:
    """G3: the most frequent provider ZIP on the NPI's claims in the reference year (else the PY).
    Ties [DEFAULT]: the lower ZIP. `counts`: npi, year, zip5, lines."""
    return _plurality(counts, "zip5", [("lines", True), ("zip5", False)], performance_year, p.reference_year_offset)


def cohort_of_specialty_expr(p: EligibilityParams, col: str = "specialty") -> pl.Expr:
    """G2: HF for 06; LBP for 05, 09, 14, 20, 25, 72 (from the configuration)."""
    mapping = {s: c for c, specs in p.cohort_specialties.items() for s in specs}
    return pl.col(col).replace_strict(mapping, default=None, return_dtype=pl.Utf8)


def npi_location(npis: pl.DataFrame, claims_zip: pl.DataFrame, providers: pl.DataFrame | None,
                 zip_cbsa: pl.DataFrame | None, selected: pl.DataFrame | None, p: EligibilityParams) -> pl.DataFrame:
    """G3: NPI -> ZIP (sources in `zip_source_priority` order) -> CBSA -> in the selected list.

    Without zip_cbsa.csv or asm_selected_cbsas.csv the location is unknown for everyone
    (location_status 'unknown_no_reference_tables', every clinician scored, flagged). An NPI whose ZIP
    or CBSA cannot be found is also 'unknown' and scored, flagged [DEFAULT].
    """
    out = npis.select("npi").unique()
    sources = {"claims": claims_zip.select("npi", "zip5")}
    if providers is not None:
        sources["providers"] = providers.select("npi", "zip5").unique("npi", keep="first")
    out = out.with_columns(pl.lit(None, pl.Utf8).alias("zip5"), pl.lit(None, pl.Utf8).alias("zip_source"))
    for name in p.zip_source_priority:
        if name not in sources:
            continue
        src = sources[name].rename({"zip5": "_z"})
        out = out.join(src, on="npi", how="left").with_columns(
            pl.coalesce("zip5", "_z").alias("zip5"),
            pl.when(pl.col("zip5").is_null() & pl.col("_z").is_not_null()).then(pl.lit(name))
            .otherwise(pl.col("zip_source")).alias("zip_source"),
        ).drop("_z")
    if zip_cbsa is None or selected is None:
        return out.with_columns(
            pl.lit(None, pl.Utf8).alias("cbsa_code"), pl.lit(None, pl.Boolean).alias("in_selected_cbsa"),
            pl.lit("unknown_no_reference_tables").alias("location_status"),
        )
    zc = zip_cbsa.select("zip5", "cbsa_code").sort(["zip5", "cbsa_code"]).unique("zip5", keep="first")
    sel = selected.select(pl.col("cbsa_code")).unique().with_columns(pl.lit(True).alias("_sel"))
    out = out.join(zc, on="zip5", how="left").join(sel, on="cbsa_code", how="left")
    return out.with_columns(
        pl.when(pl.col("cbsa_code").is_null()).then(None).otherwise(pl.col("_sel").fill_null(False))
        .alias("in_selected_cbsa"),
        pl.when(pl.col("zip5").is_null()).then(pl.lit("unknown_zip"))
        .when(pl.col("cbsa_code").is_null()).then(pl.lit("unknown_cbsa"))
        .when(pl.col("_sel")).then(pl.lit("selected_cbsa"))
        .otherwise(pl.lit("not_selected_cbsa")).alias("location_status"),
    ).drop("_sel")


def eligibility(tin_npis: pl.DataFrame, specialty: pl.DataFrame, location: pl.DataFrame,
                attributed: pl.DataFrame, case_minimum: int, p: EligibilityParams) -> pl.DataFrame:
    """G1-G4 per TIN/NPI. `attributed`: tin, npi, cohort, attributed_episodes (R5 count, per cohort).

    eligible_location (G1-G3) = specialty in a cohort and location not 'not_selected_cbsa';
    eligible = eligible_location and attributed episodes in its cohort >= case minimum (G4).
    """
    out = (
        tin_npis.select("tin", "npi").unique()
        .join(specialty, on="npi", how="left")
        .with_columns(cohort_of_specialty_expr(p).alias("cohort"))
        .join(location, on="npi", how="left")
        .join(attributed, on=["tin", "npi", "cohort"], how="left")
        .with_columns(pl.col("attributed_episodes").fill_null(0).cast(pl.Int64))
    )
    reason = (
        pl.when(pl.col("specialty").is_null()).then(pl.lit("G1: no Part B lines to determine the specialty"))
        .when(pl.col("cohort").is_null()).then(pl.concat_str([pl.lit("G2: specialty "), pl.col("specialty"),
                                                              pl.lit(" is not an ASM specialty")]))
        .when(pl.col("location_status") == "not_selected_cbsa").then(
            pl.concat_str([pl.lit("G3: CBSA "), pl.col("cbsa_code"), pl.lit(" is not selected")]))
        .when(pl.col("attributed_episodes") < case_minimum).then(
            pl.concat_str([pl.lit("G4: "), pl.col("attributed_episodes").cast(pl.Utf8),
                           pl.lit(f" attributed episodes < {case_minimum}")]))
        .otherwise(None)
    )
    out = out.with_columns(reason.alias("reason")).with_columns(
        (pl.col("cohort").is_not_null() & (pl.col("location_status") != "not_selected_cbsa")).alias("eligible_location"),
        pl.col("reason").is_null().alias("eligible"),
    )
    return out.sort(["tin", "npi"])


def participant_eligibility(participants: pl.DataFrame, eligibility_table: pl.DataFrame) -> pl.DataFrame:
    """G1-G3 for a participant row (performance_year, cohort, tin, npi): eligible when the NPI's
    specialty cohort (G2) is the row's cohort and its location is eligible (G3); `eligibility_reason`
    says why not (G4 / R5 is decided by the case minimum, not here). Adds eligible, eligibility_reason,
    specialty."""
    e = eligibility_table.select("tin", "npi", pl.col("cohort").alias("npi_cohort"), "eligible_location", "reason",
                                 "specialty")
    other_cohort = pl.col("npi_cohort").is_null() | (pl.col("npi_cohort") != pl.col("cohort"))
    return participants.join(e, on=["tin", "npi"], how="left").with_columns(
        (pl.col("eligible_location").fill_null(False) & ~other_cohort.fill_null(True)).alias("eligible"),
        pl.when(other_cohort)
        .then(pl.concat_str([pl.lit("G2: specialty "), pl.col("specialty").fill_null("unknown"),
                             pl.lit(" is not in cohort "), pl.col("cohort")]))
        .when(pl.col("reason").is_not_null() & ~pl.col("reason").str.starts_with("G4")).then(pl.col("reason"))
        .otherwise(None).alias("eligibility_reason"),
    ).drop("npi_cohort", "eligible_location", "reason")
