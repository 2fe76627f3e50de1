"""The methodology schema: every rule parameter declared once, with its type, range and description
(rule id of ../shared/spec/asm-methodology.md and whether it is [CMS] or [DEFAULT]), grouped in one
frozen pydantic model per section, and the cross-field rules between them.

Loading (the TOML files, overrides, one-line errors) is in `loading`; the generated reference
(docs/methodology-parameters.md) is in `docs`.
"""
from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator,
                      model_validator)
from pydantic_core import PydanticCustomError

from pipelines.engine.reference import SERVICE_CATEGORIES

PERFORMANCE_YEARS = (2027, 2028, 2029, 2030, 2031)
DEFAULT_PERFORMANCE_YEAR = PERFORMANCE_YEARS[0]  # the PY a run scores unless told otherwise


def _show(value: Any) -> str:
    """A value as it would be written in TOML (one line)."""
    return json.dumps(value, default=str, ensure_ascii=False)



# ---------------------------------------------------------------------------------- value types

Cohort = Literal["HF", "LBP"]
ServiceCategory = Literal[tuple(SERVICE_CATEGORIES)]  # C3: the categories of pipelines.engine.reference
HccModel = Literal["CMS-HCC Model V22", "CMS-HCC Model V24", "CMS-HCC Model V28",
                   "CMS-HCC ESRD Model V21", "CMS-HCC ESRD Model V24"]
QuantileMethod = Literal["linear", "lower", "higher", "nearest", "midpoint"]  # Polars quantile interpolation
TieBreakColumn = Literal["confirming_date", "trigger_tin", "trigger_npi", "trigger_claim_control_number",
                         "trigger_line_number", "trigger_claim_id"]

Code1 = Annotated[str, StringConstraints(pattern=r"^[0-9]$")]
Code2 = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]
SpecialtyCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{2}$")]
BetosLetter = Annotated[str, StringConstraints(pattern=r"^[A-Z]$")]
MeasureId = Annotated[str, StringConstraints(pattern=r"^Q[0-9]{3}$")]
Icd10Prefix = Annotated[str, StringConstraints(pattern=r"^[A-Z][0-9A-Z]{1,6}$")]
Answer = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]+$")]
Share = Annotated[float, Field(ge=0, le=1)]
Points = Annotated[float, Field(ge=0, le=10)]
Age = Annotated[int, Field(ge=0, le=120)]
Days = Annotated[int, Field(ge=1, le=3650)]
Hcpcs = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{5}$")]


def _unique(items: list) -> list:
    seen = set()
    for x in items:
        if x in seen:
            raise ValueError(f"must not repeat {_show(x)}")
        seen.add(x)
    return items


Unique = AfterValidator(_unique)


def P(rule: str, tag: Literal["CMS", "DEFAULT"], text: str, *, check: str | None = None, **constraints: Any) -> Any:
    """A required parameter documented once: '<rule> [<tag>] <text>'; `check` states a cross-field rule."""
    extra: dict[str, Any] = {"rule": rule, "tag": tag}
    if check:
        extra["check"] = check
    return Field(description=f"{rule} [{tag}] {text}", json_schema_extra=extra, **constraints)


def _cross(keys: tuple[str, ...], message: str) -> PydanticCustomError:
    """A cross-field error naming the keys involved (relative to the model that raises it)."""
    return PydanticCustomError("cross_field", "{message}", {"message": message, "keys": ",".join(keys)})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# ---------------------------------------------------------------------------------- sections

