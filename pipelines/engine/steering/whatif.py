"""`asm whatif` (issue 18 item 5): a scenario for one TIN (attest IA-1/IA-2, a PI score, a measure's rate or
case count, N fewer admissions, a cost category reduced by a share, a clinician leaving the TIN) applied
to the run's inputs, the stages that read them re-run in a scratch folder beside the run
(pipelines.engine.rerun; the published snapshot is never written), and the final score, payment factor
and dollars of the clinicians and the TIN concerned, before and after, each with its V3 interval.

What each change touches (then the stages re-run from the first that reads it):
  attest, pi_score, clinician_leaves (its S5 count)  practice_attestations.csv (scratch copy)    -> scoring
  measures (rate, cases)                             quality_submissions.csv (scratch copy)     -> scoring
  clinician_leaves                                   its episode_attribution and eligibility rows -> scoring
  fewer_admissions (HF, Part A)                      parta_claims without those admissions; their
                                                     inpatient and linked post-acute cost leaves
                                                     episode_costs (the C4 cap held)            -> episode_risk
  cost_reduction {category: share}                   episode_costs of the clinicians' attributed
                                                     episodes, that category x (1 - share)      -> episode_risk
then scoring (B, Q, S, P over the whole pool: S is re-solved) and projection (V1-V3). Which admissions
go first is `steering.admissions_removed_first` [DEFAULT "earliest"]. A rate change keeps the row's
case count (met = round(rate x cases)); a case count keeps its rate; a row missing for a clinician is
added as its own row (eligible population = cases). Results are participant-level; no beneficiary id
leaves the scratch folder.
"""
from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.engine import registry
from pipelines.engine.ingest.files import SIDE_FILES
from pipelines.engine.reference import SERVICE_CATEGORIES, read_code_lists, resolve_dir
from pipelines.engine.rerun import Run, run_stages, scratch_folder, scratch_settings
from pipelines.engine.scoring import admissions
from pipelines.engine.scoring.side_inputs import ATTESTATION_COLUMNS, ATTESTATIONS, QUALITY, SUBMISSION_COLUMNS
from pipelines.engine.tables import PARTICIPANT
from pipelines.engine.warehouse import OutFolder, read_frame, write_text

IA = {"IA-1": "ia1_done", "IA-2": "ia2_done"}
FIGURE_COLUMNS = ("final_score", "factor", "dollars")


class ScenarioError(Exception):
    """A scenario that cannot be applied. str() is one line naming the key and value."""


# ------------------------------------------------------------------------------ the scenario

class MeasureChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measure_id: str
    collection_type: str
    rate: Annotated[float, Field(ge=0, le=1)] | None = None
    cases: Annotated[int, Field(ge=0)] | None = None

    @field_validator("measure_id")
    @classmethod
    def _measure(cls, v: str) -> str:
        v = v.strip().upper()
        return f"Q{int(v):03d}" if v.isdigit() else v


