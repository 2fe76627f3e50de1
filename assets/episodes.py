"""Episode engine: partb_lines (+ Part A, demographics) -> episodes, episode_lines,
episode_attribution (+ TIN view), episode_costs.

Rules E1-E6 live in `sql/20_episodes/`, A1-A3 in `sql/30_attribution/`, C1-C4 in `sql/40_costs/`,
X1-X2 in `sql/20_episodes/25_episodes.sql`; code lists (L) are the CSV files of
`data/reference/code_lists/`; every DEFAULT parameter comes from the methodology configuration
(`[defaults.episodes]`, `[defaults.attribution]`, `[defaults.costs]`). This module only wires them:
it loads parameters and code lists, runs the SQL files in order on one DuckDB connection (so
partb_lines is read once for E1/C1 and the intermediate tables are shared) and writes the Parquet
tables atomically.

One Dagster multi-asset produces the five tables: attribution basis `assigned_lines` needs the C1
lines, and C1 needs the episodes, so splitting them would re-read partb_lines per stage.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from pipelines.duck import connect, fetch_dicts, query_sql_file, sql_literal, write_parquet
from pipelines.methodology import Methodology
from pipelines.paths import REPO_ROOT
from pipelines.settings import RunSettings

# L: the code-list files of episodes.code_list_dir, and their list names.
CODE_LIST_FILES = {
    "diagnoses.csv": "diagnosis",
    "trigger_services.csv": "trigger_service",
    "places_of_service.csv": "place_of_service",
    "condition_services.csv": "condition_service",
    "drgs.csv": "drg",
}
SERVICE_CATEGORY_FILE = "service_categories.csv"
SERVICE_CATEGORIES = ("em", "imaging", "procedures", "tests", "dme", "inpatient", "post_acute", "other")
PAIR_SCOPES = ("npi", "tin")
ATTRIBUTION_BASES = ("qualifying_lines", "assigned_lines", "assigned_allowed")
EPISODE_TABLES = ("episodes", "episode_lines", "episode_attribution", "episode_attribution_tin", "episode_costs")

# The SQL of the stage, in execution order: (temp table, file). C1 lines come before A1 because the
# `assigned_*` attribution bases need them.
STEPS = (
    ("cohort_lines", "20_episodes/21_cohort_lines.sql"),
    ("trigger_candidates", "20_episodes/22_trigger_candidates.sql"),
    ("trigger_links", "20_episodes/23_trigger_links.sql"),
    ("episode_chain", "20_episodes/24_episode_chain.sql"),
    ("episodes", "20_episodes/25_episodes.sql"),
    ("episode_lines_partb", "40_costs/41_episode_lines_partb.sql"),
    ("episode_lines_parta", "40_costs/42_episode_lines_parta.sql"),
    ("episode_lines", "40_costs/43_episode_lines.sql"),
    ("episode_attribution", "30_attribution/31_episode_attribution.sql"),
    ("episode_attribution_tin", "30_attribution/32_episode_attribution_tin.sql"),
    ("episode_costs", "40_costs/44_episode_costs.sql"),
)


class EpisodeConfigError(ValueError):
    """A methodology parameter or code list the episode stage cannot use. str() is the user message."""


@dataclass(frozen=True)
class EpisodeParams:
    """Every parameter of E1-E6, A1-A3, X1-X2 and C1-C4, from the methodology configuration."""

    performance_year: int
    code_list_dir: Path
    qualifying_claim_types: tuple[str, ...]
    confirming_window_days: dict[str, int]
    pair_scope: str
    episode_days: int
    min_age_years: int
    attribution_basis: str
    attribution_threshold: float
    institutional_claim_types: dict[str, str]
    post_acute_claim_types: tuple[str, ...]
    post_acute_days: int
    betos_category: dict[str, str]
    early_imaging_days: int
    winsor_percentile: float

    @property
    def cohorts(self) -> tuple[str, ...]:
        return tuple(self.confirming_window_days)


def episode_params(methodology: Methodology) -> EpisodeParams:
    g = methodology.get
    code_dir = Path(g("episodes.code_list_dir"))
    p = EpisodeParams(
        performance_year=methodology.performance_year,
        code_list_dir=code_dir if code_dir.is_absolute() else REPO_ROOT / code_dir,
        qualifying_claim_types=tuple(str(x) for x in g("episodes.qualifying_claim_types")),
        confirming_window_days={str(k).upper(): int(v) for k, v in g("episodes.confirming_window_days").items()},
        pair_scope=str(g("episodes.pair_scope")).lower(),
        episode_days=int(g("episodes.episode_days")),
        min_age_years=int(g("episodes.min_age_years")),
        attribution_basis=str(g("attribution.basis")).lower(),
        attribution_threshold=float(g("attribution.threshold")),
        institutional_claim_types={str(k): str(v) for k, v in g("costs.institutional_claim_types").items()},
        post_acute_claim_types=tuple(str(x) for x in g("costs.post_acute_claim_types")),
        post_acute_days=int(g("costs.post_acute_days")),
        betos_category={str(k).upper(): str(v) for k, v in g("costs.betos_category").items()},
        early_imaging_days=int(g("costs.early_imaging_days")),
        winsor_percentile=float(g("costs.winsor_percentile")),
    )
    problems = []
    if p.pair_scope not in PAIR_SCOPES:
        problems.append(f"episodes.pair_scope must be one of {PAIR_SCOPES}, not '{p.pair_scope}'")
    if p.attribution_basis not in ATTRIBUTION_BASES:
        problems.append(f"attribution.basis must be one of {ATTRIBUTION_BASES}, not '{p.attribution_basis}'")
    if not 0 < p.attribution_threshold <= 1:
        problems.append(f"attribution.threshold must be in (0, 1], not {p.attribution_threshold}")
    if not 0 < p.winsor_percentile <= 1:
        problems.append(f"costs.winsor_percentile must be in (0, 1], not {p.winsor_percentile}")
    if p.episode_days < 1 or any(v < 1 for v in p.confirming_window_days.values()):
        problems.append("episodes.episode_days and episodes.confirming_window_days must be >= 1")
    bad = sorted((set(p.betos_category.values()) | set(p.institutional_claim_types.values())) - set(SERVICE_CATEGORIES))
    if bad:
        problems.append(f"unknown service categories {bad} (known: {', '.join(SERVICE_CATEGORIES)})")
    if not p.code_list_dir.is_dir():
        problems.append(f"episodes.code_list_dir not found: {p.code_list_dir}")
    if problems:
        raise EpisodeConfigError("; ".join(problems))
    return p


def code_lists_fingerprint(code_list_dir: Path) -> str:
    h = hashlib.sha256()
    for name in sorted([*CODE_LIST_FILES, SERVICE_CATEGORY_FILE]):
        f = code_list_dir / name
        h.update(name.encode())
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


@dataclass
class EpisodeInputs:
    """Where the stage reads. Part A and demographics are optional (missing file = not supplied)."""

    partb_lines: Path
    parta_claims: Path | None = None
    beneficiaries: Path | None = None

    @classmethod
    def from_settings(cls, settings: RunSettings) -> "EpisodeInputs":
        read = getattr(settings, "read_path", settings.table_path)  # staged copy of this run, else published
        return cls(read("partb_lines"), read("parta_claims"), read("beneficiaries"))


@dataclass
class EpisodeResult:
    row_counts: dict[str, int]
    seconds: float
    summary: dict = field(default_factory=dict)


def _exists(path: Path | None) -> bool:
    return path is not None and Path(path).exists()


def load_code_lists(con: duckdb.DuckDBPyConnection, params: EpisodeParams) -> None:
    """L: code lists and the small parameter tables the SQL joins to."""
    files = []
    for name in CODE_LIST_FILES:
        f = params.code_list_dir / name
        if not f.is_file():
            raise EpisodeConfigError(f"code list {f} not found (episodes.code_list_dir = {params.code_list_dir})")
        files.append(str(f))
    con.execute(f"CREATE OR REPLACE TEMP TABLE code_lists AS {query_sql_file(con, '20_episodes/20_code_lists.sql', files=files)}")
    problems = fetch_dicts(con, """
        SELECT source_file, code, list_name, cohort FROM code_lists
        WHERE valid_from > valid_to OR list_name NOT IN (SELECT unnest(?)) OR cohort NOT IN (SELECT unnest(?))
        LIMIT 5""", [sorted(set(CODE_LIST_FILES.values())), list(params.cohorts)])
    if problems:
        shown = "; ".join(f"{Path(r['source_file']).name}: {r['code']} ({r['list_name']}, {r['cohort']})" for r in problems)
        raise EpisodeConfigError(
            f"code lists hold rows with valid_from > valid_to, an unknown list_name or a cohort without a "
            f"confirming window (cohorts: {', '.join(params.cohorts)}): {shown}")
    sc = params.code_list_dir / SERVICE_CATEGORY_FILE
    if not sc.is_file():
        raise EpisodeConfigError(f"code list {sc} not found")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE service_categories AS
           SELECT upper(trim(hcpcs_from)) AS hcpcs_from, upper(trim(hcpcs_to)) AS hcpcs_to,
                  lower(trim(service_category)) AS service_category, CAST(priority AS INTEGER) AS priority,
                  CAST(coalesce(nullif(valid_from, ''), '1900-01-01') AS DATE) AS valid_from,
                  CAST(coalesce(nullif(valid_to, ''), '9999-12-31') AS DATE) AS valid_to
           FROM read_csv(?, header = true, all_varchar = true)""", [str(sc)])
    con.execute("CREATE OR REPLACE TEMP TABLE cohort_params (cohort VARCHAR, confirming_window_days INTEGER)")
    con.executemany("INSERT INTO cohort_params VALUES (?, ?)", list(params.confirming_window_days.items()))
    con.execute("CREATE OR REPLACE TEMP TABLE institutional_types (claim_type VARCHAR, service_category VARCHAR)")
    if params.institutional_claim_types:
        con.executemany("INSERT INTO institutional_types VALUES (?, ?)", list(params.institutional_claim_types.items()))
    con.execute("CREATE OR REPLACE TEMP TABLE betos_categories (letter VARCHAR, service_category VARCHAR)")
    if params.betos_category:
        con.executemany("INSERT INTO betos_categories VALUES (?, ?)", list(params.betos_category.items()))