class IngestParams(_Section):
    """Claim preparation (N1-N6) and the bad-input limit of the data contracts."""

    quarantine_max_rate: float = P(
        "Bad input (data-contracts)", "DEFAULT",
        "Refuse to continue when a file quarantines more than this share of its rows.", ge=0, le=1)
    default_standardization_factor: float = P(
        "N5", "DEFAULT",
        "Payment standardization factor applied to net allowed amounts when no standardization_factors.csv "
        "is supplied (1.0: the output says 'allowed, not standardized').", gt=0)
    delivery_check_min_lines: int = P(
        "Bad input (data-contracts)", "DEFAULT",
        "A Part B delivery is checked for implausible content (the delivery_* limits below) when it has at "
        "least this many readable original or adjustment lines; smaller files are not judged.", ge=1)
    delivery_max_negative_allowed_share: float = P(
        "Bad input (data-contracts)", "DEFAULT",
        "A delivery whose original or adjustment lines carry a negative allowed amount more often than this "
        "share stops the run (cancels are the negative versions).", ge=0, le=1)
    delivery_max_amount_ratio: float = P(
        "Bad input (data-contracts)", "DEFAULT",
        "A delivery whose median allowed amount is more than this many times, or less than 1 / this of, the "
        "median over the other Part B deliveries stops the run (amounts shifted by orders of magnitude).",
        gt=1)
    # issue 21 item 1: an absolute gate, so that an error shared by every delivery (x100) is seen too
    em_allowed_codes: Annotated[list[Hcpcs], Unique, Field(min_length=1)] = P(
        "Bad input (data-contracts)", "DEFAULT",
        "The commonest E&M codes (established-patient office visits) whose median allowed amount in each Part "
        "B delivery is held against em_allowed_band.")
    em_allowed_band: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=2, max_length=2)] = P(
        "Bad input (data-contracts)", "DEFAULT",
        "Plausible dollars [low, high] of that median (Medicare allows about $90 for 99213, $130 for 99214, "
        "$180 for 99215): a delivery outside it stops the run (cents read as dollars look 100x too large); "
        "`asm run --accept-amounts` accepts it.", check="low < high")
    em_check_min_lines: int = P(
        "Bad input (data-contracts)", "DEFAULT",
        "A delivery's E&M median is judged when it has at least this many lines of em_allowed_codes.", ge=1)
    # issue 21 item 2: completeness of the monthly deliveries
    incomplete_min_share: float = P(
        "Bad input (data-contracts)", "DEFAULT",
        "A delivery month whose line count is below this share of the median of its neighbouring months' "
        "(up to two before and two after, same layout) stops the run; judged when that median is at least "
        "delivery_check_min_lines. `asm run --accept-incomplete` accepts a named file or month.", gt=0, lt=1)
    incomplete_min_neighbour_lines: int = P(
        "Bad input (data-contracts)", "DEFAULT",
        "A claims delivery with no rows, or none loaded (every line excluded), or a month missing before it, "
        "stops the run when the median of its neighbouring months' lines is at least this (a layout's only "
        "delivery is judged for rows too): a small population's empty or undelivered Part A month is not an "
        "alarm.", ge=1)

    @model_validator(mode="after")
    def _band(self) -> IngestParams:
        low, high = self.em_allowed_band
        if not low < high:
            raise _cross(("em_allowed_band",), f"must be [low, high] with low < high ({low:g} >= {high:g})")
        return self


class RiskParams(_Section):
    """Risk adjustment (R1-R3)."""

    hcc_model: HccModel = P(
        "R1", "DEFAULT",
        "CMS-HCC model of the maintained hccinfhir library used for the condition flags and the "
        "beneficiary risk score (HCC-based adjustment is CMS; the model is DEFAULT).")
    lookback_days: int = P(
        "R1", "DEFAULT",
        "Diagnoses from this many days before the episode start (start - N .. start - 1) feed the HCCs.",
        ge=1, le=3650)
    age_band_lower_bounds: Annotated[list[Age], Unique] = P(
        "R1", "DEFAULT",
        "Age bands: lower bounds in years at the episode start (<65, 65-69, 70-74, 75-79, 80-84, 85+).",
        check="starts at 0, strictly increasing", min_length=1)
    min_episodes_per_hcc_flag: int = P(
        "R1", "DEFAULT",
        "An HCC enters the cost model as a flag only when at least this many fitted episodes have it.", ge=1)
    min_episodes_to_fit: int = P(
        "R2", "DEFAULT",
        "Fewer fitted (closed, non-excluded) episodes than this in a cohort and PY: expected cost = "
        "cohort mean.", ge=1)
    prediction_floor_share_of_mean: float = P(
        "R2", "DEFAULT",
        "Predictions are floored at this share of the mean observed (winsorized) cost, then rescaled so "
        "that mean expected = mean observed.", ge=0, le=1)
    specialty_adjusted_cohorts: Annotated[list[Cohort], Unique] = P(
        "R3", "CMS",
        "Cohorts whose expected cost is multiplied by the specialty's observed/expected ratio (the "
        "specialty of an episode is the G1 specialty of its trigger NPI; the O/E form is DEFAULT).")
    dual_status_codes: Annotated[list[Code2], Unique] = P(
        "R1", "DEFAULT",
        "BENE_DUAL_STUS_CD values that make a beneficiary dual eligible (R1 covariate, S4 dual share).",
        min_length=1)
    disabled_medicare_status_codes: Annotated[list[Code2], Unique] = P(
        "R1", "DEFAULT",
        "BENE_MDCR_STUS_CD values meaning entitlement by disability (20 disabled, 21 disabled with ESRD).",
        min_length=1)
    esrd_medicare_status_codes: Annotated[list[Code2], Unique] = P(
        "R1", "DEFAULT",
        "BENE_MDCR_STUS_CD values meaning ESRD (11 aged with ESRD, 21 disabled with ESRD, 31 ESRD only); "
        "a beneficiary has ESRD when its status is one of these or its original entitlement reason is in "
        "esrd_original_entitlement_codes.", min_length=1)
    esrd_original_entitlement_codes: Annotated[list[Code1], Unique] = P(
        "R1", "DEFAULT",
        "BENE_ORGNL_ENTLMT_RSN_CD values that mean ESRD (2 ESRD, 3 disability and ESRD).", min_length=1)
    missing_demographics_age: int = P(
        "R1", "DEFAULT",
        "Age passed to the HCC library for a beneficiary without age or sex: its HCC flags are still "
        "computed, its risk score stays null.", ge=0, le=120)
    missing_demographics_sex: Literal["F", "M"] = P(
        "R1", "DEFAULT", "Sex passed to the HCC library for a beneficiary without age or sex (see "
        "missing_demographics_age).")

    @field_validator("age_band_lower_bounds")
    @classmethod
    def _bands(cls, v: list[int]) -> list[int]:
        if v[0] != 0:
            raise ValueError("must start at 0")
        if any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError("must be strictly increasing")
        return v