class Scenario(BaseModel):
    """A what-if for one TIN (keys of the scenario TOML and of `asm whatif`'s options)."""
    model_config = ConfigDict(extra="forbid")
    tin: Annotated[str, Field(pattern=r"^[0-9]{9}$")]
    npi: list[Annotated[str, Field(pattern=r"^[0-9]{10}$")]] | None = None  # default: every clinician of the TIN
    attest: list[Literal["IA-1", "IA-2"]] = []
    pi_score: Annotated[float, Field(ge=0, le=100)] | None = None
    measures: list[MeasureChange] = []
    fewer_admissions: Annotated[int, Field(ge=0)] = 0
    cost_reduction: dict[str, Annotated[float, Field(ge=0, le=1)]] = {}
    clinician_leaves: Annotated[str, Field(pattern=r"^[0-9]{10}$")] | None = None

    @field_validator("cost_reduction")
    @classmethod
    def _categories(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [c for c in v if c not in SERVICE_CATEGORIES]
        if bad:
            raise ValueError(f"unknown cost category '{bad[0]}' (known: {', '.join(SERVICE_CATEGORIES)})")
        return v

    def words(self) -> str:
        parts = [f"attest {' and '.join(self.attest)}"] if self.attest else []
        if self.pi_score is not None:
            parts.append(f"PI {self.pi_score:g}")
        parts += [f"{c.measure_id} {c.collection_type}" + (f" rate {c.rate:.1%}" if c.rate is not None else "")
                  + (f" {c.cases} cases" if c.cases is not None else "") for c in self.measures]
        if self.fewer_admissions:
            parts.append(f"{self.fewer_admissions} fewer admissions")
        parts += [f"{SERVICE_CATEGORIES[c]} cost -{s:.0%}" for c, s in self.cost_reduction.items()]
        if self.clinician_leaves:
            parts.append(f"clinician {self.clinician_leaves} leaves")
        return "; ".join(parts) or "no change"

    @property
    def first_stage(self) -> str:
        return "episode_risk" if self.fewer_admissions or self.cost_reduction else "scoring"


def _one_line(exc: ValidationError, where: str) -> ScenarioError:
    e = exc.errors()[0]
    key = ".".join(str(x) for x in e["loc"]) or "scenario"
    if e["type"] == "extra_forbidden":
        return ScenarioError(f"{where}unknown key '{key}' (known: {', '.join(Scenario.model_fields)})")
    value = e.get("input")
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "literal_error":
        msg = "must be IA-1 or IA-2"
    if e["type"] == "string_pattern_mismatch":
        msg = "must be 9 digits (a TIN)" if key == "tin" else "must be 10 digits (an NPI)"
    shown = value if isinstance(value, (str, int, float)) else str(value)
    return ScenarioError(f"{where}{key} = {shown!r}: {msg}" if value is not None and not isinstance(value, dict)
                         else f"{where}{key}: {msg}")


def load_scenario(values: dict, path: Path | None = None) -> Scenario:
    """A Scenario from a TOML file's tables (`path`) merged with command-line values (they win). One-line
    ScenarioError naming the key and value."""
    where = f"scenario {path}: " if path else "scenario: "
    data: dict = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ScenarioError(f"scenario {path}: file not found") from None
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ScenarioError(f"scenario {path}: not a TOML file ({' '.join(str(exc).split())})") from None
        if "measure" in data:  # [[measure]] tables
            data["measures"] = data.pop("measure")
    for k, v in values.items():
        if v in (None, [], {}, 0) and k in data:
            continue
        if k == "measures" and v:
            data["measures"] = _merge_measures(data.get("measures", []), v)
        elif v not in (None, [], {}):
            data[k] = v
    if "tin" not in data:
        raise ScenarioError(f"{where}tin is missing (--tin or tin = \"...\")")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc, where) from None


def _merge_measures(base: list, extra: list) -> list:
    """The file's [[measure]] tables with the options' changes of the same measure and collection type."""
    def key(m: dict) -> tuple:
        mid = str(m.get("measure_id", "")).strip().upper()
        return (f"Q{int(mid):03d}" if mid.isdigit() else mid, str(m.get("collection_type", "")).strip().lower())
    out = {key(m): dict(m) for m in base if isinstance(m, dict)}
    for m in extra:
        out.setdefault(key(m), {}).update(m)
    return list(out.values())


def parse_measure_option(text: str, what: str) -> dict:
    """--measure-rate Q005:mips_cqm=0.9 / --measure-cases Q005:mips_cqm=40."""
    m = re.fullmatch(r"\s*([^:=\s]+):([^:=\s]+)=([^=\s]+)\s*", text)
    if not m:
        raise ScenarioError(f"scenario: --measure-{what} {text!r}: expected MEASURE:COLLECTION_TYPE=VALUE "
                            f"(e.g. Q005:mips_cqm=0.9)")
    try:
        value = float(m[3]) if what == "rate" else int(m[3])
    except ValueError:
        raise ScenarioError(f"scenario: --measure-{what} {text!r}: {m[3]!r} is not a "
                            f"{'number' if what == 'rate' else 'whole number'}") from None
    return {"measure_id": m[1], "collection_type": m[2].lower(), what: value}


# ------------------------------------------------------------------------------ checking it against the run