def _register_inputs(con: duckdb.DuckDBPyConnection, inputs: EpisodeInputs) -> bool:
    """Views over the ingest tables; empty tables for optional inputs not supplied. Returns whether
    demographics were supplied (X1/X2 apply only then)."""
    if not _exists(inputs.partb_lines):
        raise EpisodeConfigError(f"partb_lines not found: {inputs.partb_lines} (run ingest first)")
    # line_rowid: a unique line id within the (single-file) table, used to de-duplicate cohort matches.
    con.execute(f"""CREATE OR REPLACE TEMP VIEW partb_src AS
        SELECT claim_control_number, line_number, claim_id, bene_id, service_date, claim_type, hcpcs, betos,
               place_of_service, line_dx, claim_dx, tin, npi, allowed_amount, paid_amount, cost_amount,
               file_row_number AS line_rowid
        FROM read_parquet({sql_literal(str(inputs.partb_lines))}, file_row_number = true)""")
    if _exists(inputs.parta_claims):
        con.execute(f"""CREATE OR REPLACE TEMP VIEW parta_src AS
            SELECT claim_control_number, claim_id, bene_id, claim_type, from_date, thru_date,
                   upper(replace(principal_dx, '.', '')) AS principal_dx, lpad(trim(drg), 3, '0') AS drg,
                   facility_npi, payment_amount
            FROM read_parquet({sql_literal(str(inputs.parta_claims))})""")
    else:
        con.execute("""CREATE OR REPLACE TEMP TABLE parta_src (claim_control_number VARCHAR, claim_id VARCHAR,
            bene_id VARCHAR, claim_type VARCHAR, from_date DATE, thru_date DATE, principal_dx VARCHAR, drg VARCHAR,
            facility_npi VARCHAR, payment_amount DECIMAL(38, 2))""")
    if _exists(inputs.beneficiaries):
        con.execute(f"""CREATE OR REPLACE TEMP TABLE bene_src AS
            SELECT bene_id, any_value(birth_date) AS birth_date, any_value(death_date) AS death_date
            FROM read_parquet({sql_literal(str(inputs.beneficiaries))}) GROUP BY bene_id""")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE bene_src (bene_id VARCHAR, birth_date DATE, death_date DATE)")
    return con.execute("SELECT count(*) FROM bene_src").fetchone()[0] > 0