class BenchmarkParams(_Section):
    """Cost case minimum (R5), peer pool (B1) and cost points (B3)."""

    case_minimum: int = P(
        "R5", "CMS",
        "Attributed (closed, non-excluded) episodes a participant needs to be scored on cost (also G4 and "
        "the B1 peer pool).", ge=1)
    threshold_sd_multiples: list[float] = P(
        "B3", "CMS",
        "Thresholds T_k = median + multiple_k x sample SD of the pool's cost measure scores, k = 1..10.",
        check="strictly decreasing", min_length=10, max_length=10)
    partial_point_span: float = P(
        "B3", "CMS",
        "For T(k+1) < c <= T(k): points = k + span x (T(k) - c) / (T(k) - T(k+1)) (linear interpolation).",
        ge=0, le=1)
    points_above_t1: float = P("B3", "CMS", "Points of a cost measure score c > T1.", ge=0, le=10)
    points_at_or_below_t10: float = P(
        "B3", "CMS", "Points of a cost measure score c <= T10.", check=">= points_above_t1", ge=0, le=10)
    small_pool_participants: int = P(
        "B1", "DEFAULT",
        "A peer pool with fewer participants than this is reported as small (reports, metadata; V2/V4).",
        ge=1)
    degenerate_median_points: float = P(
        "B3", "DEFAULT",
        "SD = 0 or undefined (pool < 2): points of a score equal to the median.", ge=0, le=10)
    degenerate_above_median_points: float = P(
        "B3", "DEFAULT",
        "SD = 0 or undefined: points of a score above the median (worse).",
        check="<= degenerate_median_points", ge=0, le=10)
    degenerate_below_median_points: float = P(
        "B3", "DEFAULT",
        "SD = 0 or undefined: points of a score below the median (better).",
        check=">= degenerate_median_points", ge=0, le=10)

    @field_validator("threshold_sd_multiples")
    @classmethod
    def _decreasing(cls, v: list[float]) -> list[float]:
        if any(b >= a for a, b in zip(v, v[1:])):
            raise ValueError("must be strictly decreasing (T1 highest .. T10 lowest)")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> BenchmarkParams:
        if self.points_at_or_below_t10 < self.points_above_t1:
            raise _cross(("points_at_or_below_t10", "points_above_t1"),
                         f"must not be below points_above_t1 ({self.points_at_or_below_t10} < {self.points_above_t1})")
        if not (self.degenerate_above_median_points <= self.degenerate_median_points
                <= self.degenerate_below_median_points):
            raise _cross(("degenerate_above_median_points", "degenerate_median_points",
                          "degenerate_below_median_points"),
                         "must satisfy above <= median <= below (a lower cost earns more points)")
        return self