def check_against_run(sc: Scenario, run: Run) -> tuple[pl.DataFrame, list[str]]:
    """(the TIN's participant rows, the NPIs concerned). Unknown TIN, NPI or measure: ScenarioError."""
    out = OutFolder(run.out_dir)
    scores = read_frame(out.published_path("participant_scores"))
    mine = scores.filter(pl.col("tin") == sc.tin)
    if mine.height == 0:
        raise ScenarioError(f"scenario: tin = '{sc.tin}': no participant of the run bills under this TIN")
    npis = sorted(mine["npi"].unique().to_list())
    for npi in [*(sc.npi or []), *([sc.clinician_leaves] if sc.clinician_leaves else [])]:
        if npi not in npis:
            raise ScenarioError(f"scenario: npi = '{npi}': not a clinician of TIN {sc.tin} in the run "
                                f"({len(npis)} clinicians)")
    concerned = sc.npi or npis
    m = run.methodology
    cohorts = set(mine.filter(pl.col("npi").is_in(concerned))["cohort"].unique().to_list())
    measures = {x for c in cohorts for x in m.quality.required_measures.get(c, [])}
    types = list(m.projection.submission_methods)
    for change in sc.measures:
        if change.measure_id not in measures:
            raise ScenarioError(f"scenario: measures.measure_id = '{change.measure_id}': not a required measure of "
                                f"the clinicians' cohort ({', '.join(sorted(measures))})")
        if change.collection_type not in types:
            raise ScenarioError(f"scenario: measures.collection_type = '{change.collection_type}': not a collection "
                                f"type ({', '.join(types)})")
        if change.rate is None and change.cases is None:
            raise ScenarioError(f"scenario: measures {change.measure_id}: give a rate or cases")
    if sc.fewer_admissions and "HF" not in cohorts:
        raise ScenarioError(f"scenario: fewer_admissions = {sc.fewer_admissions}: the clinicians concerned have no "
                            "HF episodes (Q6 admissions are HF)")
    return mine, concerned


# ------------------------------------------------------------------------------ changed inputs

def _raw_csv(path: Path, columns: list[str]) -> pl.DataFrame:
    if path.is_file():
        return pl.read_csv(path, infer_schema=False, glob=False)
    return pl.DataFrame(schema={c: pl.Utf8 for c in columns})


def changed_attestations(sc: Scenario, run: Run, mine: pl.DataFrame) -> pl.DataFrame | None:
    """practice_attestations.csv with the TIN's row changed (added when missing)."""
    if not (sc.attest or sc.pi_score is not None or sc.clinician_leaves):
        return None
    py = str(run.methodology.performance_year)
    raw = _raw_csv(run.input_dir / ATTESTATIONS, ATTESTATION_COLUMNS)
    if "clinician_count" not in raw.columns:
        raw = raw.with_columns(pl.lit(None, pl.Utf8).alias("clinician_count"))
    norm = {c: c.strip().lower() for c in raw.columns}
    raw = raw.rename(norm)
    is_row = (pl.col("tin").str.strip_chars() == sc.tin) & (pl.col("performance_year").str.strip_chars() == py)
    if raw.filter(is_row).height == 0:
        raw = pl.concat([raw, pl.DataFrame([{c: None for c in raw.columns} | {"performance_year": py, "tin": sc.tin}],
                                           schema={c: pl.Utf8 for c in raw.columns})])
    done, not_done = run.methodology.scoring.ia_done_answers[0], run.methodology.scoring.ia_not_done_answers[0]
    blank = lambda c: pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "")  # noqa: E731
    sets = []
    for ia, col in IA.items():
        if ia in sc.attest:
            sets.append(pl.when(is_row).then(pl.lit(done)).otherwise(pl.col(col)).alias(col))
        elif sc.attest:  # S2: the other answer blank -> N (answering N is an attestation)
            sets.append(pl.when(is_row & blank(col)).then(pl.lit(not_done)).otherwise(pl.col(col)).alias(col))
    if sc.pi_score is not None:
        sets.append(pl.when(is_row).then(pl.lit(f"{sc.pi_score:g}")).otherwise(pl.col("pi_score")).alias("pi_score"))
    if sc.clinician_leaves:  # S5: the TIN's clinician count one lower
        count = int(mine["clinician_count"].drop_nulls().max() or 1)
        sets.append(pl.when(is_row).then(pl.lit(str(max(count - 1, 1)))).otherwise(pl.col("clinician_count"))
                    .alias("clinician_count"))
    return raw.with_columns(sets) if sets else raw