def build_episode_tables(con: duckdb.DuckDBPyConnection, inputs: EpisodeInputs, params: EpisodeParams,
                         progress=None) -> dict:
    """Create the stage's tables (see STEPS) on `con`. Returns run facts (no beneficiary ids)."""
    say = progress or (lambda _m: None)
    load_code_lists(con, params)
    demographics = _register_inputs(con, inputs)
    last_service_date = con.execute("SELECT max(service_date) FROM partb_src").fetchone()[0]
    values = dict(
        qualifying_claim_types=list(params.qualifying_claim_types),
        pair_scope=params.pair_scope,
        episode_days=params.episode_days,
        last_service_date=last_service_date or date(1900, 1, 1),
        demographics_supplied=demographics,
        min_age_years=params.min_age_years,
        performance_year=params.performance_year,
        basis=params.attribution_basis,
        threshold=params.attribution_threshold,
        post_acute_days=params.post_acute_days,
        post_acute_claim_types=list(params.post_acute_claim_types),
        early_imaging_days=params.early_imaging_days,
        winsor_percentile=params.winsor_percentile,
    )
    timings = {}
    for table, sql_file in STEPS:
        t0 = time.perf_counter()
        sql = query_sql_file(con, sql_file, **_used(sql_file, values))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}")
        timings[table] = round(time.perf_counter() - t0, 3)
        say(f"episodes: {table} ({timings[table]:.1f}s)")
    return {"last_service_date": last_service_date, "demographics_supplied": demographics, "step_seconds": timings}