class QualityParams(_Section):
    """Quality measures and points (Q1-Q7, S6). A measure submitted through several collection types (or at
    TIN and NPI level) keeps its best points (Q5/Q7 [DEFAULT])."""

    required_measures: dict[Cohort, Annotated[list[MeasureId], Unique, Field(min_length=1)]] = P(
        "Q1", "CMS",
        "Required measures by cohort. The LBP claims-based imaging measure is not defined by CMS yet "
        "(not listed).", min_length=1)
    not_scored_measures: Annotated[list[MeasureId], Unique] = P(
        "Q7", "DEFAULT", "Required measures that never count in Q7 (the category divides by the others).",
        check="each a required measure")
    part_a_measures: Annotated[list[MeasureId], Unique] = P(
        "Q6", "DEFAULT",
        "Measures computed from Part A claims: without Part A (0 parta_claims rows) they are not scored "
        "(Q7 divides by the remaining measures) and the reports say so; with Part A, submitted rows for "
        "them are replaced by the computed measure.", check="each a required measure")
    lower_is_better: Annotated[list[MeasureId], Unique] = P(
        "Q1", "CMS", "Measures where a lower rate is better (deciles compare negated rates).",
        check="each a required measure")
    min_data_completeness: float = P(
        "Q3", "CMS", "Data completeness below this earns 0 points.", ge=0, le=1)
    min_cases: int = P("Q4", "CMS", "Fewer cases (met + not met) than this earns 0 points.", ge=0)
    decile_quantile_method: QuantileMethod = P(
        "Q5", "DEFAULT",
        "Decile boundaries d1..d9 are the 10%..90% quantiles of the passing (oriented) rates, with this "
        "interpolation (Polars quantile).")
    decile_boundary_goes_to: Literal["better", "worse"] = P(
        "Q5", "CMS", "Decile of a rate equal to a decile boundary (tied boundaries push it past all of them).")
    partial_point_span: float = P(
        "Q5", "DEFAULT", "Points in decile d = d + span x position within the decile (0..1).", ge=0, le=1)
    decile_10_points: float = P("Q5", "DEFAULT", "Points of a rate in decile 10 (no partial point).",
                                ge=0, le=10)
    claims_collection_types: Annotated[list[str], Unique] = P(
        "S6", "CMS", "Collection types that do not count as a non-claims quality submission.")
    cms_measures_file: str = P(
        "Q2", "CMS",
        "CMS's MIPS measure file (columns measure_id, submission_methods; relative to the repository root, "
        "or absolute): a submitted row whose collection type the measure does not have is refused "
        "(electronicHealthRecord = ecqm, registry = mips_cqm, claims = claims). A newer CMS file of the same "
        "shape can be configured per PY.", min_length=1)

    @model_validator(mode="after")
    def _known_measures(self) -> QualityParams:
        required = {m for ms in self.required_measures.values() for m in ms}
        for key in ("not_scored_measures", "part_a_measures", "lower_is_better"):
            unknown = [m for m in getattr(self, key) if m not in required]
            if unknown:
                raise _cross((key,), f"{', '.join(unknown)} is not a required measure "
                                     f"(quality.required_measures: {', '.join(sorted(required))})")
        return self


class AdmissionParams(_Section):
    """The claims-based admission measure computed from Part A (Q6)."""

    measure_id: MeasureId = P(
        "Q6", "DEFAULT",
        "Measure computed as unplanned cardiovascular admissions per person-years of attributed episodes.",
        check="a required measure of `cohort`")
    cohort: Cohort = P("Q6", "DEFAULT", "Cohort whose attributed episodes the admission measure covers.")
    collection_type: str = P("Q5", "DEFAULT", "Collection type under which the computed measure is scored "
                             "on deciles like the other measures.", min_length=1)
    claim_types: Annotated[list[Code2], Unique] = P(
        "Q6", "DEFAULT", "Part A claim types that are inpatient admissions (CCLF1 CLM_TYPE_CD 60).",
        min_length=1)
    planned_admission_types: Annotated[list[Code1], Unique] = P(
        "Q6", "DEFAULT",
        "CLM_ADMSN_TYPE_CD values that make an admission planned (3 = elective); blank counts as unplanned.")
    cardiovascular_dx_range: list[Icd10Prefix] = P(
        "Q6", "DEFAULT",
        "Cardiovascular principal diagnosis: on the HF diagnosis list (valid on the from date) or inside "
        "this ICD-10 range [lo, hi], compared on the leading characters with dots removed.",
        check="lo <= hi", min_length=2, max_length=2)
    per_person_years: float = P("Q6", "DEFAULT", "Rate unit: admissions per this many person-years.", gt=0)
    days_per_year: float = P(
        "Q6", "DEFAULT", "Person-years of an episode = (end - start + 1) / this.", ge=365, le=366)
    min_episodes_to_fit: int = P(
        "Q6", "DEFAULT",
        "Expected admissions: weighted least squares of the episode rate on the R1 covariates (R2 design); "
        "fewer scored episodes than this: expected = cohort rate x person-years.", ge=1)
    prediction_floor_share: float = P(
        "Q6", "DEFAULT",
        "Predicted rates are floored at this share of the cohort rate, then rescaled so that expected = "
        "observed in total.", ge=0, le=1)

    @field_validator("cardiovascular_dx_range")
    @classmethod
    def _range(cls, v: list[str]) -> list[str]:
        if v[0] > v[1]:
            raise ValueError(f"lower end {_show(v[0])} is after upper end {_show(v[1])}")
        return v


