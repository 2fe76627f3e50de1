"""Staging: one claims file -> one typed Parquet file (its staged rows) plus its reader rejects, and
the views the rule SQL reads over every staged file of a kind.

A file is read by its reader (`readers.raw_select`: fixed-width, CSV, Parquet or RIF), typed by its
layout's stage statement (`sql/10_ingest/11_stage_partb.sql` .. `15_stage_cclf9.sql`: N6 parsing and
the quarantine reason of each row) and written straight to Parquet, one file at a time, so memory
does not grow with the number of deliveries. Rows a reader cannot split go to a small rejects file.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.engine.duck import Raw, render, sql_literal, sql_text
from pipelines.engine.ingest.cache import StagedFile
from pipelines.engine.ingest.files import InputFile, InputFileError
from pipelines.engine.ingest.readers import Layout, layout, raw_select
from pipelines.engine.warehouse import atomic_path

SQL_FOLDER = "10_ingest"
# Typed staging statement and stage relation per claims layout (RIF carrier rows take CCLF5 names).
STAGE_SQL = {
    "cclf5": "11_stage_partb.sql", "rif_carrier": "11_stage_partb.sql", "cclf1": "12_stage_cclf1.sql",
    "cclf4": "13_stage_cclf4.sql", "cclf8": "14_stage_cclf8.sql", "cclf9": "15_stage_cclf9.sql",
}
STAGE_RELATION = {
    "cclf5": "stage_partb", "rif_carrier": "stage_partb", "cclf1": "stage_cclf1",
    "cclf4": "stage_cclf4", "cclf8": "stage_cclf8", "cclf9": "stage_cclf9",
}
CLAIM_KINDS = tuple(STAGE_SQL)
RAW_DELIMITER = {"fixed": "", "csv": ",", "parquet": ",", "pipe": "|"}  # how a quarantined row is written back
REJECTS_SCHEMA = pa.schema([("source_row", pa.int64()), ("reason", pa.string()), ("raw_record", pa.string())])
# The staging cache's files (also line_versions, linked): zstd level 1 writes them with ~7% less CPU than
# the default level 3 and, on CCLF5 text, ~5% smaller (issue 20: lz4, snappy and no compression were
# no cheaper to write, and larger).
PARQUET = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 122880"
# The columns of a Part B delivery's profile (16_delivery_profile.sql) as input_files carries them.
PROFILE_COLUMNS = {"profile_lines": "BIGINT", "negative_allowed_lines": "BIGINT", "median_allowed": "DOUBLE",
                   "distinct_npis": "BIGINT", "distinct_service_dates": "BIGINT", "blank_dx_lines": "BIGINT",
                   "zero_tin_lines": "BIGINT"}


def layout_for(kind: str) -> Layout:
    return layout("cclf5" if kind == "rif_carrier" else kind)


# The quarantine keeps a row as delivered (data contracts, "Bad input"); a row that is not quarantined keeps no
# text (issue 20: the text is built only where a reason is set). CCLF8 rows hold names and addresses: their
# quarantine keeps only the id and the fields read.
QUARANTINE_FIELDS = {"cclf8": ("BENE_MBI_ID", "BENE_DOB", "BENE_SEX_CD", "BENE_DEATH_DT")}
STAGED_ROW = ("SELECT * EXCLUDE (raw_row), CASE WHEN quarantine_reason IS NOT NULL THEN {{raw_text}} END AS raw_record"
              " FROM ({{typed}})")


def stage_select(f: InputFile, raw: str, raw_fields: str = "raw_row.raw_record") -> str:
    """The typed stage statement of a file over its raw relation (its template yields the typed row, its
    quarantine_reason and raw_row, the row as read); `raw_fields` is the row as delivered
    (readers.RawRead.raw_fields), turned into text only for quarantined rows."""
    if f.kind == "cclf5":
        raw = f"SELECT *, NULL::VARCHAR AS FINAL_ACTION, NULL::VARCHAR AS PRVDR_ZIP FROM ({raw})"
    typed = render(sql_text(f"{SQL_FOLDER}/{STAGE_SQL[f.kind]}"), raw=Raw(raw), source_file=f.name,
                   delivery_date=f.delivery_date, layout="rif" if f.kind == "rif_carrier" else f.kind)
    if f.kind in QUARANTINE_FIELDS:
        text = "concat_ws('|', " + ", ".join(f"raw_row.{n}" for n in QUARANTINE_FIELDS[f.kind]) + ")"
    else:
        text = render("raw_text({{raw_fields}}, {{raw_delimiter}})", raw_fields=Raw(raw_fields),
                      raw_delimiter=RAW_DELIMITER.get(f.fmt, ""))
    return render(STAGED_ROW, raw_text=Raw(text), typed=Raw(typed))


def stage_file(con: duckdb.DuckDBPyConnection, f: InputFile, sha256: str, target: Path,
               rejects_target: Path) -> StagedFile:
    """Read one claims file into `target` (typed rows) and `rejects_target` (rows its reader could not
    split), atomically. A file that cannot be read as its kind raises InputFileError (one line)."""
    lay = layout_for(f.kind)
    raw = raw_select(con, f, lay)
    select = stage_select(f, raw.select, raw.raw_fields)
    with atomic_path(target) as tmp:
        try:
            con.execute(f"COPY ({select}) TO {sql_literal(tmp)} ({PARQUET})").fetchall()
        except duckdb.OutOfMemoryException:  # the run's memory budget, not the file (pipelines.engine.errors)
            raise
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise InputFileError(f.path, f"could not be read as {f.kind.upper()} ({f.fmt}): {first}") from None
        rejects = raw.rejects()
        if rejects and f.fmt != "fixed":  # the fixed-width reader numbers its rows exactly itself
            _shift_rows_past_rejects(con, tmp, [r for r, _, _ in rejects])
        staged_rows = con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(tmp)})").fetchall()[0][0]
    rejects_path = None
    if rejects:
        rows, reasons, raws = zip(*rejects)
        with atomic_path(rejects_target) as tmp:
            pq.write_table(pa.table({"source_row": list(rows), "reason": list(reasons), "raw_record": list(raws)},
                                    schema=REJECTS_SCHEMA), tmp, compression="zstd")
        rejects_path = str(rejects_target)
    profile = delivery_profile(con, target) if STAGE_RELATION[f.kind] == "stage_partb" else {}
    return StagedFile(name=f.name, kind=f.kind, fmt=f.fmt, size=f.path.stat().st_size, sha256=sha256,
                      stage_path=str(target), rejects_path=rejects_path, rows_read=staged_rows + len(rejects),
                      rows_rejected=len(rejects), padded_records=raw.padded, profile=profile)


def delivery_profile(con: duckdb.DuckDBPyConnection, staged: Path) -> dict:
    """The Part B delivery's content profile (sql/10_ingest/16_delivery_profile.sql)."""
    cur = con.execute(render(sql_text(f"{SQL_FOLDER}/16_delivery_profile.sql"), staged=str(staged)))
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchall()[0]))


