"""Ingest stage: claims files -> typed Parquet tables, with every input row accounted for.

Rules N1-N6 live in `sql/10_ingest/` (run in the order of its manifest.toml) and N1's cross-walk
resolution in `pipelines/ingest/crosswalk.py`; this module supplies the manifest's Python steps
(hooks): staging every file through its reader, resolving the cross-walk, loading the N5 factors and
refusing a file past the quarantine rate. Reconciliation per file:
rows read = rows loaded + rows excluded (ingest_audit) + rows quarantined.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.duck import Raw, connect, fetch_dicts, render, sql_text
from pipelines.ingest import crosswalk
from pipelines.ingest.files import InputFile, InputFileError, discover
from pipelines.ingest.readers import layout, raw_select, reader_rejects
from pipelines.methodology import Methodology
from pipelines.settings import RunSettings
from pipelines.sqlstage import load_manifest, run_manifest

SQL_FOLDER = "10_ingest"
# Typed staging statement and stage table per claims layout (RIF carrier rows take CCLF5 names).
STAGE_SQL = {
    "cclf5": "11_stage_partb.sql", "rif_carrier": "11_stage_partb.sql", "cclf1": "12_stage_cclf1.sql",
    "cclf4": "13_stage_cclf4.sql", "cclf8": "14_stage_cclf8.sql", "cclf9": "15_stage_cclf9.sql",
}
STAGE_TABLE = {
    "cclf5": "stage_partb", "rif_carrier": "stage_partb", "cclf1": "stage_cclf1",
    "cclf4": "stage_cclf4", "cclf8": "stage_cclf8", "cclf9": "stage_cclf9",
}
CLAIM_KINDS = tuple(STAGE_SQL)
PART_B_KINDS = ("cclf5", "rif_carrier")
RAW_DELIMITER = {"fixed": "", "csv": ",", "parquet": ",", "pipe": "|"}  # how a quarantined row is written back
INGEST_TABLES = tuple(load_manifest(SQL_FOLDER).written)


class QuarantineRateExceeded(Exception):
    """A file quarantined more rows than the configured rate allows. str() is the user message."""


@dataclass
class IngestResult:
    row_counts: dict[str, int]
    files: list[dict]
    seconds: float
    ignored: list[str] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    audit_rules: dict[str, int] = field(default_factory=dict)
    cost_basis: dict[str, int] = field(default_factory=dict)  # N5 label -> lines

    @property
    def totals(self) -> dict[str, int]:
        keys = ("rows_read", "rows_loaded", "rows_excluded", "rows_quarantined")
        return {k: sum(f[k] for f in self.files) for k in keys}

    @property
    def unreconciled(self) -> list[str]:
        return [f["source_file"] for f in self.files if not f["reconciled"]]


# --------------------------------------------------------------------------------------------
# Hook "stage_files": every physical row of every claims file -> its stage table or reader_rejects


def _layout_for(f: InputFile):
    return layout("cclf5" if f.kind == "rif_carrier" else f.kind)


def _stage_select(f: InputFile, raw: str, record_length: int | None) -> str:
    if f.kind == "cclf5":
        raw = f"SELECT *, NULL::VARCHAR AS FINAL_ACTION, NULL::VARCHAR AS PRVDR_ZIP FROM ({raw})"
    return render(
        sql_text(f"{SQL_FOLDER}/{STAGE_SQL[f.kind]}"), raw=Raw(raw), source_file_id=f.file_id, source_file=f.name,
        delivery_date=f.delivery_date, layout="rif" if f.kind == "rif_carrier" else f.kind,
        record_length=record_length, raw_delimiter=RAW_DELIMITER.get(f.fmt, ""),
    )


def stage_file(con: duckdb.DuckDBPyConnection, f: InputFile, created: set[str]) -> None:
    """Read one claims file into its stage table; reader rejects go to reader_rejects."""
    lay = _layout_for(f)
    stage = _stage_select(f, raw_select(con, f, lay), lay.record_length if f.fmt == "fixed" else None)
    table = STAGE_TABLE[f.kind]
    try:
        if table in created:
            con.execute(f"INSERT INTO {table} BY NAME {stage}")
        else:
            con.execute(f"CREATE TABLE {table} AS {stage}")
            created.add(table)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputFileError(f.path, f"could not be read as {f.kind.upper()} ({f.fmt}): {first}") from None
    rejects = reader_rejects(con, f)
    if rejects and f.fmt != "fixed":  # the fixed-width reader numbers its rows exactly itself
        _shift_rows_past_rejects(con, table, f, rejects)
    if rejects:
        con.executemany(
            "INSERT INTO reader_rejects VALUES (?, ?, ?, ?)",
            [(f.file_id, row, reason, raw_text) for row, reason, raw_text in rejects],
        )


def _shift_rows_past_rejects(con, table: str, f: InputFile, rejects: list) -> None:
    """DuckDB's CSV reader numbers the rows it could read; shift them past the rejected physical rows."""
    con.execute("CREATE OR REPLACE TEMP TABLE _rej(source_row BIGINT)")
    con.executemany("INSERT INTO _rej VALUES (?)", [(r,) for r, _, _ in rejects])
    con.execute(
        f"""UPDATE {table} AS t SET source_row = t.source_row + s.shift
            FROM (SELECT k.source_row AS k, count(r.rank) AS shift
                  FROM (SELECT DISTINCT source_row FROM {table} WHERE source_file_id = {f.file_id}) AS k
                  JOIN (SELECT source_row - row_number() OVER (ORDER BY source_row) AS rank FROM _rej) AS r
                    ON r.rank < k.source_row
                  GROUP BY k.source_row) AS s
            WHERE t.source_file_id = {f.file_id} AND t.source_row = s.k"""
    )


