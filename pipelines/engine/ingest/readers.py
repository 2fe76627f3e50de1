"""Raw readers: every physical row of every claims file lands in DuckDB.

Each file found by `pipelines.engine.ingest.files` is first checked by content: a file that is not what its
name says fails with `InputFileError` (one line naming the file and what was expected).
Rows are never dropped here: each physical row becomes one raw row (all text) or one reader reject
(quarantined with its reason); `source_row` is the 1-based data row in its file (header not counted).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.engine.duck import Raw, render, sql_text
from pipelines.engine.ingest.files import CCLF_KINDS, InputFile, InputFileError
from pipelines.engine.paths import LAYOUT_DIR

SNIFF_BYTES = 1 << 16


@dataclass(frozen=True)
class Layout:
    name: str
    fields: tuple[tuple[str, int, int], ...]  # (field, 1-based start, length) of the fields we read
    record_length: int

    @property
    def field_names(self) -> list[str]:
        return [f for f, _, _ in self.fields]


@lru_cache
def layout_rows(name: str) -> tuple[tuple[str, int, int, bool], ...]:
    """Every field of the CMS record layout data/reference/layouts/<name>.csv, read or not, in file order:
    (field, 1-based start, length, read by ingest). The one reader of the layout files (the synthetic-data
    tool writes its records from the same rows)."""
    with (LAYOUT_DIR / f"{name}.csv").open(newline="") as fh:
        return tuple((r["field"], int(r["start"]), int(r["length"]), r["ingest"] == "yes") for r in csv.DictReader(fh))


@lru_cache
def layout(name: str) -> Layout:
    """The fixed-width layout ingest reads (names and addresses are marked ingest=no in the layout file
    and are never read)."""
    rows = layout_rows(name)
    length = max(start + width - 1 for _, start, width, _ in rows)
    fields = tuple((field, start, width) for field, start, width, read in rows if read)
    return Layout(name, fields, length)


@lru_cache
def record_lengths() -> dict[int, str]:
    return {layout(k).record_length: k for k in CCLF_KINDS.values()}

# --------------------------------------------------------------------------------------------
# Content checks: the file is what its name says.


def _sniff(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


def check_text_file(f: InputFile, expected: str) -> bytes:
    head = _sniff(f.path)
    if not head.strip():
        raise InputFileError(f.path, f"file is empty; expected {expected}")
    if b"\x00" in head:
        raise InputFileError(f.path, f"file is binary, not text; expected {expected}")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the sniff boundary is fine; garbage early on is not
        if exc.start < len(head) - 4:
            bad = sum(1 for b in head if b > 0x7E or (b < 0x20 and b not in (9, 10, 13)))
            if bad > len(head) // 20:
                raise InputFileError(f.path, f"file is binary, not text; expected {expected}") from None
    return head


def check_fixed_width(f: InputFile, lay: Layout) -> None:
    expected = f"{lay.name.upper()} fixed-width records of {lay.record_length} bytes"
    head = check_text_file(f, expected)
    lines = head.removeprefix(UTF8_BOM).split(b"\n")
    if len(head) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # last one may be cut by the sniff window
    lengths = [len(x.rstrip(b"\r")) for x in lines if x.strip()]
    if not lengths:
        raise InputFileError(f.path, f"file has no records; expected {expected}")
    good = sum(1 for x in lines if _padded_or_exact(x.rstrip(b"\r"), lay.record_length))
    if good * 2 < len(lengths):
        common = max(set(lengths), key=lengths.count)
        other = record_lengths().get(common)
        hint = f" (looks like {other.upper()})" if other and other != lay.name else ""
        raise InputFileError(
            f.path, f"records are {common} bytes{hint}; expected {expected} (name says {lay.name.upper()})"
        )


def _padded_or_exact(record: bytes, width: int) -> bool:
    if len(record) == width:
        return True
    return len(record) > width and len(record) not in record_lengths() and not record[width:].strip(b" ")


def _csv_header(f: InputFile, delim: str, expected: str) -> list[str]:
    """The header's column names (a UTF-8 byte-order mark is not part of the first name); a name
    that appears twice is refused, naming it."""
    head = check_text_file(f, expected)
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r")
    names = [c.strip().strip('"') for c in first.split(delim)]
    _refuse_duplicate_columns(f, names)
    return names


def check_columns(f: InputFile, have: list[str], need: list[str], expected: str) -> None:
    have_upper = {c.upper() for c in have}
    missing = [c for c in need if c.upper() not in have_upper]
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise InputFileError(f.path, f"missing columns {shown}; expected {expected}")


# --------------------------------------------------------------------------------------------
# Fixed-width reader: the file's bytes are cut at the layout's positions with numpy (CCLF is
# ASCII, so byte positions are character positions), giving an Arrow table of text columns. Every
# physical record is either a row of that table or a reject: wrong record length, bytes outside
# ASCII (invalid_encoding) or control characters (invalid_characters). source_row is the record's
# 1-based line number in the file.

_MAX_SEGMENTS = 2000  # beyond this many runs of good records, gather rows with one fancy index


def _good_record_matrix(data: np.ndarray, starts: np.ndarray, strides: np.ndarray, width: int) -> np.ndarray:
    """The good records as an (n, width) byte matrix, copying whole runs of evenly spaced records."""
    if len(starts) == 0:
        return np.empty((0, width), np.uint8)
    breaks = np.flatnonzero(np.diff(starts) != strides[:-1]) + 1
    if len(breaks) > _MAX_SEGMENTS:
        return data[starts[:, None] + np.arange(width)]
    parts = []
    for run_starts, run_strides in zip(np.split(starts, breaks), np.split(strides, breaks)):
        first, stride, count = int(run_starts[0]), int(run_strides[0]), len(run_starts)
        block = data[first:first + count * stride]
        if len(block) < count * stride:  # last record without a newline
            block = np.concatenate([block, np.zeros(count * stride - len(block), np.uint8)])
        parts.append(block.reshape(count, stride)[:, :width])
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


UTF8_BOM = b"\xef\xbb\xbf"
NOT_STORED = "[not stored: a {layout} row that cannot be cut into fields may hold names or addresses]"


def _read_mask(lay: Layout) -> np.ndarray:
    """The byte positions of a record that the pipeline reads (fields marked ingest=yes)."""
    mask = np.zeros(lay.record_length, bool)
    for _, start, length in lay.fields:
        mask[start - 1:start - 1 + length] = True
    return mask


def _padded(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
    """Records longer than the layout whose extra bytes are all blanks (read, with a warning). A length
    that is another CCLF layout's record length is that layout, not padding."""
    longer = (lengths > width) & ~np.isin(lengths, list(record_lengths()))
    if not longer.any():
        return longer
    nonblank = np.concatenate(([0], np.cumsum(data != 0x20)))
    extra = nonblank[starts + lengths] - nonblank[starts + np.minimum(lengths, width)]
    return longer & (extra == 0)


