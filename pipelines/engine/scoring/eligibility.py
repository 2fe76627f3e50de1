"""Eligibility (G1-G4): specialty by plurality, cohort, location (selected CBSA), volume."""
from __future__ import annotations

import polars as pl

from pipelines.engine.methodology import EligibilityParams
from pipelines.engine.scoring.inputs import SideInputError


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


def zip_to_cbsa(zip_cbsa: pl.DataFrame, p: EligibilityParams) -> pl.DataFrame:
    """G3: one CBSA per ZIP (zip5, cbsa_code, cbsa_rule). A ZIP with one CBSA: 'single'. With several:
    the largest res_ratio when the file has that column (ties: the lower code), 'largest_res_ratio';
    else `multi_cbsa_zip` [DEFAULT]: 'lowest_cbsa_code', or 'unknown' (cbsa_code null, rule
    'several_cbsas': the clinician is not eligible), or 'refuse' (SideInputError naming the ZIP)."""
    if "res_ratio" not in zip_cbsa.columns:
        zip_cbsa = zip_cbsa.with_columns(pl.lit(None, pl.Float64).alias("res_ratio"))
    zc = zip_cbsa.select("zip5", "cbsa_code", pl.col("res_ratio").cast(pl.Float64)).with_columns(
        pl.len().over("zip5").alias("_n"))
    several = zc.filter(pl.col("_n") > 1)
    has_ratio = zc["res_ratio"].is_not_null().any()
    if several.height and not has_ratio and p.multi_cbsa_zip == "refuse":
        first = several.sort("zip5", "cbsa_code").group_by("zip5", maintain_order=True).agg("cbsa_code").row(0)
        raise SideInputError(f"zip_cbsa.csv: ZIP {first[0]} maps to {len(first[1])} CBSAs ({', '.join(first[1])}) "
                             "and the file has no res_ratio column; add res_ratio (HUD's residential share) or "
                             "set eligibility.multi_cbsa_zip")
    rule = ("largest_res_ratio" if has_ratio else
            "several_cbsas" if p.multi_cbsa_zip == "unknown" else "lowest_cbsa_code")
    best = (zc.sort(["zip5", "res_ratio", "cbsa_code"], descending=[False, True, False], nulls_last=True)
            .group_by("zip5", maintain_order=True).first())
    return best.select(
        "zip5",
        pl.when((pl.col("_n") > 1) & pl.lit(rule == "several_cbsas")).then(None).otherwise(pl.col("cbsa_code"))
        .alias("cbsa_code"),
        pl.when(pl.col("_n") == 1).then(pl.lit("single")).otherwise(pl.lit(rule)).alias("cbsa_rule"))


def npi_location(npis: pl.DataFrame, claims_zip: pl.DataFrame, providers: pl.DataFrame | None,
                 zip_cbsa: pl.DataFrame | None, selected: pl.DataFrame | None, p: EligibilityParams) -> pl.DataFrame:
    """G3: NPI -> ZIP (sources in `zip_source_priority` order) -> CBSA (`zip_to_cbsa`) -> in the selected list.

    Without zip_cbsa.csv or asm_selected_cbsas.csv the location is unknown for everyone
    (location_status 'unknown_no_reference_tables', every clinician scored, flagged). With both, an NPI
    whose ZIP ('unknown_zip'), CBSA ('unknown_cbsa') or single CBSA ('several_cbsas') cannot be found
    is not eligible, with the reason (G3).
    """
    out = npis.select("npi").unique()
    sources = {"claims": claims_zip.select("npi", "zip5")}
    if providers is not None:
        sources["providers"] = providers.select("npi", "zip5")  # one ZIP per NPI (side_inputs.providers)
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
            pl.lit(None, pl.Utf8).alias("cbsa_code"), pl.lit(None, pl.Utf8).alias("cbsa_rule"),
            pl.lit(None, pl.Boolean).alias("in_selected_cbsa"),
            pl.lit("unknown_no_reference_tables").alias("location_status"),
        )
    sel = selected.select(pl.col("cbsa_code")).unique().with_columns(pl.lit(True).alias("_sel"))
    out = out.join(zip_to_cbsa(zip_cbsa, p), on="zip5", how="left").join(sel, on="cbsa_code", how="left")
    return out.with_columns(
        pl.when(pl.col("cbsa_code").is_null()).then(None).otherwise(pl.col("_sel").fill_null(False))
        .alias("in_selected_cbsa"),
        pl.when(pl.col("zip5").is_null()).then(pl.lit("unknown_zip"))
        .when(pl.col("cbsa_rule") == "several_cbsas").then(pl.lit("several_cbsas"))
        .when(pl.col("cbsa_code").is_null()).then(pl.lit("unknown_cbsa"))
        .when(pl.col("_sel")).then(pl.lit("selected_cbsa"))
        .otherwise(pl.lit("not_selected_cbsa")).alias("location_status"),
    ).drop("_sel")


ELIGIBLE_LOCATIONS = ("selected_cbsa", "unknown_no_reference_tables")


def location_reason() -> pl.Expr:
    """G3: why a location makes a clinician not eligible (null when it does not)."""
    status = pl.col("location_status")
    return (
        pl.when(status == "not_selected_cbsa").then(
            pl.concat_str([pl.lit("G3: CBSA "), pl.col("cbsa_code"), pl.lit(" is not selected")]))
        .when(status == "unknown_zip").then(pl.lit(
            "G3: no provider ZIP for the NPI (no PRVDR_ZIP on its claims, not in providers.csv)"))
        .when(status == "unknown_cbsa").then(
            pl.concat_str([pl.lit("G3: ZIP "), pl.col("zip5"), pl.lit(" is not in zip_cbsa.csv")]))
        .when(status == "several_cbsas").then(
            pl.concat_str([pl.lit("G3: ZIP "), pl.col("zip5"), pl.lit(
                " maps to several CBSAs and zip_cbsa.csv has no res_ratio (eligibility.multi_cbsa_zip = unknown)")]))
        .otherwise(None))


def eligibility(tin_npis: pl.DataFrame, specialty: pl.DataFrame, location: pl.DataFrame,
                attributed: pl.DataFrame, case_minimum: int, p: EligibilityParams) -> pl.DataFrame:
    """G1-G4 per TIN/NPI. `attributed`: tin, npi, cohort, attributed_episodes (R5 count, per cohort).

    eligible_location (G1-G3) = specialty in a cohort and location selected (or unknown for everyone
    because the geography files were not supplied);
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
        .when(location_reason().is_not_null()).then(location_reason())
        .when(pl.col("attributed_episodes") < case_minimum).then(
            pl.concat_str([pl.lit("G4: "), pl.col("attributed_episodes").cast(pl.Utf8),
                           pl.lit(f" attributed episodes < {case_minimum}")]))
        .otherwise(None)
    )
    out = out.with_columns(reason.alias("reason")).with_columns(
        (pl.col("cohort").is_not_null() & pl.col("location_status").is_in(ELIGIBLE_LOCATIONS)).alias("eligible_location"),
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
