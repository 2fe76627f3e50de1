"""Per-step SQL unit tests (dbt unit-test style) for the episode stage's SQL folders: *given* a few rows
in exactly the relations one step reads, run that one step the way the stage runs it, and return the rows
of the relation it creates.

    rows = run_step("20_episodes", "22_trigger_candidates.sql", {"cohort_lines": [{...}, ...]},
                    values={"pair_scope": "tin"}, columns=["trigger_date", "confirming_date"])

How the step is run (nothing re-implemented here): a connection from `duck.connect` (macros of
00_macros.sql), the stage's parameter tables and placeholder values for the 2027 methodology
(`episodes.stage._parameter_tables` / `_placeholder_values` of `episode_params(load_methodology(2027))`),
the step itself by `sqlstage.run_sql_step`, the same function `run_manifest` uses.

Given relations: a list of dicts or a Polars frame. Each becomes a table with the column names and types
the relation has in the stage (learnt once by running the three folders on empty inputs, so a test's
rows get exactly the engine's types); columns a test leaves out are NULL, a column the relation does
not have is an error. A relation the step reads and the test does not give is an error, except the
reference relations the stage builds itself: `code_lists` (sql/20_episodes/20_code_lists.sql on the
real code-list CSVs), `service_categories` (30_service_categories.sql on the real CSV) and the
methodology's `cohort_params`, `institutional_types`, `betos_categories`; a test may still give them.
"""
from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines.engine.duck import connect, fetch_dicts
from pipelines.engine.episodes import EpisodeInputs, build_episode_tables, episode_params
from pipelines.engine.episodes.params import EpisodeParams
from pipelines.engine.episodes.stage import _parameter_tables, _placeholder_values
from pipelines.engine.methodology import load_methodology
from pipelines.engine.sqlstage import load_manifest, run_sql_step
from tests.episode_support import BENE_SCHEMA, PARTA_SCHEMA, PARTB_SCHEMA, _write

PERFORMANCE_YEAR = 2027
FOLDERS = ("20_episodes", "30_episode_lines", "40_attribution")
# relations the stage builds from reference files and the methodology, not from the data
PARAMETER_TABLES = ("cohort_params", "institutional_types", "betos_categories")  # _parameter_tables
REFERENCE_STEPS = {"code_lists": ("20_episodes", "20_code_lists.sql"),
                   "service_categories": ("30_episode_lines", "30_service_categories.sql")}

Rows = list[dict[str, Any]] | pl.DataFrame


@lru_cache(maxsize=1)
def params() -> EpisodeParams:
    return episode_params(load_methodology(PERFORMANCE_YEAR))


@lru_cache(maxsize=1)
def relation_types() -> dict[str, tuple[tuple[str, str], ...]]:
    """(column, DuckDB type) of every input and created relation of FOLDERS, from the engine's own
    `build_episode_tables` on empty partb_lines / parta_claims / beneficiaries files."""
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        inputs = EpisodeInputs(_write(t / "partb_lines.parquet", [], PARTB_SCHEMA),
                               _write(t / "parta_claims.parquet", [], PARTA_SCHEMA),
                               _write(t / "beneficiaries.parquet", [], BENE_SCHEMA))
        con = connect(threads=1)
        try:
            build_episode_tables(con, inputs, params(), folders=FOLDERS)
            names = {n for f in FOLDERS for m in [load_manifest(f)] for n in (*m.inputs, *m.created)}
            return {n: tuple((r[0], r[1]) for r in con.execute(f"DESCRIBE {n}").fetchall()) for n in sorted(names)}
        finally:
            con.close()


def _register(con: duckdb.DuckDBPyConnection, name: str, rows: Rows) -> None:
    types = relation_types()[name]
    known = [c for c, _ in types]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({', '.join(f'{c} {t}' for c, t in types)})")
    if isinstance(rows, pl.DataFrame):
        unknown = sorted(set(rows.columns) - set(known))
        if unknown:
            raise KeyError(f"{name} has no column(s) {unknown}")
        con.register("_given", rows)
        con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _given")
        con.unregister("_given")
        return
    for row in rows:
        unknown = sorted(set(row) - set(known))
        if unknown:
            raise KeyError(f"{name} has no column(s) {unknown}")
        cols = list(row)
        con.execute(f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                    [row[c] for c in cols])


def run_step(folder: str, file: str, given: dict[str, Rows], *, values: dict[str, Any] | None = None,
             columns: list[str] | None = None) -> list[dict]:
    """Run sql/<folder>/<file> alone on `given` (relation -> rows) and return the rows of the relation
    it creates (only `columns`, default all), sorted by every returned column. `values` override the
    stage's placeholder values (e.g. last_service_date, pair_scope, basis); `demographics_supplied`
    defaults, as in the stage, to whether a non-empty bene_src is given."""
    manifest = load_manifest(folder)
    step = manifest.step(file)
    extra = sorted(set(given) - set(step.reads))
    if extra:
        raise KeyError(f"{folder}/{file} does not read {extra} (it reads {list(step.reads)})")
    missing = sorted(set(step.reads) - set(given) - set(PARAMETER_TABLES) - set(REFERENCE_STEPS))
    if missing:
        raise KeyError(f"{folder}/{file} reads {missing}: give rows for them (an empty list for none)")
    demographics = len(given.get("bene_src", [])) > 0
    vals = _placeholder_values(params(), None, demographics) | (values or {})
    con = connect(threads=1)
    try:
        _parameter_tables(con, params())
        for name, (ref_folder, ref_file) in REFERENCE_STEPS.items():
            if name in step.reads and name not in given:
                ref = load_manifest(ref_folder)
                run_sql_step(con, ref, ref.step(ref_file), vals)
        for name, rows in given.items():
            _register(con, name, rows)
        run_sql_step(con, manifest, step, vals)
        select = ", ".join(columns) if columns else "*"
        return fetch_dicts(con, f"SELECT {select} FROM {step.creates[0]} ORDER BY ALL")
    finally:
        con.close()


def column_names(folder: str, file: str) -> list[str]:
    """The columns of the relation a step creates, as the stage gives them."""
    return [c for c, _ in relation_types()[load_manifest(folder).step(file).creates[0]]]