class ScoringParams(_Section):
    """Final score (S1-S6)."""

    quality_weight: float = P("S1", "CMS", "Weight of the quality category score.", ge=0, le=1)
    cost_weight: float = P("S1", "CMS", "Weight of the cost category score.",
                           check="quality_weight + cost_weight = 1", ge=0, le=1)
    ia_adjustment_both: float = P("S2", "CMS", "Improvement-activity adjustment when both activities are "
                                  "done.", ge=-100, le=0)
    ia_adjustment_one: float = P("S2", "CMS", "Improvement-activity adjustment when one activity is done.",
                                 check="<= ia_adjustment_both", ge=-100, le=0)
    ia_adjustment_none: float = P("S2", "CMS", "Improvement-activity adjustment when neither is done "
                                  "(answering N to both is an attestation; blank answers are not).",
                                  check="<= ia_adjustment_one", ge=-100, le=0)
    ia_done_answers: Annotated[list[Answer], Unique] = P(
        "S2", "DEFAULT",
        "Attestation answers (trimmed, upper-cased) that mean an improvement activity was done.", min_length=1)
    ia_not_done_answers: Annotated[list[Answer], Unique] = P(
        "S2", "DEFAULT",
        "Attestation answers (trimmed, upper-cased) that mean an activity was not done; a blank answer is "
        "no attestation (S6 fails) and any other answer is refused (one-line error naming the row).",
        check="disjoint from ia_done_answers", min_length=1)
    pi_divisor: float = P("S3", "CMS", "Promoting-interoperability adjustment = -(100 - score) / this.", gt=0)
    pi_not_reported: float = P("S3", "CMS", "Promoting-interoperability adjustment when not reported.",
                               ge=-100, le=0)
    complex_bonus_cap: float = P("S4", "CMS", "Complex-patient bonus cap.", ge=0, le=100)
    complex_bonus_slope: float = P(
        "S4", "DEFAULT",
        "Complex-patient bonus = min(cap, slope x (p - 0.5)), p = highest percentile rank (share of the "
        "cohort's peer pool at or below the value) among the indicators above the cohort median.", ge=0)
    solo_bonus: float = P("S5", "CMS", "Small-practice bonus of a solo practice (1 clinician in the TIN).",
                          ge=0, le=100)
    small_practice_bonus: float = P("S5", "CMS", "Small-practice bonus for 2 .. small_practice_max_clinicians "
                                    "clinicians.", ge=0, le=100)
    small_practice_max_clinicians: int = P(
        "S5", "CMS", "Largest practice (clinicians in the TIN) that is small (S5 bonus, Q2 TIN-level rows).",
        ge=2)
    final_score_min: float = P("S1", "CMS", "Final score clamp, lower end.", ge=0, le=100)
    final_score_max: float = P("S1", "CMS", "Final score clamp, upper end.", check="> final_score_min",
                               ge=0, le=100)

    @model_validator(mode="after")
    def _consistent(self) -> ScoringParams:
        total = self.quality_weight + self.cost_weight
        if abs(total - 1.0) > 1e-9:
            raise _cross(("quality_weight", "cost_weight"),
                         f"must sum to 1 ({self.quality_weight} + {self.cost_weight} = {total:g})")
        if not self.ia_adjustment_both >= self.ia_adjustment_one >= self.ia_adjustment_none:
            raise _cross(("ia_adjustment_both", "ia_adjustment_one", "ia_adjustment_none"),
                         "must satisfy both >= one >= none")
        both = sorted(set(self.ia_done_answers) & set(self.ia_not_done_answers))
        if both:
            raise _cross(("ia_not_done_answers", "ia_done_answers"), f"{', '.join(both)} is in both lists")
        if self.final_score_max <= self.final_score_min:
            raise _cross(("final_score_max", "final_score_min"), "final_score_max must be > final_score_min")
        return self


class PaymentParams(_Section):
    """Payment adjustment (P1-P3)."""

    risk_level: float = P("P1", "CMS", "Payment risk level r of the PY (set per PY).", ge=0, le=1)
    logistic_k: float = P("P2", "DEFAULT", "Slope k of T = 1 / (1 + exp(-k (FS - c))), per point.", gt=0)
    logistic_c: float = P("P2", "DEFAULT", "Centre c of the logistic exchange function (final-score points).",
                          ge=0, le=100)
    payback_share: float = P("P3", "CMS", "Share of the pool r x sum(B) paid back (1 - this is withheld).",
                             ge=0, le=1)