def _empty_stage(con: duckdb.DuckDBPyConnection, kind: str) -> None:
    """An empty stage table for a kind without files, so the later SQL runs unchanged."""
    f = InputFile(0, Path("none"), kind, "fixed", None)
    lay = _layout_for(f)
    cols = ", ".join(f'NULL::VARCHAR AS "{n}"' for n in lay.field_names)
    raw = (f"SELECT {cols}, 0::BIGINT AS source_row, NULL::VARCHAR AS delivery_file, "
           f"NULL::VARCHAR AS delivery_date_text, NULL::VARCHAR[] AS raw_record, NULL::INTEGER AS record_length "
           f"WHERE false")
    con.execute(f"CREATE TABLE {STAGE_TABLE[kind]} AS {_stage_select(f, raw, None)}")


def stage_files(con: duckdb.DuckDBPyConnection, files: list[InputFile], settings: RunSettings) -> None:
    con.execute("CREATE TABLE reader_rejects (source_file_id INTEGER, source_row BIGINT, reason VARCHAR, raw_record VARCHAR)")
    con.execute("CREATE TABLE input_files (source_file_id INTEGER, source_file VARCHAR, kind VARCHAR, format VARCHAR)")
    con.executemany("INSERT INTO input_files VALUES (?, ?, ?, ?)", [(f.file_id, f.name, f.kind, f.fmt) for f in files])
    claims = [f for f in files if f.kind in CLAIM_KINDS]
    created: set[str] = set()
    total_bytes = sum(f.path.stat().st_size for f in claims)
    settings.progress(f"ingest: {len(claims)} claims files, {total_bytes / 1e6:,.1f} MB")
    for i, f in enumerate(claims, start=1):
        t0 = time.perf_counter()
        stage_file(con, f, created)
        settings.progress(f"ingest: [{i}/{len(claims)}] {f.name} ({f.kind}, {f.fmt}) {time.perf_counter() - t0:.1f}s")
    for kind in ("cclf5", "cclf1", "cclf4", "cclf8", "cclf9"):
        if STAGE_TABLE[kind] not in created:
            _empty_stage(con, kind)
            created.add(STAGE_TABLE[kind])


# --------------------------------------------------------------------------------------------
# Hooks "resolve_crosswalk" (N1), "standardization_factors" (N5), "quarantine_rate"


def resolve_crosswalk(con: duckdb.DuckDBPyConnection) -> None:
    """N1: the latest CCLF9 delivery, resolved; rows of older deliveries are audited (N1)."""
    latest = con.execute("SELECT max(delivery_date) FROM stage_cclf9 WHERE quarantine_reason IS NULL").fetchone()[0]
    rows = con.execute(
        """SELECT previous_bene_id, current_bene_id, previous_effective_date FROM stage_cclf9
           WHERE quarantine_reason IS NULL AND delivery_date IS NOT DISTINCT FROM ?""",
        [latest],
    ).fetchall()
    resolved = crosswalk.resolve(crosswalk.choose_edges(rows))
    table = pa.table({
        "previous_bene_id": pa.array(list(resolved.keys()), pa.string()),
        "current_bene_id": pa.array(list(resolved.values()), pa.string()),
    })
    con.register("_bene_xref_arrow", table)
    con.execute("CREATE TABLE bene_xref AS SELECT * FROM _bene_xref_arrow")
    con.unregister("_bene_xref_arrow")
    con.execute(
        """CREATE TABLE xref_versions AS
           SELECT *, CASE WHEN delivery_date IS DISTINCT FROM ? THEN 'N1' END AS rule
           FROM stage_cclf9 WHERE quarantine_reason IS NULL""",
        [latest],
    )


