"""Episode stage: partb_lines (+ Part A, demographics) -> episodes, episode_lines,
episode_attribution (+ TIN view), episode_observed_costs, episode_costs.

Rules live in SQL, run in the order of each folder's manifest.toml: E1-E6 and X1-X2 in
`sql/20_episodes/`, C1/C3 line assignment in `sql/30_episode_lines/` (before attribution: the
`assigned_*` bases of A1 count those lines), A1-A3 in `sql/40_attribution/`, C2-C3 in `sql/50_costs/`:
all per beneficiary, so they run once per beneficiary shard (pipelines.engine.shards), each shard on its own
connection reading its own shard files. C4's cohort-wide cap (`sql/55_winsorizing/`) runs once over
every shard's episode_observed_costs. `build_episode_tables` runs every folder on one connection
(tests, benchmarks).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from pipelines.engine.duck import Raw, connect, fetch_dicts, sql_literal
from pipelines.engine.episodes.params import EpisodeConfigError, EpisodeParams, episode_params
from pipelines.engine.methodology import Methodology
from pipelines.engine.reference import (CODE_LIST_FILES, SERVICE_CATEGORY_FILE, category_cost_columns, category_cost_sums,
                                 code_list_files)
from pipelines.engine.settings import RunSettings
from pipelines.engine.shards import EPISODE_SHARDED, Shard, ShardError, missing_shards, prepare_sharded_target
from pipelines.engine.sqlstage import StageRun, load_manifest, run_manifest, write_query
from pipelines.engine.warehouse import parquet_files

SHARD_FOLDERS = ("20_episodes", "30_episode_lines", "40_attribution", "50_costs")  # per beneficiary
COHORT_FOLDERS = ("55_winsorizing",)  # over every shard
SQL_FOLDERS = SHARD_FOLDERS + COHORT_FOLDERS
SHARD_TABLES = EPISODE_SHARDED
EPISODE_TABLES = (*SHARD_TABLES, "episode_costs")


@dataclass
class EpisodeInputs:
    """Where the stage reads: the Part B lines of the beneficiaries it builds episodes for, and every
    Part B file of the run (E5's last service date is the run's, not the shard's). Part A and
    demographics are optional (missing file = not supplied)."""

    partb_lines: Path
    parta_claims: Path | None = None
    beneficiaries: Path | None = None
    all_partb_lines: Path | None = None  # default: partb_lines

    @classmethod
    def from_settings(cls, settings: RunSettings, shard: Shard | None = None) -> "EpisodeInputs":
        """The whole tables, or one shard's files of them."""
        read = settings.read_path
        if shard is None:
            return cls(read("partb_lines"), read("parta_claims"), read("beneficiaries"))
        for table in INPUTS_SHARDED:
            missing = missing_shards(read(table), shard.count) if read(table).exists() else []
            if missing:
                raise EpisodeConfigError(
                    f"{table} at {read(table)} was not written in {shard.count} shard(s) (missing shard "
                    f"{missing[0] + 1}); run ingest with the same shard count")
        return cls(shard.file(read("partb_lines")), shard.file(read("parta_claims")),
                   shard.file(read("beneficiaries")), all_partb_lines=read("partb_lines"))


INPUTS_SHARDED = ("partb_lines", "parta_claims", "beneficiaries")


@dataclass
class EpisodeResult:
    row_counts: dict[str, int]
    seconds: float
    summary: dict = field(default_factory=dict)


def _exists(path: Path | None) -> bool:
    return path is not None and Path(path).exists()


def _parameter_tables(con: duckdb.DuckDBPyConnection, params: EpisodeParams) -> None:
    """The small tables of methodology parameters the SQL joins to (E2 windows, C1/C3 categories)."""
    con.execute("CREATE OR REPLACE TEMP TABLE cohort_params (cohort VARCHAR, confirming_window_days INTEGER)")
    con.executemany("INSERT INTO cohort_params VALUES (?, ?)", list(params.confirming_window_days.items()))
    con.execute("CREATE OR REPLACE TEMP TABLE institutional_types (claim_type VARCHAR, service_category VARCHAR)")
    if params.institutional_claim_types:
        con.executemany("INSERT INTO institutional_types VALUES (?, ?)", list(params.institutional_claim_types.items()))
    con.execute("CREATE OR REPLACE TEMP TABLE betos_categories (letter VARCHAR, service_category VARCHAR)")
    if params.betos_category:
        con.executemany("INSERT INTO betos_categories VALUES (?, ?)", list(params.betos_category.items()))
    _cost_reference_table(con, params)


def _cost_reference_table(con: duckdb.DuckDBPyConnection, params: EpisodeParams) -> None:
    """cost_reference: each cohort's CMS national average episode cost (issue 21 item 1, 55_episode_costs)."""
    con.execute("CREATE OR REPLACE TEMP TABLE cost_reference (cohort VARCHAR, cost_measure VARCHAR, "
                "national_average DOUBLE)")
    if params.cost_reference:
        con.executemany("INSERT INTO cost_reference VALUES (?, ?, ?)", list(params.cost_reference))


def _validate_code_lists(con: duckdb.DuckDBPyConnection, params: EpisodeParams) -> None:
    """L: every row has a known list name, a cohort with a confirming window and valid_from <= valid_to."""
    problems = fetch_dicts(con, """
        SELECT source_file, code, list_name, cohort FROM code_lists
        WHERE valid_from > valid_to OR list_name NOT IN (SELECT unnest(?)) OR cohort NOT IN (SELECT unnest(?))
        LIMIT 5""", [sorted(set(CODE_LIST_FILES.values())), list(params.cohorts)])
    if problems:
        shown = "; ".join(f"{Path(r['source_file']).name}: {r['code']} ({r['list_name']}, {r['cohort']})" for r in problems)
        raise EpisodeConfigError(
            f"code lists hold rows with valid_from > valid_to, an unknown list_name or a cohort without a "
            f"confirming window (cohorts: {', '.join(params.cohorts)}): {shown}")


def _lines_source(files: list[str]) -> str:
    """partb_lines' files as one relation with `line_rowid`, a line id unique across the files (file
    number in the high bits, row number in the file below), used to de-duplicate cohort matches."""
    parts = [f"SELECT *, ({i}::BIGINT << 40) + file_row_number AS line_rowid "
             f"FROM read_parquet({sql_literal(f)}, file_row_number = true)" for i, f in enumerate(files)]
    return " UNION ALL ".join(parts)


def _register_inputs(con: duckdb.DuckDBPyConnection, inputs: EpisodeInputs) -> bool:
    """Views over the ingest tables (as ingest wrote them: N6 is applied there, once); empty tables
    for optional inputs not supplied. Returns whether demographics were supplied (X1/X2 apply only then)."""
    if not _exists(inputs.partb_lines):
        raise EpisodeConfigError(f"partb_lines not found: {inputs.partb_lines} (run ingest first)")
    con.execute(f"""CREATE OR REPLACE TEMP VIEW partb_src AS
        SELECT claim_control_number, line_number, claim_id, bene_id, service_date, claim_type, hcpcs, betos,
               place_of_service, line_dx, claim_dx, tin, npi, allowed_amount, paid_amount, cost_amount, line_rowid
        FROM ({_lines_source(parquet_files(inputs.partb_lines))})""")
    if _exists(inputs.parta_claims):
        con.execute(f"""CREATE OR REPLACE TEMP VIEW parta_src AS
            SELECT claim_control_number, claim_id, bene_id, claim_type, from_date, thru_date, principal_dx, drg,
                   facility_npi, payment_amount
            FROM read_parquet({sql_literal(parquet_files(inputs.parta_claims))})""")
    else:
        con.execute("""CREATE OR REPLACE TEMP TABLE parta_src (claim_control_number VARCHAR, claim_id VARCHAR,
            bene_id VARCHAR, claim_type VARCHAR, from_date DATE, thru_date DATE, principal_dx VARCHAR, drg VARCHAR,
            facility_npi VARCHAR, payment_amount DECIMAL(38, 2))""")
    if _exists(inputs.beneficiaries):
        con.execute(f"""CREATE OR REPLACE TEMP TABLE bene_src AS
            SELECT bene_id, any_value(birth_date) AS birth_date, any_value(death_date) AS death_date
            FROM read_parquet({sql_literal(parquet_files(inputs.beneficiaries))}) GROUP BY bene_id""")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE bene_src (bene_id VARCHAR, birth_date DATE, death_date DATE)")
    return con.execute("SELECT count(*) FROM bene_src").fetchone()[0] > 0


def _last_service_date(con: duckdb.DuckDBPyConnection, inputs: EpisodeInputs) -> date | None:
    """E5: the latest Part B service date of the run (over every shard)."""
    files = parquet_files(inputs.all_partb_lines or inputs.partb_lines)
    return con.execute(f"SELECT max(service_date) FROM read_parquet({sql_literal(files)})").fetchone()[0]


def _placeholder_values(params: EpisodeParams, last_service_date: date | None, demographics: bool,
                        accept_amounts: bool = False) -> dict:
    return dict(
        files=[str(f) for f in code_list_files(params.code_list_dir)],
        service_categories_file=str(params.code_list_dir / SERVICE_CATEGORY_FILE),
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
        winsor_quantile=Raw(params.winsor_quantile_sql),
        reference_max_factor=params.reference_max_factor,
        reference_check_min_episodes=params.reference_check_min_episodes,
        accept_amounts=accept_amounts,  # issue 21: `asm run --accept-amounts`
        trigger_tie_break=Raw(params.tie_break_sql),
        category_cost_sums=Raw(category_cost_sums()),
        category_cost_columns=Raw(category_cost_columns()),
    )


def build_episode_tables(con: duckdb.DuckDBPyConnection, inputs: EpisodeInputs, params: EpisodeParams,
                         progress=None, folders: tuple[str, ...] = SQL_FOLDERS) -> dict:
    """Create the stage's tables on `con` (every step of `folders`' manifests: by default all, so one
    connection holds every table). Returns run facts (no beneficiary ids)."""
    for name in [*CODE_LIST_FILES, SERVICE_CATEGORY_FILE]:
        if not (params.code_list_dir / name).is_file():
            raise EpisodeConfigError(f"code list {params.code_list_dir / name} not found "
                                     f"(episodes.code_list_dir = {params.code_list_dir})")
    _parameter_tables(con, params)
    demographics = _register_inputs(con, inputs)
    last_service_date = _last_service_date(con, inputs)
    values = _placeholder_values(params, last_service_date, demographics)
    run = StageRun()
    for folder in folders:
        run_manifest(con, load_manifest(folder), values, run=run, progress=progress,
                     hooks={"validate_code_lists": lambda: _validate_code_lists(con, params)})
    return {"last_service_date": last_service_date, "demographics_supplied": demographics, "step_seconds": run.seconds}


def run_episode_shard(settings: RunSettings, methodology: Methodology, shard: Shard) -> EpisodeResult:
    """E1-E6, X1-X2, C1-C3, A1-A3 for the beneficiaries of one shard: writes that shard's file of every
    SHARD_TABLES table. Row counts are the shard's."""
    started = time.perf_counter()
    params = episode_params(methodology)
    try:
        inputs = EpisodeInputs.from_settings(settings, shard)
    except ShardError as exc:
        raise EpisodeConfigError(str(exc)) from None
    say = (lambda m: settings.progress(f"shard {shard.label}: {m}")) if shard.count > 1 else settings.progress
    con = connect(settings.threads, settings.memory_limit, settings.temp_dir)
    try:
        facts = build_episode_tables(con, inputs, params, say, folders=SHARD_FOLDERS)
        counts = {}
        for t in SHARD_TABLES:
            prepare_sharded_target(settings.table_path(t), shard.count)
            counts[t] = write_query(con, f"SELECT * FROM {t}", shard.file(settings.table_path(t)))
    finally:
        con.close()
    return EpisodeResult(counts, time.perf_counter() - started,
                         {"last_service_date": str(facts["last_service_date"]),
                          "demographics_supplied": facts["demographics_supplied"],
                          "step_seconds": facts["step_seconds"]})


def _cohort_summary(con: duckdb.DuckDBPyConnection, settings: RunSettings) -> list[dict]:
    """Episodes by cohort and status, attributed episodes: the stage's metadata (over every shard)."""
    def src(t: str) -> str:
        return f"read_parquet({sql_literal(parquet_files(settings.table_path(t)))})"

    summary = fetch_dicts(con, f"""
        SELECT cohort, count(*) AS episodes, count(*) FILTER (WHERE status = 'open') AS open,
               count(*) FILTER (WHERE excluded) AS excluded, count(*) FILTER (WHERE quarantined) AS quarantined,
               count(*) FILTER (WHERE scorable) AS scorable
        FROM {src('episodes')} GROUP BY cohort ORDER BY cohort""")
    attributed = dict(con.execute(f"""SELECT cohort, count(DISTINCT episode_id) FROM {src('episode_attribution')}
        WHERE attributed GROUP BY cohort""").fetchall())
    for row in summary:
        row["attributed"] = attributed.get(row["cohort"], 0)
    return summary


def run_episode_costs(settings: RunSettings, methodology: Methodology) -> EpisodeResult:
    """C4 over every shard's episode_observed_costs -> episode_costs; with the stage's summary."""
    started = time.perf_counter()
    params = episode_params(methodology)
    con = connect(settings.threads, settings.memory_limit, settings.temp_dir)
    try:
        observed = settings.table_path("episode_observed_costs")
        con.execute(f"CREATE OR REPLACE TEMP VIEW episode_observed_costs AS "
                    f"SELECT * FROM read_parquet({sql_literal(parquet_files(observed))})")
        _cost_reference_table(con, params)
        run = StageRun()
        for folder in COHORT_FOLDERS:
            run_manifest(con, load_manifest(folder), _placeholder_values(params, None, False, settings.accept_amounts),
                         run=run, progress=settings.progress)
        rows = write_query(con, "SELECT * FROM episode_costs", settings.table_path("episode_costs"))
        summary = _cohort_summary(con, settings)
    finally:
        con.close()
    return EpisodeResult({"episode_costs": rows}, time.perf_counter() - started,
                         {"by_cohort": summary, "step_seconds": run.seconds})


def run_episodes(settings: RunSettings, methodology: Methodology) -> EpisodeResult:
    """The whole stage in this process: every shard in turn, then C4 (library use: sensitivity, tests).
    A Dagster run gives each shard its own step (assets/episodes.py)."""
    started = time.perf_counter()
    shards = [run_episode_shard(settings, methodology, Shard(k, settings.shards)) for k in range(settings.shards)]
    costs = run_episode_costs(settings, methodology)
    counts = {t: sum(r.row_counts[t] for r in shards) for t in SHARD_TABLES} | costs.row_counts
    return EpisodeResult(counts, time.perf_counter() - started,
                         {**shards[0].summary, **costs.summary,
                          "step_seconds": {"shards": [r.summary["step_seconds"] for r in shards],
                                           "cohort": costs.summary["step_seconds"]}})