class EligibilityParams(_Section):
    """Who is in ASM (G1-G3)."""

    reference_year_offset: int = P(
        "G1", "CMS",
        "Specialty reference year = PY - this (plurality of Part B lines; ties: larger allowed amount, then "
        "the lower code [DEFAULT]).", ge=0, le=10)
    cohort_specialties: dict[Cohort, Annotated[list[SpecialtyCode], Unique, Field(min_length=1)]] = P(
        "G2", "CMS", "Medicare specialty codes per cohort.", check="a code belongs to one cohort", min_length=1)
    zip_source_priority: Annotated[list[Literal["claims", "providers"]], Unique] = P(
        "G3", "DEFAULT",
        "Where an NPI's ZIP comes from, first found wins: \"claims\" = most frequent PRVDR_ZIP in the "
        "reference year (ties: lower ZIP), \"providers\" = providers.csv.", min_length=1)
    multi_cbsa_zip: Literal["lowest_cbsa_code", "unknown", "refuse"] = P(
        "G3", "DEFAULT",
        "A ZIP that maps to several CBSAs in a zip_cbsa.csv WITHOUT a res_ratio column (with it, the largest "
        "residential share wins, ties: the lower code): \"lowest_cbsa_code\" = the lowest CBSA code, "
        "\"unknown\" = location unknown (the clinician is not eligible, G3, with the reason), \"refuse\" = "
        "a one-line error naming the ZIP.")

    @field_validator("cohort_specialties")
    @classmethod
    def _one_cohort(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        seen: dict[str, str] = {}
        for cohort, codes in v.items():
            for code in codes:
                if code in seen:
                    raise ValueError(f"specialty {code} is in both {seen[code]} and {cohort}")
                seen[code] = cohort
        return v


class EpisodeParams(_Section):
    """Episodes (E1-E4, X1) and the reference lists (L)."""

    code_list_dir: str = P(
        "L", "DEFAULT",
        "Folder of the versioned code-list CSVs (relative to the repository root, or absolute); a code "
        "counts on a service date inside [valid_from, valid_to] (columns: code, description, cohort, list_name, "
        "valid_from, valid_to, service_group), so an ICD-10 update is a data change.",
        min_length=1)
    qualifying_claim_types: Annotated[list[Code2], Unique] = P(
        "E1", "CMS", "Claim types whose lines can qualify (71 = Part B professional, non-DMEPOS).", min_length=1)
    confirming_window_days: dict[Cohort, Days] = P(
        "E2", "CMS", "Confirming window per cohort: 1 <= confirming date - trigger date <= window (days).",
        min_length=1)
    pair_scope: Literal["npi", "tin"] = P(
        "E2", "CMS",
        "\"npi\" = trigger and confirming line billed by the same TIN and NPI (the model's public "
        "descriptions); \"tin\" = same TIN (alternative setting).")
    trigger_tie_break: Annotated[list[TieBreakColumn], Unique] = P(
        "E2", "DEFAULT",
        "Among trigger/confirming pairs with the same trigger day, the pair kept is the first in this "
        "order (ascending; a missing NPI sorts first).", check="starts with confirming_date (E2: the "
        "earliest confirming line)", min_length=1)
    episode_days: int = P(
        "E3", "CMS", "Episode length in days, inclusive of both ends (end = start + days - 1), cut at death.",
        ge=1, le=3650)
    min_age_years: int = P(
        "X1", "DEFAULT", "Beneficiaries younger than this on the trigger date are excluded (needs demographics).",
        ge=0, le=120)

    @field_validator("trigger_tie_break")
    @classmethod
    def _confirming_first(cls, v: list[str]) -> list[str]:
        if v[0] != "confirming_date":
            raise ValueError("must start with \"confirming_date\" (E2: the confirming line is the earliest one)")
        return v


class AttributionParams(_Section):
    """Attribution (A1-A3)."""

    basis: Literal["qualifying_lines", "assigned_lines", "assigned_allowed"] = P(
        "A1", "DEFAULT",
        "Share basis: \"qualifying_lines\" (E1 lines, any biller, in the window), \"assigned_lines\" (C1 "
        "Part B lines) or \"assigned_allowed\" (net allowed amount of C1 Part B lines).")
    threshold: float = P(
        "A2", "CMS", "A participant is attributed an episode when its share >= this (inclusive); A3 (TIN "
        "level) uses it too.", gt=0, le=1)


class CostParams(_Section):
    """Episode cost (C1-C4)."""

    institutional_claim_types: dict[Code2, ServiceCategory] = P(
        "C1", "DEFAULT", "Part A claim types that are institutional stays or services, with their C3 category.")
    post_acute_claim_types: Annotated[list[Code2], Unique] = P(
        "C1", "DEFAULT", "Post-acute Part A claim types (20 SNF, 30 SNF swing bed, 10 home health).")
    post_acute_days: int = P(
        "C1", "DEFAULT",
        "Post-acute claims count when they start 0..N days after discharge from an assigned inpatient stay.",
        ge=0, le=3650)
    betos_category: dict[BetosLetter, ServiceCategory] = P(
        "C3", "DEFAULT",
        "Service category from the first letter of HCPCS_BETOS_CD; lines without BETOS use "
        "service_categories.csv (HCPCS ranges, narrowest wins); anything else is \"other\".")
    early_imaging_days: int = P(
        "C3", "DEFAULT", "\"Advanced imaging early\" driver: LBP advanced imaging on days 0..N-1 of the episode.",
        ge=1, le=3650)
    winsor_percentile: float = P(
        "C4", "DEFAULT",
        "Observed cost is winsorized at this percentile of the cohort's closed, non-excluded episodes of the "
        "same PY (raw cost is kept).", gt=0, le=1)
    winsor_interpolation: Literal["linear", "discrete"] = P(
        "C4", "DEFAULT",
        "Percentile interpolation of the winsor cap: \"linear\" (DuckDB quantile_cont) or \"discrete\" "
        "(quantile_disc, an observed value).")
    # issue 21 item 1: the cohort's mean episode cost against CMS's national average (projection.cost_*)
    reference_max_factor: float = P(
        "Bad input (data-contracts)", "DEFAULT",
        "A cohort whose mean winsorized cost of scorable episodes (closed, not excluded, per PY) is more than "
        "this many times, or less than 1 / this of, CMS's national average cost of the cohort's MIPS cost "
        "measure (projection.cost_averages_file) stops the run; `asm run --accept-amounts` accepts it.", gt=1)
    reference_check_min_episodes: int = P(
        "Bad input (data-contracts)", "DEFAULT",
        "A cohort and PY is judged against the national average when it has at least this many such "
        "episodes.", ge=1)


class ProjectionParams(_Section):
    """Projection against CMS's published MIPS benchmarks before the national pool exists (V1-V4)."""

    quality_benchmarks_file: str = P(
        "V1", "DEFAULT",
        "CMS MIPS quality benchmarks (percentiles p1..p99 per measure, submission method and MIPS PY; relative to "
        "the repository root, or absolute). A newer CMS file of the same columns can replace it.", min_length=1)
    cost_averages_file: str = P(
        "V2", "DEFAULT",
        "CMS MIPS national average costs per cost measure and MIPS PY (relative to the repository root, or "
        "absolute).", min_length=1)
    submission_methods: dict[str, str] = P(
        "V1", "DEFAULT",
        "CMS submission method of each collection type of quality_submissions.csv (eCQM = electronicHealthRecord, "
        "MIPS CQM = registry).", min_length=1)
    computed_measure_method: str = P(
        "V1", "DEFAULT",
        "CMS submission method of the measures computed from Part A claims (quality.part_a_measures, Q492).",
        min_length=1)
    percent_metric_types: Annotated[list[str], Unique] = P(
        "V1", "DEFAULT",
        "CMS metric types whose percentiles are in percent (a rate of 0.7419 is compared as 74.19); other types "
        "(costScore: Q492 per 100 person-years) are compared in their own unit.")
    cost_measures: dict[Cohort, str] = P(
        "V2", "DEFAULT", "CMS MIPS cost measure whose national average centres each cohort's reference "
        "distribution.", min_length=1)
    cost_average_column: Literal["individual_national_average", "group_national_average"] = P(
        "V2", "DEFAULT", "Column of the national average cost file used (participants are TIN/NPI clinicians).")
    default_cost_cv: float = P(
        "V2", "DEFAULT",
        "Coefficient of variation of cost measure scores (SD / national average) used for the spread when the "
        "run's peer pool is smaller than benchmarks.small_pool_participants.", gt=0, le=5)
    default_median_mean_ratio: float = P(
        "V2", "DEFAULT",
        "Ratio median / mean of cost measure scores that turns CMS's national average (a mean) into the reference "
        "distribution's median when the run's peer pool is smaller than benchmarks.small_pool_participants (a pool "
        "at the limit uses its own median / mean).", gt=0, le=2)
    open_episode_min_share: float = P(
        "V5", "DEFAULT",
        "Smallest share of a full window's cost (the cohort's cost-by-episode-day curve of closed episodes) by "
        "which an open episode's cost to date is divided to project its full cost; an episode younger than that "
        "point is projected at the cohort's mean cost of closed episodes instead.", gt=0, lt=1)
    annualize_partb_paid: bool = P(
        "V5", "DEFAULT",
        "In-year runs: the projected figure's dollars use the participant's Part B paid to date scaled to the "
        "whole PY (x days in the PY / days of the PY covered by the data); the pool-based figure keeps the paid "
        "amount to date.")
    bootstrap_draws: int = P(
        "V3", "DEFAULT", "Bootstrap draws over the peer pool, the participant's own episodes and its quality rates.",
        ge=20, le=100000)
    bootstrap_sources: Annotated[list[Literal["own_episodes", "quality_rates", "peer_pool"]], Unique] = P(
        "V3", "DEFAULT",
        "What each bootstrap draw resamples: \"own_episodes\" (the participant's episodes: its cost measure score "
        "and, for HF, its Q492 rate from the same resample), \"quality_rates\" (its submitted rates, binomial on "
        "its case count), \"peer_pool\" (the pool's participants: cost and quality benchmarks, S re-solved by "
        "P3). A source left out is held at the run's value; none gives intervals of zero width.")
    interval_level: float = P(
        "V3", "DEFAULT", "Central interval level of the projected figures (0.8: the 10th to 90th percentile of "
        "the draws).", gt=0, lt=1)
    seed: int = P("V3", "DEFAULT", "Seed of the bootstrap: the same inputs give the same intervals.", ge=0)
    lead: Literal["auto", "pool", "projection"] = P(
        "V4", "DEFAULT",
        "Figure a report leads with: \"auto\" = the pool-based score when the cohort's peer pool has at least "
        "benchmarks.small_pool_participants participants, the projection otherwise; both are always shown.")


class SteeringParams(_Section):
    """What to fix (improvement_levers) and `asm whatif` (issue 18). Levers are re-scored with the scoring
    functions holding the pool's benchmarks (B2, Q5) and the scaling factor S (P3) at the run's values."""

    excess_cost_episodes: int = P(
        "R4", "DEFAULT", "Attributed scored episodes with the largest excess cost (winsorized observed - expected) "
        "listed as levers per participant, each priced at its expected cost.", ge=0, le=100)
    admissions_removed_first: Literal["earliest", "costliest"] = P(
        "Q6", "DEFAULT", "asm whatif 'N fewer admissions': which qualifying admissions of the clinicians' attributed "
        "HF episodes are removed (\"earliest\" admission date first, or \"costliest\" inpatient payment first); "
        "their inpatient and linked post-acute cost leaves the episodes' cost (the C4 cap held).")


class MethodologyParams(_Section):
    """Every parameter in force for one performance year ([defaults] merged with [performance_year.<PY>])."""

    ingest: IngestParams = Field(description="N1-N6, data contracts")
    risk: RiskParams = Field(description="R1-R3")
    benchmarks: BenchmarkParams = Field(description="R5, B1-B4")
    quality: QualityParams = Field(description="Q1-Q7")
    admissions: AdmissionParams = Field(description="Q6")
    scoring: ScoringParams = Field(description="S1-S7")
    payment: PaymentParams = Field(description="P1-P4")
    eligibility: EligibilityParams = Field(description="G1-G4")
    episodes: EpisodeParams = Field(description="E1-E6, X1-X2, L")
    attribution: AttributionParams = Field(description="A1-A3")
    costs: CostParams = Field(description="C1-C4")
    projection: ProjectionParams = Field(description="V1-V4")
    steering: SteeringParams = Field(description="what to fix, what-if (S, Q, R levers)")

    @model_validator(mode="after")
    def _cohorts_agree(self) -> MethodologyParams:
        cohorts = list(self.episodes.confirming_window_days)
        for key, other in (("eligibility.cohort_specialties", self.eligibility.cohort_specialties),
                           ("quality.required_measures", self.quality.required_measures),
                           ("projection.cost_measures", self.projection.cost_measures)):
            if sorted(other) != sorted(cohorts):
                raise _cross((key, "episodes.confirming_window_days"),
                             f"cohorts differ ({', '.join(sorted(other))} vs {', '.join(sorted(cohorts))})")
        bad = [c for c in self.risk.specialty_adjusted_cohorts if c not in cohorts]
        if bad:
            raise _cross(("risk.specialty_adjusted_cohorts",), f"{', '.join(bad)} is not a configured cohort")
        a = self.admissions
        if a.cohort not in cohorts:
            raise _cross(("admissions.cohort",), f"{a.cohort} is not a configured cohort")
        if a.measure_id not in self.quality.required_measures.get(a.cohort, []):
            raise _cross(("admissions.measure_id", "admissions.cohort", "quality.required_measures"),
                         f"{a.measure_id} is not a required measure of {a.cohort}")
        return self


SECTIONS: dict[str, type[_Section]] = {
    name: f.annotation for name, f in MethodologyParams.model_fields.items()  # type: ignore[misc]
}