def changed_submissions(sc: Scenario, run: Run, concerned: list[str]) -> pl.DataFrame | None:
    """quality_submissions.csv with the clinicians' rows of each changed measure set to the new rate/cases."""
    if not sc.measures:
        return None
    py = str(run.methodology.performance_year)
    cols = list(SUBMISSION_COLUMNS)
    raw = _raw_csv(run.input_dir / QUALITY, cols)
    raw = raw.rename({c: c.strip().lower() for c in raw.columns})
    num = lambda c: pl.col(c).str.strip_chars().cast(pl.Float64, strict=False).fill_null(0)  # noqa: E731
    for ch in sc.measures:
        key = ((pl.col("tin").str.strip_chars() == sc.tin) & (pl.col("performance_year").str.strip_chars() == py)
               & (pl.col("measure_id").str.strip_chars().str.to_uppercase() == ch.measure_id)
               & (pl.col("collection_type").str.strip_chars().str.to_lowercase() == ch.collection_type))
        own = key & pl.col("npi").str.strip_chars().is_in(concerned)
        tin_level = key & (pl.col("npi").is_null() | (pl.col("npi").str.strip_chars() == ""))
        have = set(raw.filter(own)["npi"].str.strip_chars().to_list())
        target = own if have or raw.filter(tin_level).height == 0 else tin_level
        missing = [n for n in concerned if n not in have] if target is own else []
        if missing:
            raw = pl.concat([raw, pl.DataFrame([{c: None for c in raw.columns} | {
                "performance_year": py, "tin": sc.tin, "npi": n, "measure_id": ch.measure_id,
                "collection_type": ch.collection_type, "eligible_population": "0", "performance_met": "0",
                "performance_not_met": "0", "denominator_exceptions": "0"} for n in missing],
                schema={c: pl.Utf8 for c in raw.columns})])
        cases_now = num("performance_met") + num("performance_not_met")
        cases = pl.lit(float(ch.cases)) if ch.cases is not None else cases_now
        rate = (pl.lit(ch.rate) if ch.rate is not None
                else pl.when(cases_now > 0).then(num("performance_met") / cases_now).otherwise(0.0))
        met = (rate * cases).round(0)
        elig = pl.max_horizontal(num("eligible_population"), cases + num("denominator_exceptions"))
        raw = raw.with_columns(
            pl.when(target).then(met.cast(pl.Int64).cast(pl.Utf8)).otherwise(pl.col("performance_met")).alias("performance_met"),
            pl.when(target).then((cases - met).cast(pl.Int64).cast(pl.Utf8)).otherwise(pl.col("performance_not_met"))
            .alias("performance_not_met"),
            pl.when(target).then(elig.cast(pl.Int64).cast(pl.Utf8)).otherwise(pl.col("eligible_population"))
            .alias("eligible_population"))
    return raw


def _concerned_episodes(run: Run, sc: Scenario, concerned: list[str]) -> pl.DataFrame:
    """The PY's attributed scored episodes of the clinicians concerned (episode_id, cohort)."""
    out, py = OutFolder(run.out_dir), run.methodology.performance_year
    att = read_frame(out.published_path("episode_attribution"), columns=["episode_id", "tin", "npi", "attributed"])
    er = read_frame(out.published_path("episode_risk"), columns=["episode_id", "cohort", "performance_year", "fit"])
    return (att.filter(pl.col("attributed") & (pl.col("tin") == sc.tin) & pl.col("npi").is_in(concerned))
            .join(er.filter(pl.col("fit") & (pl.col("performance_year") == py)), on="episode_id")
            .select("episode_id", "cohort").unique().sort("episode_id"))