def read_fixed_width(path: Path, lay: Layout) -> tuple[pa.Table, list[tuple[int, str, str]], int]:
    """Cut a fixed-width file into the layout's fields. Returns (raw rows, rejects, padded records).
    Only the fields the pipeline reads are checked for bytes outside printable ASCII: other fields
    (CCLF8 names and addresses, maybe Latin-1) never cost a row, and are blanked in raw_record so the
    quarantine never holds them. A UTF-8 byte-order mark before the first record is skipped."""
    data = np.fromfile(path, dtype=np.uint8)
    if data[:3].tobytes() == UTF8_BOM:
        data = data[3:]
    newlines = np.flatnonzero(data == 10)
    if len(data) and data[-1] != 10:
        newlines = np.append(newlines, len(data))  # a last record without its newline
    starts = np.concatenate(([0], newlines[:-1] + 1)).astype(np.int64)
    ends = newlines.astype(np.int64)
    has_cr = (ends > starts) & (data[np.maximum(ends - 1, 0)] == 13) if len(data) else ends > starts
    lengths = ends - starts - has_cr
    width = lay.record_length
    padded = _padded(data, starts, lengths, width)
    right_length = (lengths == width) | padded
    rows = np.flatnonzero(right_length)
    matrix = _good_record_matrix(data, starts[rows], (lengths[rows] + 1 + has_cr[rows]).astype(np.int64), width)
    read = _read_mask(lay)
    non_ascii = (matrix[:, read] > 0x7E).any(axis=1)
    control = (matrix[:, read] < 0x20).any(axis=1)
    bad_bytes = non_ascii | control
    masked = not read.all()
    if masked:
        matrix[:, ~read] = 0x20  # never carry unread fields (names, addresses) past the reader

    def raw(i: int, good: int | None = None) -> str:
        if good is not None:
            return bytes(matrix[good]).decode("latin-1") if masked else \
                bytes(data[starts[i]:starts[i] + width]).decode("utf-8", "backslashreplace")
        if masked:
            return NOT_STORED.format(layout=lay.name.upper())
        return bytes(data[starts[i]:starts[i] + lengths[i]]).decode("utf-8", "backslashreplace")

    rejects = [(int(i) + 1, "wrong_record_length", raw(i)) for i in np.flatnonzero(~right_length)]
    rejects += [(int(rows[j]) + 1, "invalid_encoding" if non_ascii[j] else "invalid_characters", raw(rows[j], j))
                for j in np.flatnonzero(bad_bytes)]
    rejects.sort()
    keep = ~bad_bytes
    matrix, rows = matrix[keep], rows[keep]
    return _fields_table(matrix, rows, lay), rejects, int(padded.sum())


