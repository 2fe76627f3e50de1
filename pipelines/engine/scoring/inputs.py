"""What the scoring stage reads: warehouse tables written by earlier stages, the run's optional
side inputs (CSV files of the input folder) and SQL aggregates over partb_lines. Every read that
scoring does goes through here; nothing here computes a rule."""
from __future__ import annotations

import difflib
import re
from pathlib import Path

import polars as pl

from pipelines.engine.duck import Raw, connect, query_sql_file, sql_literal
from pipelines.engine.ingest.files import SIDE_FILES
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import TableMissing, parquet_files, parquet_row_count, read_frame, scan_frame
from pipelines.engine.tables import PARTICIPANT

SCORING_SIDE_FILES = tuple(f for f, kind in SIDE_FILES.items() if kind != "standardization_factors")


class SideInputError(Exception):
    """A side input that cannot be used. str() is the one-line user message naming the file."""


# --------------------------------------------------------------------------------------------
# Warehouse tables


def read_table(settings: RunSettings, name: str, columns: list[str] | None = None) -> pl.DataFrame:
    return settings.warehouse.read(name, columns)


def part_a_supplied(settings: RunSettings) -> bool:
    """Q6: the run has Part A claims (parta_claims with at least one row)."""
    path = settings.read_path("parta_claims")
    return path.exists() and parquet_row_count(path) > 0


def scoring_episodes(settings: RunSettings) -> pl.DataFrame:
    """Every episode with the flags scoring needs and its age on the trigger date (X1/R1). `fit` = counts_for_scoring (closed, not excluded,
    not quarantined: one home, sql/20_episodes/25_episodes.sql); `excluded` = excluded or quarantined."""
    return read_table(settings, "episodes", [
        "episode_id", "cohort", "bene_id", "start_date", "end_date", "performance_year", "status", "trigger_npi",
        "excluded", "quarantined", "counts_for_scoring", "age_at_trigger",
    ]).select(
        "episode_id", "cohort", "bene_id", "start_date", "end_date", pl.col("performance_year").cast(pl.Int64),
        "age_at_trigger",
        "status", "trigger_npi", (pl.col("excluded") | pl.col("quarantined")).alias("excluded"),
        pl.col("counts_for_scoring").alias("fit"),
    )


def attributed_counts(settings: RunSettings, episodes: pl.DataFrame, py: int) -> pl.DataFrame:
    """R5/G4: attributed episodes that count for scoring, per TIN/NPI and cohort in the PY."""
    att = read_table(settings, "episode_attribution", ["episode_id", "tin", "npi", "attributed"])
    return (att.filter(pl.col("attributed"))
            .join(episodes.filter(pl.col("fit") & (pl.col("performance_year") == py)).select("episode_id", "cohort"),
                  on="episode_id")
            .group_by("tin", "npi", "cohort").agg(pl.len().alias("attributed_episodes")))


def restrict_tins(df: pl.DataFrame, settings: RunSettings) -> pl.DataFrame:
    """`asm run --tin T1,T2`: participant-level outputs for those TINs only (benchmarks use everyone)."""
    return df.filter(pl.col("tin").is_in(list(settings.tins))) if settings.tins else df


def check_tins(settings: RunSettings) -> None:
    """`asm run --tin`: every value must be a 9-digit TIN billing Part B lines in the data."""
    bad = [t for t in settings.tins if not re.fullmatch(r"[0-9]{9}", t)]
    if bad:
        raise SideInputError(f"--tin {bad[0]}: not a 9-digit TIN")
    known = set(scan_frame(settings.read_path("partb_lines")).select(pl.col("tin").unique())
                .collect()["tin"].drop_nulls())
    missing = [t for t in settings.tins if t not in known]
    if missing:
        near = difflib.get_close_matches(missing[0], sorted(known), n=3, cutoff=0)
        raise SideInputError(f"--tin {missing[0]}: no Part B line of the data is billed under this TIN"
                             + (f" (nearest: {', '.join(near)})" if near else ""))