def load_standardization_factors(con: duckdb.DuckDBPyConnection, files: list[InputFile]) -> None:
    """N5: optional standardization_factors.csv (provider_state, factor); empty when absent."""
    f = next((x for x in files if x.kind == "standardization_factors"), None)
    if f is None:
        con.execute("CREATE TABLE standardization_factors (provider_state VARCHAR, factor DOUBLE)")
        return
    try:
        con.execute(
            "CREATE TABLE standardization_factors AS SELECT CAST(provider_state AS VARCHAR) AS provider_state, "
            "CAST(factor AS DOUBLE) AS factor FROM read_csv(?, header = true, all_varchar = true)",
            [str(f.path)],
        )
    except duckdb.Error as exc:
        raise InputFileError(f.path, "expected CSV with columns provider_state,factor: "
                             + str(exc).splitlines()[0]) from None


def check_quarantine_rate(con: duckdb.DuckDBPyConnection, max_rate: float) -> None:
    """data-contracts "Bad input": refuse to continue past the quarantine rate, naming the file and
    its first bad rows (line numbers and reasons, never the rows' content)."""
    for row in fetch_dicts(con, "SELECT * FROM file_stats ORDER BY source_file"):
        if row["rows_read"] and row["rows_quarantined"] / row["rows_read"] > max_rate:
            first = con.execute(
                "SELECT source_row, reason FROM quarantine_rows WHERE source_file = ? ORDER BY source_row LIMIT 5",
                [row["source_file"]],
            ).fetchall()
            shown = "; ".join(f"row {r}: {reason}" for r, reason in first)
            raise QuarantineRateExceeded(
                f"{row['source_file']}: {row['rows_quarantined']:,} of {row['rows_read']:,} rows quarantined "
                f"({row['rows_quarantined'] / row['rows_read']:.1%} > {max_rate:.1%} allowed); first: {shown}"
            )


# --------------------------------------------------------------------------------------------
# The stage


def run_ingest(settings: RunSettings, methodology: Methodology) -> IngestResult:
    started = time.perf_counter()
    files = discover(settings.input_dir)
    if not any(f.kind in PART_B_KINDS for f in files):
        raise InputFileError(settings.input_dir,
                             "no Part B claims files found (expected …ZC5… CCLF5 or carrier*.csv/txt RIF files)")
    con = connect(settings.threads, settings.memory_limit, settings.temp_dir)
    try:
        hooks = {
            "stage_files": lambda: stage_files(con, files, settings),
            "resolve_crosswalk": lambda: resolve_crosswalk(con),
            "standardization_factors": lambda: load_standardization_factors(con, files),
            "quarantine_rate": lambda: check_quarantine_rate(con, methodology.ingest.quarantine_max_rate),
        }
        values = {"default_factor": methodology.ingest.default_standardization_factor}
        run = run_manifest(con, load_manifest(SQL_FOLDER), values, write_path=settings.table_path, hooks=hooks,
                           progress=settings.progress)
        return IngestResult(
            row_counts=run.rows,
            files=fetch_dicts(con, "SELECT * FROM file_stats ORDER BY source_file"),
            seconds=time.perf_counter() - started,
            ignored=[f.name for f in files if f.kind == "ignored"],
            step_seconds=run.seconds,
            quarantine_reasons=dict(con.execute(
                "SELECT reason, count(*) FROM quarantine_rows GROUP BY ALL ORDER BY 1").fetchall()),
            audit_rules=dict(con.execute(
                "SELECT rule, count(*) FROM ingest_audit_rows GROUP BY ALL ORDER BY 1").fetchall()),
            cost_basis=dict(con.execute(
                "SELECT cost_basis, count(*) FROM read_parquet(?) GROUP BY ALL ORDER BY 1",
                [str(settings.table_path("partb_lines"))]).fetchall()),
        )
    finally:
        con.close()
