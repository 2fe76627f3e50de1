"""Ingest stage: claims files -> typed Parquet tables, with every input row accounted for.

Rules N1-N6 live in `sql/10_ingest/` (and N1's cross-walk resolution in `pipelines/crosswalk.py`);
this module finds the files, runs the readers, applies the SQL in order and reconciles
rows read = rows loaded + rows excluded (ingest_audit) + rows quarantined, per file.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines import crosswalk
from pipelines.duck import Raw, connect, fetch_dicts, query_sql_file, render, sql_text, write_parquet
from pipelines.methodology import Methodology
from pipelines.readers import InputFile, InputFileError, discover, layout, raw_select, reader_rejects
from pipelines.settings import RunSettings

STAGE_SQL = {
    "cclf5": "10_ingest/12_stage_partb.sql",
    "rif_carrier": "10_ingest/12_stage_partb.sql",
    "cclf1": "10_ingest/13_stage_cclf1.sql",
    "cclf4": "10_ingest/14_stage_cclf4.sql",
    "cclf8": "10_ingest/15_stage_cclf8.sql",
    "cclf9": "10_ingest/16_stage_cclf9.sql",
}
STAGE_TABLE = {
    "cclf5": "stage_partb", "rif_carrier": "stage_partb", "cclf1": "stage_cclf1",
    "cclf4": "stage_cclf4", "cclf8": "stage_cclf8", "cclf9": "stage_cclf9",
}
CLAIM_KINDS = tuple(STAGE_SQL)
RAW_DELIMITER = {"fixed": "", "csv": ",", "parquet": ",", "pipe": "|"}  # how a quarantined row is written back
INGEST_TABLES = (
    "partb_lines", "parta_claims", "parta_diagnoses", "beneficiaries", "bene_xref",
    "ingest_audit", "quarantine", "ingest_files",
)


class QuarantineRateExceeded(Exception):
    """A file quarantined more rows than the configured rate allows. str() is the user message."""


@dataclass
class IngestResult:
    row_counts: dict[str, int]
    files: list[dict]
    seconds: float
    cost_basis: str
    ignored: list[str] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    audit_rules: dict[str, int] = field(default_factory=dict)


def _layout_for(f: InputFile):
    return layout("cclf5" if f.kind == "rif_carrier" else f.kind)


def _stage_file(con: duckdb.DuckDBPyConnection, f: InputFile, created: set[str]) -> None:
    """Read one claims file into its stage table; reader rejects go to reader_rejects."""
    lay = _layout_for(f)
    raw = raw_select(con, f, lay)
    if f.kind == "cclf5":
        raw = f"SELECT *, NULL::VARCHAR AS FINAL_ACTION, NULL::VARCHAR AS PRVDR_ZIP FROM ({raw})"
    stage = render(
        sql_text(STAGE_SQL[f.kind]),
        raw=Raw(raw),
        source_file_id=f.file_id,
        source_file=f.name,
        delivery_date=f.delivery_date,
        layout="rif" if f.kind == "rif_carrier" else f.kind,
        record_length=lay.record_length if f.fmt == "fixed" else None,
        raw_delimiter=RAW_DELIMITER[f.fmt],
    )
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
        # DuckDB's CSV reader numbers the rows it could read; shift them past the rejected physical rows.
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
    if rejects:
        con.executemany(
            "INSERT INTO reader_rejects VALUES (?, ?, ?, ?)",
            [(f.file_id, row, reason, raw_text) for row, reason, raw_text in rejects],
        )


def _empty_stage(con: duckdb.DuckDBPyConnection, kind: str) -> None:
    """Create an empty stage table for a kind that has no files, so later SQL can run unchanged."""
    lay = _layout_for(InputFile(0, Path("none"), kind, "fixed", None))
    cols = ", ".join(f'NULL::VARCHAR AS "{n}"' for n in lay.field_names)
    extra = ", NULL::VARCHAR AS FINAL_ACTION, NULL::VARCHAR AS PRVDR_ZIP" if kind == "cclf5" else ""
    raw = (f"SELECT {cols}{extra}, 0::BIGINT AS source_row, NULL::VARCHAR AS delivery_file, "
           f"NULL::VARCHAR AS delivery_date_text, NULL::VARCHAR[] AS raw_record, NULL::INTEGER AS record_length "
           f"WHERE false")
    stage = render(sql_text(STAGE_SQL[kind]), raw=Raw(raw), source_file_id=0, source_file="", delivery_date=None,
                   layout=kind, record_length=None, raw_delimiter="")
    con.execute(f"CREATE TABLE {STAGE_TABLE[kind]} AS {stage}")


def _resolve_crosswalk(con: duckdb.DuckDBPyConnection) -> None:
    """N1: the latest CCLF9 delivery, resolved; rows of older deliveries are audited (N1)."""
    latest = con.execute(
        "SELECT max(delivery_date) FROM stage_cclf9 WHERE quarantine_reason IS NULL"
    ).fetchone()[0]
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


def _standardization_factors(con: duckdb.DuckDBPyConnection, files: list[InputFile]) -> str:
    """N5: optional standardization_factors.csv (provider_state, factor). Returns the cost basis label."""
    f = next((x for x in files if x.kind == "standardization_factors"), None)
    if f is None:
        con.execute("CREATE TABLE standardization_factors (provider_state VARCHAR, factor DOUBLE)")
        return "allowed, not standardized"
    try:
        con.execute(
            "CREATE TABLE standardization_factors AS SELECT CAST(provider_state AS VARCHAR) AS provider_state, "
            "CAST(factor AS DOUBLE) AS factor FROM read_csv(?, header = true, all_varchar = true)",
            [str(f.path)],
        )
    except duckdb.Error as exc:
        raise InputFileError(f.path, "expected CSV with columns provider_state,factor: "
                             + str(exc).splitlines()[0]) from None
    return "standardized allowed amount"


def run_ingest(settings: RunSettings, methodology: Methodology) -> IngestResult:
    started = time.perf_counter()
    files = discover(settings.input_dir)
    claims = [f for f in files if f.kind in CLAIM_KINDS]
    if not any(f.kind in ("cclf5", "rif_carrier") for f in claims):
        raise InputFileError(settings.input_dir, "no Part B claims files found (expected …ZC5… CCLF5 or carrier*.csv/txt RIF files)")
    con = connect(settings.threads, settings.memory_limit, settings.temp_dir)
    try:
        return _ingest(con, settings, methodology, files, claims, started)
    finally:
        con.close()


def _ingest(con, settings, methodology, files, claims, started) -> IngestResult:
    con.execute("CREATE TABLE reader_rejects (source_file_id INTEGER, source_row BIGINT, reason VARCHAR, raw_record VARCHAR)")
    con.execute("CREATE TABLE input_files (source_file_id INTEGER, source_file VARCHAR, kind VARCHAR, format VARCHAR)")
    con.executemany("INSERT INTO input_files VALUES (?, ?, ?, ?)", [(f.file_id, f.name, f.kind, f.fmt) for f in files])
    created: set[str] = set()
    total_bytes = sum(f.path.stat().st_size for f in claims)
    settings.progress(f"ingest: {len(claims)} claims files, {total_bytes / 1e6:,.1f} MB")
    for i, f in enumerate(claims, start=1):
        t0 = time.perf_counter()
        _stage_file(con, f, created)
        settings.progress(f"ingest: [{i}/{len(claims)}] {f.name} ({f.kind}, {f.fmt}) {time.perf_counter() - t0:.1f}s")
    for kind in ("cclf5", "cclf1", "cclf4", "cclf8", "cclf9"):
        if STAGE_TABLE[kind] not in created:
            _empty_stage(con, kind)
            created.add(STAGE_TABLE[kind])

    _resolve_crosswalk(con)
    cost_basis = _standardization_factors(con, files)
    default_factor = float(methodology.get("ingest.default_standardization_factor"))

    steps: dict[str, float] = {}

    def step(name: str, sql: str) -> None:
        t0 = time.perf_counter()
        con.execute(sql)
        steps[name] = round(time.perf_counter() - t0, 2)
        settings.progress(f"ingest: {name} {steps[name]:.1f}s")

    step("rows read per file", f"CREATE TABLE rows_read AS {query_sql_file(con, '10_ingest/28_rows_read.sql')}")
    step("quarantine", f"CREATE TABLE quarantine_rows AS {query_sql_file(con, '10_ingest/31_quarantine.sql')}")
    step("N1-N4 Part B versions", f"CREATE TABLE partb_versions AS {query_sql_file(con, '10_ingest/20_partb_versions.sql')}")
    con.execute("DROP TABLE stage_partb")  # every Part B row now lives in partb_versions or quarantine_rows
    step("N4 netting", f"CREATE TABLE partb_netting AS {query_sql_file(con, '10_ingest/21_partb_netting.sql')}")
    step("Part A versions", f"CREATE TABLE parta_versions AS {query_sql_file(con, '10_ingest/23_parta_versions.sql')}")
    step("N4 Part A netting", f"CREATE TABLE parta_netting AS {query_sql_file(con, '10_ingest/24_parta_netting.sql')}")
    step("Part A diagnoses", f"CREATE TABLE parta_diagnosis_versions AS {query_sql_file(con, '10_ingest/26_parta_diagnoses.sql')}")
    step("beneficiaries", f"CREATE TABLE beneficiary_versions AS {query_sql_file(con, '10_ingest/27_beneficiaries.sql')}")
    step("audit", f"CREATE TABLE ingest_audit_rows AS {query_sql_file(con, '10_ingest/30_ingest_audit.sql')}")

    counts: dict[str, int] = {}
    out = settings.table_path
    # Quarantine and file reconciliation first: a run refused for its quarantine rate still leaves them.
    counts["quarantine"] = write_parquet(con, "SELECT * FROM quarantine_rows", out("quarantine"))
    counts["ingest_audit"] = write_parquet(con, "SELECT * FROM ingest_audit_rows", out("ingest_audit"))
    step("reconciliation", f"CREATE TABLE file_stats AS {query_sql_file(con, '10_ingest/32_ingest_files.sql')}")
    counts["ingest_files"] = write_parquet(con, "SELECT * FROM file_stats ORDER BY source_file", out("ingest_files"))
    file_rows = fetch_dicts(con, "SELECT * FROM file_stats ORDER BY source_file")
    _check_quarantine_rate(con, file_rows, float(methodology.get("ingest.quarantine_max_rate")))

    t0 = time.perf_counter()
    counts["partb_lines"] = write_parquet(
        con, query_sql_file(con, "10_ingest/22_partb_lines.sql", default_factor=default_factor), out("partb_lines")
    )
    steps["write partb_lines"] = round(time.perf_counter() - t0, 2)
    settings.progress(f"ingest: wrote partb_lines {steps['write partb_lines']:.1f}s")
    counts["parta_claims"] = write_parquet(con, query_sql_file(con, "10_ingest/25_parta_claims.sql"), out("parta_claims"))
    counts["parta_diagnoses"] = write_parquet(
        con, "SELECT * EXCLUDE (is_redelivery) FROM parta_diagnosis_versions WHERE NOT is_redelivery", out("parta_diagnoses")
    )
    counts["beneficiaries"] = write_parquet(
        con, "SELECT * EXCLUDE (is_superseded, source_file_id) FROM beneficiary_versions WHERE NOT is_superseded",
        out("beneficiaries"),
    )
    counts["bene_xref"] = write_parquet(con, "SELECT * FROM bene_xref ORDER BY previous_bene_id", out("bene_xref"))
    ignored = [f.name for f in files if f.kind == "ignored"]
    reasons = dict(con.execute("SELECT reason, count(*) FROM quarantine_rows GROUP BY ALL ORDER BY 1").fetchall())
    rules = dict(con.execute("SELECT rule, count(*) FROM ingest_audit_rows GROUP BY ALL ORDER BY 1").fetchall())
    return IngestResult(counts, file_rows, time.perf_counter() - started, cost_basis, ignored, steps, reasons, rules)


def _check_quarantine_rate(con, file_rows: list[dict], max_rate: float) -> None:
    """data-contracts "Bad input": refuse to continue past the quarantine rate, naming the file and
    its first bad rows (line numbers and reasons, never the rows' content)."""
    for row in file_rows:
        if row["rows_read"] and row["rows_quarantined"] / row["rows_read"] > max_rate:
            first = con.execute(
                """SELECT source_row, reason FROM quarantine_rows WHERE source_file = ?
                   ORDER BY source_row LIMIT 5""",
                [row["source_file"]],
            ).fetchall()
            shown = "; ".join(f"row {r}: {reason}" for r, reason in first)
            raise QuarantineRateExceeded(
                f"{row['source_file']}: {row['rows_quarantined']:,} of {row['rows_read']:,} rows quarantined "
                f"({row['rows_quarantined'] / row['rows_read']:.1%} > {max_rate:.1%} allowed); first: {shown}"
            )


# --------------------------------------------------------------------------------------------
# Dagster: one multi-asset, because one pass over the files yields every ingest table and the
# per-file reconciliation must see them all.

from dagster import AssetSpec, Failure, MaterializeResult, MetadataValue, multi_asset  # noqa: E402

from pipelines.duck import sql_files_fingerprint  # noqa: E402
from pipelines.metadata import table_metadata  # noqa: E402
from pipelines.resources import AsmResource  # noqa: E402

INGEST_DESCRIPTIONS = {
    "partb_lines": "Netted Part B claim lines (N1-N6): one row per surviving (control number, beneficiary, line).",
    "parta_claims": "Netted Part A institutional claim headers (CCLF1), for C1 and Q6.",
    "parta_diagnoses": "Part A claim diagnoses (CCLF4).",
    "beneficiaries": "Beneficiary demographics (CCLF8) under current ids; no names or addresses.",
    "bene_xref": "Resolved beneficiary id cross-walk (N1): previous id -> most recent id.",
    "ingest_audit": "Every input row excluded by a rule (N1-N4), with the rule id and why.",
    "quarantine": "Every input row that could not be read, with a machine-readable reason.",
    "ingest_files": "Per input file: rows read = loaded + excluded + quarantined.",
}


def ingest_asset(code_version: str):
    @multi_asset(
        name="ingest",
        specs=[
            AssetSpec(t, description=INGEST_DESCRIPTIONS[t], group_name="ingest", code_version=code_version,
                      kinds={"duckdb", "parquet"})
            for t in INGEST_TABLES
        ],
        can_subset=False,
    )
    def ingest(context, asm: AsmResource):
        settings, methodology = asm.settings(), asm.methodology()
        try:
            result = run_ingest(settings, methodology)
        except (InputFileError, QuarantineRateExceeded) as exc:
            raise Failure(description=f"ingest: {exc}") from None
        files_md = "| file | kind | read | loaded | excluded | quarantined | reconciled |\n|---|---|---|---|---|---|---|\n" + "\n".join(
            f"| {f['source_file']} | {f['kind']} | {f['rows_read']} | {f['rows_loaded']} | {f['rows_excluded']} "
            f"| {f['rows_quarantined']} | {f['reconciled']} |" for f in result.files
        )
        totals = {k: sum(f[k] for f in result.files) for k in ("rows_read", "rows_loaded", "rows_excluded", "rows_quarantined")}
        if not all(f["reconciled"] for f in result.files):
            raise Failure(description="ingest: reconciliation failed: rows read != loaded + excluded + quarantined "
                          "for " + ", ".join(f["source_file"] for f in result.files if not f["reconciled"]))
        context.log.info(f"ingest: {totals} in {result.seconds:.1f}s")
        for table in INGEST_TABLES:
            md = table_metadata(settings.table_path(table), result.row_counts[table])
            if table in ("partb_lines", "ingest_files"):
                md.update({
                    "rows_read": totals["rows_read"], "rows_loaded": totals["rows_loaded"],
                    "rows_excluded": totals["rows_excluded"], "rows_quarantined": totals["rows_quarantined"],
                    "files": MetadataValue.md(files_md),
                    "ignored_files": MetadataValue.json(result.ignored),
                    "seconds": round(result.seconds, 2),
                    "step_seconds": MetadataValue.json(result.step_seconds),
                })
            if table == "quarantine":
                md["rows_by_reason"] = MetadataValue.json(result.quarantine_reasons)
            if table == "ingest_audit":
                md["rows_by_rule"] = MetadataValue.json(result.audit_rules)
            if table == "partb_lines":
                md["cost_basis"] = result.cost_basis
                md["methodology_version"] = methodology.version
            yield MaterializeResult(asset_key=table, metadata=md)

    return ingest


def ingest_code_version(methodology: Methodology) -> str:
    return f"{sql_files_fingerprint('00_macros.sql', '10_ingest')}-{methodology.fingerprint}"