def keep_other_tins(tables: dict[str, pl.DataFrame], settings: RunSettings) -> dict[str, pl.DataFrame]:
    """`asm run --tin`: tables with a `tin` column hold the run's rows of those TINs plus the other TINs' rows
    as published by earlier runs, so publishing leaves other TINs' participant rows in place."""
    if not settings.tins:
        return tables
    check_tins(settings)
    mine = pl.col("tin").is_in(list(settings.tins))
    out = {}
    for name, df in tables.items():
        published = settings.warehouse.published_path(name)
        if "tin" not in df.columns or not published.exists():
            out[name] = df
            continue
        others = read_frame(published).filter(~mine)
        out[name] = pl.concat([others, df.filter(mine)], how="diagonal_relaxed")
    return out


# --------------------------------------------------------------------------------------------
# SQL aggregates over partb_lines (sql/60_scoring)


EMPTY_RELATIONS = {
    "parta_diagnoses": "(SELECT NULL::VARCHAR AS bene_id, NULL::DATE AS from_date, NULL::VARCHAR AS dx WHERE false)",
}


def relation(settings: RunSettings, table: str) -> Raw:
    """A warehouse table as a DuckDB relation for a SQL placeholder; an optional table that was not
    written (Part A absent) is an empty relation of the columns the SQL reads."""
    path = settings.read_path(table)
    if not path.exists() and table in EMPTY_RELATIONS:
        return Raw(EMPTY_RELATIONS[table])
    if not path.exists():
        raise TableMissing(f"table {table} not found at {path}; run the stage that writes it first")
    return Raw(f"read_parquet({sql_literal(parquet_files(path))})")


def partb_query(settings: RunSettings, sql_file: str, **values) -> pl.DataFrame:
    """Run one of sql/60_scoring's queries over partb_lines (and the tables it names)."""
    con = connect(settings.threads, settings.memory_limit, settings.temp_dir)
    try:
        sql = query_sql_file(con, f"60_scoring/{sql_file}", partb_lines=relation(settings, "partb_lines"),
                             **values)
        return pl.from_arrow(con.sql(sql).to_arrow_table())
    finally:
        con.close()


def participant_paid(settings: RunSettings, py: int) -> pl.DataFrame:
    """P3/S5: net Part B paid amount per TIN/NPI in the PY (tin, npi, partb_paid, lines)."""
    return partb_query(settings, "64_participant_paid.sql", performance_year=py)


# --------------------------------------------------------------------------------------------
# Side inputs of the input folder


def side_file(settings: RunSettings, name: str) -> Path:
    return Path(settings.input_dir) / name


def read_side_csv(settings: RunSettings, name: str, required: list[str] | None = None) -> pl.DataFrame | None:
    """An optional side input, every column as trimmed text with lower-case names (None when absent)."""
    path = side_file(settings, name)
    if not path.is_file():
        return None
    try:
        df = pl.read_csv(path, infer_schema=False, glob=False)
    except Exception as exc:  # noqa: BLE001 - any read error is a user error naming the file
        raise SideInputError(f"{path}: could not be read as CSV with a header: {str(exc).splitlines()[0]}") from None
    names = [c.strip().lower() for c in df.columns]
    twice = sorted({n for n in names if names.count(n) > 1}
                   | {c.rsplit("_duplicated_", 1)[0].strip().lower() for c in df.columns if "_duplicated_" in c})
    if twice:
        raise SideInputError(f"{name}: column {twice[0]!r} appears more than once in the header; keep one")
    df = df.rename(dict(zip(df.columns, names))).with_columns(pl.all().str.strip_chars())
    missing = [c for c in (required or []) if c not in df.columns]
    if missing:
        raise SideInputError(f"{name}: missing column(s) {', '.join(missing)} (expected {', '.join(required)})")
    return df


def side_inputs_status(settings: RunSettings) -> dict[str, str]:
    return {f: ("supplied" if side_file(settings, f).is_file() else "absent") for f in SCORING_SIDE_FILES}


__all__ = ["PARTICIPANT", "SideInputError", "TableMissing", "attributed_counts", "check_tins", "keep_other_tins",
           "part_a_supplied", "participant_paid", "partb_query", "read_side_csv", "read_table", "restrict_tins",
           "scoring_episodes", "side_inputs_status"]