def _used(sql_file: str, values: dict) -> dict:
    """Only the placeholders a file uses (render() insists every placeholder has a value)."""
    from pipelines.duck import _PLACEHOLDER, sql_text

    names = set(_PLACEHOLDER.findall(sql_text(sql_file)))
    return {k: v for k, v in values.items() if k in names}


def run_episodes(settings: RunSettings, methodology: Methodology) -> EpisodeResult:
    started = time.perf_counter()
    params = episode_params(methodology)
    con = connect(settings.threads, settings.memory_limit, settings.temp_dir)
    try:
        facts = build_episode_tables(con, EpisodeInputs.from_settings(settings), params, settings.progress)
        counts = {}
        for table in EPISODE_TABLES:
            counts[table] = write_parquet(con, f"SELECT * FROM {table}", settings.table_path(table))
        summary = fetch_dicts(con, """
            SELECT cohort, count(*) AS episodes, count(*) FILTER (WHERE status = 'open') AS open,
                   count(*) FILTER (WHERE excluded) AS excluded, count(*) FILTER (WHERE quarantined) AS quarantined,
                   count(*) FILTER (WHERE scorable) AS scorable
            FROM episodes GROUP BY cohort ORDER BY cohort""")
        attributed = dict(con.execute(
            "SELECT cohort, count(DISTINCT episode_id) FROM episode_attribution WHERE attributed GROUP BY cohort").fetchall())
        for row in summary:
            row["attributed"] = attributed.get(row["cohort"], 0)
    finally:
        con.close()
    return EpisodeResult(counts, time.perf_counter() - started,
                         {"by_cohort": summary, "last_service_date": str(facts["last_service_date"]),
                          "demographics_supplied": facts["demographics_supplied"],
                          "step_seconds": facts["step_seconds"]})


# --------------------------------------------------------------------------------------------
# Dagster

from dagster import AssetDep, AssetSpec, Failure, MaterializeResult, MetadataValue, multi_asset  # noqa: E402

from pipelines.duck import sql_files_fingerprint  # noqa: E402
from pipelines.metadata import table_metadata  # noqa: E402
from pipelines.resources import AsmResource  # noqa: E402

EPISODE_DESCRIPTIONS = {
    "episodes": "HF and LBP episodes (E1-E6, X1-X2): trigger/confirming line keys, window, PY, open/closed.",
    "episode_lines": "Every service assigned to an episode (C1) with its service category (C3) and cost (C2).",
    "episode_attribution": "Episode x participant (TIN/NPI) shares and the 30% rule (A1-A2).",
    "episode_attribution_tin": "Episode x TIN shares and the 30% rule at TIN level (A3).",
    "episode_costs": "Per episode: observed and winsorized cost (C2, C4), cost by category and driver flags (C3).",
}
EPISODE_INPUTS = ("partb_lines", "parta_claims", "beneficiaries")


def episodes_code_version(methodology: Methodology) -> str:
    try:
        lists = code_lists_fingerprint(episode_params(methodology).code_list_dir)
    except EpisodeConfigError:
        lists = "invalid"
    sql = sql_files_fingerprint("20_episodes", "30_attribution", "40_costs")
    return f"{sql}-{lists}-{methodology.fingerprint}"


def episodes_asset(code_version: str):
    @multi_asset(
        name="episodes_stage",
        specs=[
            AssetSpec(t, description=EPISODE_DESCRIPTIONS[t], group_name="episodes", code_version=code_version,
                      kinds={"duckdb", "parquet"}, deps=[AssetDep(d) for d in EPISODE_INPUTS])
            for t in EPISODE_TABLES
        ],
        can_subset=False,
    )
    def episodes_stage(context, asm: AsmResource):
        settings, methodology = asm.settings(), asm.methodology()
        try:
            result = run_episodes(settings, methodology)
        except EpisodeConfigError as exc:
            raise Failure(description=f"episodes: {exc}") from None
        context.log.info(f"episodes: {result.row_counts} in {result.seconds:.1f}s")
        for table in EPISODE_TABLES:
            md = table_metadata(settings.table_path(table), result.row_counts[table])
            if table == "episodes":
                md.update({
                    "by_cohort": MetadataValue.json(result.summary["by_cohort"]),
                    "last_service_date": result.summary["last_service_date"],
                    "demographics_supplied": result.summary["demographics_supplied"],
                    "seconds": round(result.seconds, 2),
                    "step_seconds": MetadataValue.json(result.summary["step_seconds"]),
                    "methodology_version": methodology.version,
                })
            yield MaterializeResult(asset_key=table, metadata=md)

    return episodes_stage