def _shift_rows_past_rejects(con: duckdb.DuckDBPyConnection, staged: Path, rejected_rows: list[int]) -> None:
    """DuckDB's CSV reader numbers the rows it could read; shift them past the rejected physical rows
    (rewrites the staged file; only files with rejects take this path)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _rej(source_row BIGINT)")
    con.executemany("INSERT INTO _rej VALUES (?)", [(r,) for r in rejected_rows])
    src = sql_literal(staged)
    fixed = staged.with_name(staged.name + ".shift")
    con.execute(
        f"""COPY (
              SELECT s.* REPLACE (s.source_row + coalesce(k.shift, 0) AS source_row)
              FROM read_parquet({src}) AS s
              LEFT JOIN (SELECT d.source_row AS k, count(r.rank) AS shift
                         FROM (SELECT DISTINCT source_row FROM read_parquet({src})) AS d
                         JOIN (SELECT source_row - row_number() OVER (ORDER BY source_row) AS rank FROM _rej) AS r
                           ON r.rank < d.source_row
                         GROUP BY d.source_row) AS k ON k.k = s.source_row
            ) TO {sql_literal(fixed)} ({PARQUET})""")
    fixed.replace(staged)


# --------------------------------------------------------------------------------------------
# Views over the staged files, for the rule SQL


def create_input_files(con: duckdb.DuckDBPyConnection, files: list[InputFile], staged: dict[int, StagedFile]) -> None:
    """input_files: every discovered file with its id; claims files with their staged path and rows read."""
    con.execute("""CREATE OR REPLACE TEMP TABLE input_files (source_file_id INTEGER, source_file VARCHAR,
                   kind VARCHAR, format VARCHAR, stage_path VARCHAR, rejects_path VARCHAR, rows_read BIGINT,
                   sha256 VARCHAR, size BIGINT, padded_records BIGINT, note VARCHAR, delivery_date DATE,
                   """ + ", ".join(f"{c} {t}" for c, t in PROFILE_COLUMNS.items()) + ")")
    rows = []
    for f in files:
        s = staged.get(f.file_id)
        known = (s.stage_path, s.rejects_path, s.rows_read, s.sha256, s.size, s.padded_records) if s else (None,) * 6
        profile = [(s.profile or {}).get(c) if s else None for c in PROFILE_COLUMNS]
        rows.append((f.file_id, f.name, f.kind, f.fmt, *known, f.note or None, f.delivery_date, *profile))
    con.executemany(f"INSERT INTO input_files VALUES ({', '.join('?' * len(rows[0]))})", rows)


def create_stage_views(con: duckdb.DuckDBPyConnection, staged: dict[int, StagedFile]) -> None:
    """stage_partb, stage_cclf1 .. stage_cclf9: the staged rows of every file of a kind, with the file's
    source_file_id (by the file's position in the list read: no join per row); reader_rejects: every
    reader reject. An empty relation for a kind without files."""
    for relation in sorted(set(STAGE_RELATION.values())):
        files = [(fid, s) for fid, s in sorted(staged.items()) if STAGE_RELATION[s.kind] == relation]
        if files:
            ids, paths = [fid for fid, _ in files], [s.stage_path for _, s in files]
            con.execute(f"""CREATE OR REPLACE TEMP VIEW {relation} AS
                SELECT {sql_literal(ids)}[file_index::BIGINT + 1]::INTEGER AS source_file_id, s.* EXCLUDE (file_index)
                FROM (SELECT *, file_index FROM read_parquet({sql_literal(paths)}, union_by_name = true)) AS s""")
        else:
            kind = next(k for k, r in STAGE_RELATION.items() if r == relation and k != "rif_carrier")
            f = InputFile(0, Path("none"), kind, "fixed", None)
            con.execute(f"""CREATE OR REPLACE TEMP TABLE {relation} AS
                SELECT 0::INTEGER AS source_file_id, * FROM ({stage_select(f, _empty_raw(kind))})""")
    rejects = [(fid, s.rejects_path) for fid, s in sorted(staged.items()) if s.rejects_path]
    if rejects:
        con.execute(f"""CREATE OR REPLACE TEMP VIEW reader_rejects AS
            SELECT {sql_literal([fid for fid, _ in rejects])}[file_index::BIGINT + 1]::INTEGER AS source_file_id,
                   source_row, reason, raw_record
            FROM (SELECT *, file_index FROM read_parquet({sql_literal([p for _, p in rejects])}))""")
    else:
        con.execute("""CREATE OR REPLACE TEMP TABLE reader_rejects (source_file_id INTEGER, source_row BIGINT,
                       reason VARCHAR, raw_record VARCHAR)""")


def _empty_raw(kind: str) -> str:
    lay = layout_for(kind)
    cols = ", ".join(f'NULL::VARCHAR AS "{n}"' for n in lay.field_names)
    return (f"SELECT {cols}, 0::BIGINT AS source_row, NULL::VARCHAR AS delivery_file, "
            f"NULL::VARCHAR AS delivery_date_text, NULL::VARCHAR[] AS raw_record, NULL::INTEGER AS record_length "
            f"WHERE false")


def publish_staged_versions(staged: dict[int, StagedFile], target: Path) -> int:
    """line_versions (the netting history): every readable and unreadable Part B row as its delivery
    was staged, one Parquet file per delivery, linked (not copied) from the staging cache into the
    table's folder. Returns the rows."""
    files = [s for _, s in sorted(staged.items()) if STAGE_RELATION[s.kind] == "stage_partb"]
    with atomic_path(target) as tmp:
        tmp.mkdir()
        for i, s in enumerate(files):
            link = tmp / f"{i:05d}-{Path(s.stage_path).name}"
            try:
                os.link(s.stage_path, link)
            except OSError:  # another file system: copy
                shutil.copyfile(s.stage_path, link)
    return sum(s.rows_read - s.rows_rejected for s in files)