def changed_tables(sc: Scenario, run: Run, concerned: list[str]) -> dict[str, pl.DataFrame]:
    """The warehouse tables the scenario replaces in the scratch folder (see the module doc)."""
    out, m = OutFolder(run.out_dir), run.methodology
    tables: dict[str, pl.DataFrame] = {}
    if sc.clinician_leaves:
        gone = (pl.col("tin") == sc.tin) & (pl.col("npi") == sc.clinician_leaves)
        for name in ("episode_attribution", "eligibility"):
            tables[name] = read_frame(out.published_path(name)).filter(~gone)
    if not (sc.fewer_admissions or sc.cost_reduction):
        return tables
    costs = read_frame(out.published_path("episode_costs"))
    cats = [c for c in SERVICE_CATEGORIES if f"cost_{c}" in costs.columns]
    money = ["observed_cost", "partb_cost", "parta_cost", *[f"cost_{c}" for c in cats]]
    costs = costs.with_columns(pl.col(c).cast(pl.Float64).alias(c) for c in [*money, "winsor_cap"])
    eps = _concerned_episodes(run, sc, concerned)
    cut = pl.DataFrame(schema={"episode_id": pl.Utf8, **{c: pl.Float64 for c in cats}})
    if sc.fewer_admissions:
        claims, removed = _without_admissions(run, sc, eps.filter(pl.col("cohort") == m.admissions.cohort))
        tables["parta_claims"] = claims
        lines = read_frame(out.published_path("episode_lines"),
                           columns=["episode_id", "claim_control_number", "after_stay_claim_control_number",
                                    "service_category", "cost_amount", "source"])
        gone = lines.filter(pl.col("claim_control_number").is_in(removed) | pl.col(
            "after_stay_claim_control_number").is_in(removed)).filter(pl.col("episode_id").is_in(eps["episode_id"].implode()))
        cut = gone.group_by("episode_id").agg(
            *[pl.col("cost_amount").filter(pl.col("service_category") == c).cast(pl.Float64).sum().alias(c) for c in cats])
    for c, share in sc.cost_reduction.items():
        cut = pl.concat([cut, eps.join(costs.select("episode_id", pl.col(f"cost_{c}")), on="episode_id").select(
            "episode_id", (pl.col(f"cost_{c}") * share).alias(c))], how="diagonal_relaxed")
    cut = cut.group_by("episode_id").agg(*[pl.col(c).fill_null(0).sum() for c in cats])
    parta = [c for c in ("inpatient", "post_acute") if c in cats]
    j = costs.join(cut.rename({c: f"_cut_{c}" for c in cats}), on="episode_id", how="left").with_columns(
        pl.col(f"_cut_{c}").fill_null(0.0) for c in cats)
    total = pl.sum_horizontal([pl.col(f"_cut_{c}") for c in cats])
    j = j.with_columns(
        *[(pl.col(f"cost_{c}") - pl.col(f"_cut_{c}")).alias(f"cost_{c}") for c in cats],
        (pl.col("observed_cost") - total).alias("observed_cost"),
        (pl.col("parta_cost") - pl.sum_horizontal([pl.col(f"_cut_{c}") for c in parta] or [pl.lit(0.0)])).alias("parta_cost"),
        (pl.col("partb_cost") - pl.sum_horizontal([pl.col(f"_cut_{c}") for c in cats if c not in parta])).alias("partb_cost"),
    ).with_columns(  # C4: the cap held at the run's value
        pl.when(pl.col("winsor_cap").is_not_null()).then(pl.min_horizontal("observed_cost", "winsor_cap"))
        .otherwise(pl.col("observed_cost")).alias("observed_cost_winsorized"))
    tables["episode_costs"] = j.select(costs.columns)
    return tables