def _fields_table(matrix: np.ndarray, rows: np.ndarray, lay: Layout) -> pa.Table:
    """The good records' fields as trimmed text columns, in several record batches so DuckDB parses
    the file on every thread."""
    n, width = len(rows), lay.record_length
    columns = {}
    for name, start, length in lay.fields:
        cut = np.ascontiguousarray(matrix[:, start - 1:start - 1 + length])
        column = pa.FixedSizeBinaryArray.from_buffers(pa.binary(length), n, [None, pa.py_buffer(cut)])
        columns[name] = pc.utf8_trim_whitespace(column.cast(pa.binary()).cast(pa.string()))
    columns["source_row"] = pa.array(rows + 1, pa.int64())
    columns["delivery_file"] = pa.nulls(n, pa.string())
    columns["delivery_date_text"] = pa.nulls(n, pa.string())
    lines = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(np.ascontiguousarray(matrix))])
    columns["raw_record"] = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)),
                                                     lines.cast(pa.binary()).cast(pa.string()))
    columns["record_length"] = pa.array(np.full(n, width, np.int32))
    table = pa.table(columns)
    return pa.Table.from_batches(table.to_batches(max_chunksize=32768), schema=table.schema)


# --------------------------------------------------------------------------------------------
# Raw readers: each returns the SELECT text of a relation with the layout's field names (all text),
# source_row, delivery_file, delivery_date_text and record_length (fixed-width only), and the SQL
# expression of the row as delivered (a list of fields) over `raw_row`, that relation's row as a struct:
# the stage statement evaluates it only for quarantined rows (issue 20: building it for every row cost
# about a tenth of the CPU of staging a CCLF5 Parquet file).

RIF_REQUIRED = [
    "BENE_ID", "CLM_ID", "FINAL_ACTION", "NCH_CLM_TYPE_CD", "CARR_CLM_PMT_DNL_CD", "CARR_CLM_CNTL_NUM",
    "LINE_NUM", "PRF_PHYSN_NPI", "TAX_NUM", "PRVDR_SPCLTY", "LINE_PLACE_OF_SRVC_CD", "LINE_1ST_EXPNS_DT",
    "HCPCS_CD", "LINE_NCH_PMT_AMT", "LINE_ALOWD_CHRG_AMT", "LINE_PRCSG_IND_CD", "LINE_ICD_DGNS_CD",
] + [f"ICD_DGNS_CD{i}" for i in range(1, 13)]


CSV_REJECT_REASONS = {"INVALID ENCODING": "invalid_encoding", "TOO MANY COLUMNS": "wrong_field_count",
                      "MISSING COLUMNS": "wrong_field_count", "UNQUOTED VALUE": "bad_quoting",
                      "LINE SIZE OVER MAXIMUM": "record_too_long"}


@dataclass
class RawRead:
    """A file opened by its reader: `select` reads it as raw text rows (the layout's fields, source_row,
    delivery_file, delivery_date_text, record_length), `raw_fields` is the row as delivered (a list of
    text fields) as an expression over `raw_row` (one such row); after the select ran, `rejects()`
    gives the rows the reader could not split (source_row, reason, raw) and `padded` counts records
    read although padded with blanks past the record length (a warning)."""

    con: duckdb.DuckDBPyConnection
    f: InputFile
    lay: Layout
    select: str
    raw_fields: str = "raw_row.raw_record"  # the fixed-width and RIF readers carry it as a column
    fixed_rejects: list[tuple[int, str, str]] | None = None
    padded: int = 0

    @property
    def _rejects_tables(self) -> tuple[str, str]:
        return f"rejects_{self.f.file_id}", f"rejects_scan_{self.f.file_id}"

    def rejects(self) -> list[tuple[int, str, str]]:
        """Reject line numbers are physical lines; for files with a header the data row is line - 1."""
        if self.f.fmt == "parquet":
            return []
        if self.f.fmt == "fixed":
            self.con.unregister(f"raw_fixed_{self.f.file_id}")
            return self.fixed_rejects or []
        table, scan = self._rejects_tables
        try:
            rows = self.con.execute(
                f"""SELECT line, string_agg(DISTINCT error_type, ';' ORDER BY error_type), any_value(csv_line)
                    FROM {table} GROUP BY line ORDER BY line""").fetchall()
        except duckdb.CatalogException:
            return []
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
            self.con.execute(f"DROP TABLE IF EXISTS {scan}")
        masked = len(self.lay.fields) < _layout_field_count(self.lay.name)  # CCLF8: names in the line
        return [(int(line) - 1,
                 ";".join(sorted({CSV_REJECT_REASONS.get(t, t.lower().replace(" ", "_")) for t in types.split(";")})),
                 NOT_STORED.format(layout=self.lay.name.upper()) if masked else raw)
                for line, types, raw in rows]