def _without_admissions(run: Run, sc: Scenario, eps: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """parta_claims without the first N qualifying admissions (Q6) of the episodes `eps`, and the claim control
    numbers removed. Beneficiary ids are used here only."""
    out, m = OutFolder(run.out_dir), run.methodology
    ap = m.admissions
    claims = read_frame(out.published_path("parta_claims"))
    if claims.height == 0:
        raise ScenarioError(f"scenario: fewer_admissions = {sc.fewer_admissions}: the run has no Part A claims (Q6)")
    hf_dx = read_code_lists(resolve_dir(m.episodes.code_list_dir), "diagnosis", ap.cohort)
    qualifying = admissions.qualifying_admissions(claims, hf_dx, ap)
    windows = read_frame(out.published_path("episodes"), columns=["episode_id", "bene_id", "start_date", "end_date"]
                         ).join(eps.select("episode_id"), on="episode_id")
    hits = (windows.join(qualifying, on="bene_id").filter(pl.col("from_date").is_between("start_date", "end_date"))
            .join(claims.select("claim_control_number", pl.col("payment_amount").cast(pl.Float64)),
                  on="claim_control_number", how="left"))
    per_admission = hits.group_by("bene_id", "from_date").agg(
        pl.col("claim_control_number").unique().sort(), pl.col("payment_amount").sum().alias("paid"))
    order = (["from_date", "paid"], [False, True]) if m.steering.admissions_removed_first == "earliest" else (
        ["paid", "from_date"], [True, False])
    per_admission = per_admission.sort([*order[0], "claim_control_number"], descending=[*order[1], False])
    if per_admission.height < sc.fewer_admissions:
        raise ScenarioError(f"scenario: fewer_admissions = {sc.fewer_admissions}: the clinicians' attributed HF "
                            f"episodes hold {per_admission.height} qualifying admissions (Q6)")
    removed = per_admission.head(sc.fewer_admissions).explode("claim_control_number")["claim_control_number"].to_list()
    return claims.filter(~pl.col("claim_control_number").is_in(removed)), removed


def scratch_input(run: Run, folder: Path, files: dict[str, pl.DataFrame]) -> Path:
    """A scratch input folder: the run's side files linked, the changed ones written (scoring reads only
    the side files from the input folder; claims are read from the warehouse)."""
    folder.mkdir(parents=True)
    for name in SIDE_FILES:
        src = run.input_dir / name
        if name in files:
            write_text(folder / name, files[name].write_csv())
        elif src.is_file():
            (folder / name).symlink_to(src.resolve())
    for name, frame in files.items():
        if not (folder / name).exists():
            write_text(folder / name, frame.write_csv())
    return folder


# ------------------------------------------------------------------------------ before / after

def figures(projected: pl.DataFrame) -> pl.DataFrame:
    """Per participant: the figure V4 leads with (the projected one when the lead has no score, e.g. a clinician
    on track in an in-year run, V5), its final score, factor and dollars with their V3 interval and sign."""
    lead = (pl.when(pl.col("lead").fill_null("pool") == "projected").then(pl.lit("projected"))
            .when(pl.col("pool_final_score").is_null() & pl.col("projected_final_score").is_not_null())
            .then(pl.lit("projected")).otherwise(pl.lit("pool")))

    def pick(column: str) -> pl.Expr:
        return pl.when(lead == "projected").then(pl.col(f"projected_{column}")).otherwise(pl.col(f"pool_{column}"))
    return projected.select(
        *PARTICIPANT, "status", lead.alias("figure"),
        *[pick(f"final_score{e}").alias(f"final_score{e}") for e in ("", "_low", "_high")],
        *[pick(f"factor{e}").alias(f"factor{e}") for e in ("", "_low", "_high")],
        *[pick(f"dollar_impact{e}").alias(f"dollars{e}") for e in ("", "_low", "_high")],
        pick("sign").alias("sign"), "partb_paid")


def before_after(before: pl.DataFrame, after: pl.DataFrame, tin: str, npis: list[str]) -> pl.DataFrame:
    """Participant rows of the TIN's clinicians concerned: figures before and after (absent after: the
    clinician left), with the change of each point figure."""
    keep = (pl.col("tin") == tin) & pl.col("npi").is_in(npis)
    b, a = figures(before.filter(keep)), figures(after.filter(keep))
    j = b.join(a, on=PARTICIPANT, how="full", coalesce=True, suffix="_after")
    return j.with_columns(pl.col("status_after").fill_null("absent"), pl.col("status").fill_null("absent"),
                          *[(pl.col(f"{f}_after").fill_null(0.0) - pl.col(f).fill_null(0.0)).alias(f"{f}_change")
                            for f in FIGURE_COLUMNS]).sort(PARTICIPANT)


def tin_total(rows: pl.DataFrame) -> dict:
    """The TIN's dollars before and after (sum over its clinicians concerned; point figures)."""
    return {"dollars": float(rows["dollars"].fill_null(0).sum()), "dollars_after": float(rows["dollars_after"].fill_null(0).sum()),
            "partb_paid": float(rows["partb_paid"].fill_null(0).sum())}


def run_whatif(run: Run, sc: Scenario, lock=None) -> dict:
    """Apply the scenario in a scratch folder under OUT/.whatif and compare. `lock`: a context manager
    the caller may pass to hold OUT while the published tables are read (issue 21 adds OUT's locks)."""
    t0 = time.perf_counter()
    mine, concerned = check_against_run(sc, run)
    files = {k: v for k, v in ((ATTESTATIONS, changed_attestations(sc, run, mine)),
                               (QUALITY, changed_submissions(sc, run, concerned))) if v is not None}
    replaced = changed_tables(sc, run, concerned)
    stages = tuple(s for s in registry.downstream_stages(sc.first_stage) if s.name in ("episode_risk", "scoring",
                                                                                      "projection"))
    before = read_frame(OutFolder(run.out_dir).published_path("projected_scores"))
    with scratch_folder(OutFolder(run.out_dir).whatif_dir) as scratch:
        input_dir = scratch_input(run, scratch / "input", files) if files else None
        settings = scratch_settings(run, stages, scratch / "out", replaced, input_dir)
        run_stages(settings, stages, run.methodology)
        after = settings.warehouse.read("projected_scores")
    rows = before_after(before, after, sc.tin, concerned)
    return {"scenario": sc, "rows": rows, "tin": tin_total(rows), "stages": [s.name for s in stages],
            "seconds": round(time.perf_counter() - t0, 2)}


# ------------------------------------------------------------------------------ the printed table

def _fmt(x, kind: str) -> str:
    if x is None:
        return "-"
    if kind == "score":
        return f"{x:.1f}"
    if kind == "factor":
        return f"{x * 100:+.2f}%"
    text = f"{abs(x):,.0f}"
    return ("-$" if x < 0 and text.strip("0,") else "+$") + text


def _cell(r: dict, f: str, kind: str, suffix: str = "") -> str:
    v, lo, hi = r.get(f + suffix), r.get(f"{f}_low{suffix}"), r.get(f"{f}_high{suffix}")
    if v is None:
        return "-"
    if lo is None or hi is None or (lo == hi == v):
        return _fmt(v, kind)
    return f"{_fmt(v, kind)} [{_fmt(lo, kind)} .. {_fmt(hi, kind)}]"


def render(result: dict) -> str:
    sc, rows = result["scenario"], result["rows"]
    lines = [f"asm whatif: TIN {sc.tin}, {rows.height} clinician(s); scenario: {sc.words()}",
             f"  re-ran {', '.join(result['stages'])} in {result['seconds']:.1f}s; figures: the one each clinician's "
             "report leads with (V4), interval = V3's"]
    for r in rows.iter_rows(named=True):
        lines.append(f"  {r['cohort']} NPI {r['npi']} ({r['figure'] or r['figure_after']}): {r['status']} -> {r['status_after']}")
        for f, kind, label in (("final_score", "score", "final score"), ("factor", "factor", "factor"),
                               ("dollars", "dollars", "dollars")):
            sign = f"{r.get('sign') or '-'} -> {r.get('sign_after') or '-'}" if f == "factor" else ""
            change = r[f"{f}_change"]
            shown = f"{change:+.1f}" if kind == "score" else _fmt(change, kind)
            lines.append(f"    {label:<12} {_cell(r, f, kind):<34} -> {_cell(r, f, kind, '_after'):<34} ({shown})"
                         + (f" {sign}" if sign else ""))
    t = result["tin"]
    lines.append(f"  TIN total dollars: {_fmt(t['dollars'], 'dollars')} -> {_fmt(t['dollars_after'], 'dollars')} "
                 f"({_fmt(t['dollars_after'] - t['dollars'], 'dollars')}) on Part B paid ${t['partb_paid']:,.0f}")
    return "\n".join(lines)


def to_json(result: dict) -> dict:
    return {"scenario": result["scenario"].model_dump(), "stages": result["stages"], "seconds": result["seconds"],
            "tin": {"tin": result["scenario"].tin, **result["tin"]},
            "participants": result["rows"].to_dicts()}