def _layout_field_count(name: str) -> int:
    """Every field of the CMS layout, read or not (a layout with unread fields: CCLF8 names/addresses)."""
    return len(layout_rows(name))


def raw_select(con: duckdb.DuckDBPyConnection, f: InputFile, lay: Layout) -> RawRead:
    """Check the file by content and open it with its reader (see RawRead)."""
    table, scan = f"rejects_{f.file_id}", f"rejects_scan_{f.file_id}"
    common = dict(path=f.path, rejects_table=table, rejects_scan=scan)
    if f.fmt == "fixed":
        check_fixed_width(f, lay)
        rows, rejects, padded = read_fixed_width(f.path, lay)
        relation = f"raw_fixed_{f.file_id}"
        con.register(relation, rows)
        return RawRead(con, f, lay, f"SELECT * FROM {relation}", fixed_rejects=rejects, padded=padded)
    if f.fmt == "csv":
        expected = f"{lay.name.upper()} CSV with a header of CCLF field names"
        header = _csv_header(f, ",", expected)
        check_columns(f, header, lay.field_names, expected)
        extras = {c.upper() for c in header} - set(lay.field_names)
        cols = ",\n       ".join(f'"{name}"' for name in lay.field_names)
        fields = _fields_of_row(lay)
        # files whose layout has fields we never read (CCLF8 names) are decoded as Latin-1: any byte
        # of an unread field decodes, and the read fields are checked for printable ASCII by staging
        encoding = "latin-1" if len(lay.fields) < _layout_field_count(lay.name) else "utf-8"
        return RawRead(con, f, lay, render(
            sql_text("10_ingest/10_read_csv.sql"), columns=Raw(cols), delivery_file=Raw(
                '"FILE_NAME"' if "FILE_NAME" in extras else "NULL"), delivery_date=Raw(
                '"FILE_DATE"' if "FILE_DATE" in extras else "NULL"), encoding=encoding, **common), fields)
    if f.fmt == "parquet":
        return RawRead(con, f, lay, *_parquet_select(f, lay))
    if f.fmt == "pipe":
        expected = "RIF carrier claims, pipe-delimited with a header row starting DML_IND"
        header = _csv_header(f, "|", expected)
        if not header or header[0].upper() != "DML_IND":
            raise InputFileError(f.path, f"header does not start with DML_IND; expected {expected}")
        check_columns(f, header, RIF_REQUIRED, expected)
        return RawRead(con, f, lay, render(sql_text("10_ingest/10_read_rif_carrier.sql"), **common))
    raise ValueError(f"no reader for {f.kind}/{f.fmt}")


def _parquet_select(f: InputFile, lay: Layout) -> tuple[str, str]:
    """The raw select of a Parquet file and its raw_fields (the read fields, cast to text by the select)."""
    expected = f"{lay.name.upper()} Parquet with CCLF field names"
    try:
        schema = pq.read_schema(f.path)
    except Exception:  # noqa: BLE001 - any failure means "not Parquet"
        raise InputFileError(f.path, f"not a readable Parquet file; expected {expected}") from None
    _refuse_duplicate_columns(f, schema.names)
    check_columns(f, schema.names, lay.field_names, expected)
    by_upper = {n.upper(): n for n in schema.names}
    cols = ",\n       ".join(f'CAST("{by_upper[n]}" AS VARCHAR) AS "{n}"' for n in lay.field_names)
    extras = set(by_upper) - set(lay.field_names)
    delivery_file = f'CAST("{by_upper["FILE_NAME"]}" AS VARCHAR)' if "FILE_NAME" in extras else "NULL"
    delivery_date = f'CAST("{by_upper["FILE_DATE"]}" AS VARCHAR)' if "FILE_DATE" in extras else "NULL"
    fields = _fields_of_row(lay)
    return render(sql_text("10_ingest/10_read_parquet.sql"), columns=Raw(cols), delivery_file=Raw(delivery_file),
                  delivery_date=Raw(delivery_date), path=f.path), fields


def _fields_of_row(lay: Layout) -> str:
    """The layout's read fields of `raw_row`, as a list (the row as delivered, by the text readers)."""
    return "[" + ", ".join(f'raw_row."{n}"' for n in lay.field_names) + "]"


def _refuse_duplicate_columns(f: InputFile, names: list[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n.upper() in seen:
            raise InputFileError(f.path, f"column {n} appears twice in the header; keep one (which copy to read "
                                 "is not guessed)")
        seen.add(n.upper())
