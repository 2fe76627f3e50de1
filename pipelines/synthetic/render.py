"""Vectorised rendering of generated columns to CCLF fixed-width records, CSV, Parquet and RIF.

A column is one of
  ("m", uint8 matrix (n, w))        fixed-width value bytes (ASCII), all rows the same width
  ("v", int index array, Vocab)     categorical value taken from a vocabulary (may contain "")
  ("c", str)                        constant
and an optional set of rows to blank (``blank`` mask) for malformed rows.
No Python loop runs over rows: everything is numpy fancy indexing or pyarrow compute.
"""
from __future__ import annotations

import csv
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.engine.ingest.readers import layout_rows
from pipelines.engine.paths import LAYOUT_DIR
from pipelines.engine.warehouse import atomic_path

REPO = Path(__file__).resolve().parents[2]

SPACE = 0x20


# --------------------------------------------------------------------------------------------
# layouts
@dataclass(frozen=True)
class Layout:
    name: str
    fields: tuple[str, ...]
    starts: tuple[int, ...]  # 0-based
    lengths: tuple[int, ...]

    @property
    def reclen(self) -> int:
        return self.starts[-1] + self.lengths[-1]

    def index(self, f: str) -> int:
        return self.fields.index(f)


def load_layout(name: str) -> Layout:
    """Every field of a CCLF layout (read by ingest or not), from the engine's layout reader."""
    rows = layout_rows(name)
    return Layout(name, tuple(f for f, _, _, _ in rows), tuple(s - 1 for _, s, _, _ in rows),
                  tuple(w for _, _, w, _ in rows))


def load_rif_columns() -> list[str]:
    with open(LAYOUT_DIR / "rif_carrier.csv", newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: int(r["position"]))
    return [r["field"] for r in rows]


# --------------------------------------------------------------------------------------------
# vocabularies
class Vocab:
    """Strings addressable by integer index; fixed-width byte matrix and arrow array views."""

    def __init__(self, values):
        self.values = [str(v) for v in values]
        self.width = max([len(v) for v in self.values] + [1])
        # ASCII bytes padded with spaces (vectorised: the date vocabularies have 51k entries)
        raw = np.array([v.encode("ascii") for v in self.values], dtype=f"S{self.width}")
        mat = raw.view(np.uint8).reshape(len(self.values), self.width).copy()
        mat[mat == 0] = SPACE
        self.mat = mat
        self.arrow = pa.array(self.values, pa.string())
        self._lookup = {v: i for i, v in enumerate(self.values)}

    def idx(self, v: str) -> int:
        return self._lookup[v]

    def indices(self, vals) -> np.ndarray:
        return np.array([self._lookup[v] for v in vals], np.int32)

    def __len__(self):
        return len(self.values)


_D4 = np.array([[ord(c) for c in f"{i:04d}"] for i in range(10000)], np.uint8)
_D4U32 = np.ascontiguousarray(_D4).view(np.uint32).ravel()
_ZERO4 = _D4U32[0]
# last integer digit, '.', two decimals ("3.07"): index (dollars % 10) * 100 + cents % 100
_DC3 = np.array([[ord(c) for c in f"{i // 100}.{i % 100:02d}"] for i in range(1000)], np.uint8)
_DC3U32 = np.ascontiguousarray(_DC3).view(np.uint32).ravel()


def _groups_to_mat(buf: np.ndarray, width: int) -> np.ndarray:
    """(n, g) uint32 groups of 4 ASCII bytes -> (n, width) uint8, keeping the last width bytes."""
    n, g = buf.shape
    b = buf.view(np.uint8).reshape(n, g * 4)
    if g * 4 == width:
        return b
    return np.ascontiguousarray(b[:, g * 4 - width:])


def _fill_digit_groups(buf: np.ndarray, x: np.ndarray, last: int):
    """Write the decimal digits of x into buf[:, :last + 1] (4 digits per group, least significant
    group at column ``last``); groups above the largest value are constant '0000'."""
    n = x.shape[0]
    if n == 0:
        buf[:, :last + 1] = _ZERO4
        return
    mx = int(x.max())
    need = max(1, (len(str(max(mx, 0))) + 3) // 4)
    x = x.astype(np.int32 if mx < 2 ** 31 else np.int64, copy=False)
    for i in range(last + 1):
        col = last - i
        if i >= need:
            buf[:, :col + 1] = _ZERO4
            break
        if i == need - 1:
            buf[:, col] = _D4U32[x if i else x % 10000]
        else:
            q, r = np.divmod(x, 10000)
            buf[:, col] = _D4U32[r]
            x = q


def digits(x: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers, (n, width) uint8 (values wider than
    width keep their last width digits)."""
    x = np.asarray(x)
    n = x.shape[0]
    g = (width + 3) // 4
    buf = np.empty((n, g), np.uint32)
    if n and int(x.max()) >= 10 ** (4 * g):
        x = x % (10 ** (4 * g))
    _fill_digit_groups(buf, x, g - 1)
    return _groups_to_mat(buf, width)


def amount_mat(cents: np.ndarray, int_digits: int) -> np.ndarray:
    """'00000000098.21' style: int_digits digits, '.', 2 decimals (cents must be >= 0)."""
    cents = np.asarray(cents, np.int64)
    n = cents.shape[0]
    width = int_digits + 3
    g = (width + 3) // 4
    buf = np.empty((n, g), np.uint32)
    if n:
        dollars, c = np.divmod(cents, 100)
        hi, lo = np.divmod(dollars, 10)
        buf[:, g - 1] = _DC3U32[lo * 100 + c]
        _fill_digit_groups(buf, hi, g - 2)
    return _groups_to_mat(buf, width)


_INT_VOCABS: dict = {}


def small_int_col(x: np.ndarray, width: int, suffix: str = ""):
    """Column of small non-negative integers (zero-padded to width, then suffix) as a vocabulary
    column: the strings are formatted once, not per row."""
    x = np.asarray(x)
    hi = int(x.max()) if x.shape[0] else 0
    if hi >= 1000:
        m = digits(x, width)
        if suffix:
            m = np.concatenate([m, np.broadcast_to(np.frombuffer(suffix.encode(), np.uint8),
                                                   (len(m), len(suffix)))], axis=1)
        return ("m", m)
    key = (width, suffix, hi)  # the vocabulary depends on the data only (deterministic bytes)
    voc = _INT_VOCABS.get(key)
    if voc is None:
        voc = _INT_VOCABS[key] = Vocab([f"{i:0{width}d}{suffix}" for i in range(hi + 1)])
    return ("v", x, voc)


def plain_amount(cents: np.ndarray) -> pa.Array:
    """RIF style amount '563.36' as arrow strings."""
    cents = np.asarray(cents, np.int64)
    dollars = pa.array(cents // 100).cast(pa.string())
    c = pa.array(digits(cents % 100, 2).view("S2").ravel()).cast(pa.string())
    import pyarrow.compute as pc
    return pc.binary_join_element_wise(dollars, c, ".")


# --------------------------------------------------------------------------------------------
# dates: vocabularies over every day in [1900-01-01, 2040-12-31] plus a blank entry at the end
DATE_BASE = int(np.datetime64("1900-01-01", "D").astype(np.int64))
_days = np.arange(np.datetime64("1900-01-01"), np.datetime64("2041-01-01"))
_iso = np.datetime_as_string(_days, unit="D")
DATE_ISO = Vocab(list(_iso) + ["", "9999-12-31"])
_MON = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_DATE_RIF = None


def date_rif_vocab() -> Vocab:
    """RIF dates ('05-Mar-2026'), built on first use (only the RIF layout needs them)."""
    global _DATE_RIF
    if _DATE_RIF is None:
        _DATE_RIF = Vocab([f"{s[8:10]}-{_MON[int(s[5:7]) - 1]}-{s[0:4]}" for s in _iso] + ["", "31-Dec-9999"])
    return _DATE_RIF


def __getattr__(name):
    if name == "DATE_RIF":
        return date_rif_vocab()
    raise AttributeError(name)
DATE_BLANK = len(_iso)
DATE_MAX_SENTINEL = int(np.datetime64("9999-12-31", "D").astype(np.int64))


def day(s: str) -> int:
    return int(np.datetime64(s, "D").astype(np.int64))


def date_col(days: np.ndarray, vocab: Vocab = DATE_ISO, blank: np.ndarray | None = None):
    days = np.asarray(days, np.int64)
    idx = np.where(days == DATE_MAX_SENTINEL, DATE_BLANK + 1, days - DATE_BASE)
    if blank is not None:
        idx = np.where(blank, DATE_BLANK, idx)
    return ("v", idx, vocab)


# --------------------------------------------------------------------------------------------
@dataclass
class Frame:
    """Columns of one batch of records, keyed by field name."""
    n: int
    cols: dict = field(default_factory=dict)
    blank: dict = field(default_factory=dict)  # field -> bool mask of rows to blank
    override: dict = field(default_factory=dict)  # field -> (rows, list[str]) literal values

    def set(self, name, col):
        self.cols[name] = col


def _col_fixed(col, n, width):
    kind = col[0]
    if kind == "m":
        m = col[1]
        if m.shape[1] >= width:
            return m[:, :width]
        out = np.full((n, width), SPACE, np.uint8)
        out[:, :m.shape[1]] = m
        return out
    if kind == "v":
        vm = col[2].mat
        m = vm[col[1]]
        if m.shape[1] >= width:
            return m[:, :width]
        out = np.full((n, width), SPACE, np.uint8)
        out[:, :m.shape[1]] = m
        return out
    s = col[1].encode("ascii")[:width].ljust(width)
    return np.broadcast_to(np.frombuffer(s, np.uint8), (n, width))


def to_fixed(frame: Frame, layout: Layout, truncate: dict | None = None) -> bytes:
    """Fixed-width records joined (and terminated) by '\n'.  truncate: row -> bytes to drop."""
    n = frame.n
    rl = layout.reclen
    rec = np.full((n, rl + 1), SPACE, np.uint8)
    rec[:, rl] = 0x0A
    for f, s, w in zip(layout.fields, layout.starts, layout.lengths):
        col = frame.cols.get(f)
        if col is None:
            continue
        rec[:, s:s + w] = _col_fixed(col, n, w)
        if f in frame.blank:
            rec[frame.blank[f], s:s + w] = SPACE
        if f in frame.override:
            rows, vals = frame.override[f]
            for r, v in zip(rows, vals):
                rec[r, s:s + w] = np.frombuffer(v.encode("ascii")[:w].ljust(w), np.uint8)
    if not truncate:
        return rec.tobytes()
    keep = np.ones(rec.shape, bool)
    for r, k in truncate.items():
        keep[r, rl - k:rl] = False
    return rec[keep].tobytes()


def _col_arrow(col, n, dictionary: bool = False) -> pa.Array:
    kind = col[0]
    if kind == "a":
        return col[1]
    if kind == "m":
        m = np.ascontiguousarray(col[1])
        w = m.shape[1]
        offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32) if n else np.zeros(1, np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(m))
    if kind == "v":
        return col[2].arrow.take(pa.array(np.asarray(col[1], np.int32)))
    return pa.repeat(pa.scalar(col[1], pa.string()), n)


_CONST_DICTS: dict = {}


def _const_dict(v: str) -> pa.Array:
    d = _CONST_DICTS.get(v)
    if d is None:
        d = _CONST_DICTS[v] = pa.array([v], pa.string())
    return d


def _dict_col(col, n: int, zeros: pa.Array, blank, override) -> pa.Array:
    """Dictionary-encoded column (int32 indices) for a "v" or "c" column; blanked and overridden
    rows point to extra dictionary entries (no duplicate dictionary values: the Parquet writer
    keys its dictionary page on the values)."""
    if col[0] == "c":
        values = [col[1]]
        idx = None
    else:
        voc = col[2]
        idx = np.asarray(col[1], np.int32)
        values = voc
        if len(voc) > 4096 and n:
            lo, hi = int(idx.min()), int(idx.max())
            values = (voc, lo, hi + 1)
            idx = idx - lo
    if blank is None and override is None:
        if idx is None:
            return pa.DictionaryArray.from_arrays(zeros, _const_dict(col[1]), safe=False)
        dic = values.arrow if isinstance(values, Vocab) else values[0].arrow.slice(values[1], values[2] - values[1])
        return pa.DictionaryArray.from_arrays(pa.array(idx), dic, safe=False)
    # materialise the (small) dictionary as a list to append the literal values
    if isinstance(values, Vocab):
        vals = list(values.values)
    elif isinstance(values, tuple):
        vals = values[0].values[values[1]:values[2]]
    else:
        vals = list(values)
    idx = np.zeros(n, np.int32) if idx is None else idx.copy()
    pos = {v: i for i, v in enumerate(vals)}

    def slot(v):
        if v not in pos:
            pos[v] = len(vals)
            vals.append(v)
        return pos[v]

    if blank is not None:
        idx[blank] = slot("")
    if override is not None:
        rows, lits = override
        idx[np.asarray(rows)] = np.array([slot(v) for v in lits], np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(idx), pa.array(vals, pa.string()), safe=False)


def _mat_col(m: np.ndarray, n: int, blank) -> pa.Array:
    """Fixed-width strings from a (n, w) byte matrix; blanked rows become ''."""
    m = np.ascontiguousarray(m)
    w = m.shape[1]
    if blank is None:
        offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(m))
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(np.where(blank, 0, w).astype(np.int32), out=offsets[1:])
    kept = m.view(f"V{w}").ravel()[~blank] if w else m[~blank]
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(kept)))


def to_arrow(frame: Frame, names: list[str], dictionary: bool = False) -> pa.Table:
    """Arrow table of string columns; with dictionary=True, vocabulary and constant columns are
    dictionary encoded (int32 indices; written to Parquet as string columns with dictionary
    pages) and every column is declared non-nullable (no value is ever null)."""
    import pyarrow.compute as pc
    n = frame.n
    arrays = []
    zeros = pa.array(np.zeros(n, np.int32)) if dictionary else None
    for f in names:
        col = frame.cols.get(f, ("c", ""))
        blank = frame.blank.get(f)
        if blank is not None and not blank.any():
            blank = None
        override = frame.override.get(f)
        if override is not None and not len(override[0]):
            override = None
        kind = col[0]
        if dictionary and kind in ("v", "c"):
            arrays.append(_dict_col(col, n, zeros, blank, override))
            continue
        if kind == "m" and override is None:
            arrays.append(_mat_col(col[1], n, blank))
            continue
        a = _col_arrow(col, n, False)
        if blank is not None:
            a = pc.if_else(pa.array(blank), pa.scalar("", pa.string()), a)
        if override is not None:
            rows, vals = override
            full = np.zeros(n, bool)
            full[rows] = True
            sub = np.zeros(n, np.int32)
            sub[rows] = np.arange(len(rows), dtype=np.int32)
            repl = pa.array(list(vals), pa.string()).take(pa.array(sub))
            a = pc.if_else(pa.array(full), repl, a)
        arrays.append(a)
    if dictionary:
        schema = pa.schema([pa.field(nm, a.type, nullable=False) for nm, a in zip(names, arrays)])
        return pa.Table.from_arrays(arrays, schema=schema)
    return pa.Table.from_arrays(arrays, names=names)


def frame_bytes(frame: Frame, fmt: str, names: list[str], layout: Layout | None = None,
                truncate: dict | None = None, delimiter: str = ","):
    """Render a frame for Sink.write_payload (can run in a worker thread): the record bytes for
    fixed / csv / rif, an arrow table for parquet."""
    if fmt == "fixed":
        return to_fixed(frame, layout, truncate)
    if fmt == "parquet":
        return to_arrow(frame, names, dictionary=True)
    buf = pa.BufferOutputStream()
    pacsv.write_csv(to_arrow(frame, names), buf, pacsv.WriteOptions(
        include_header=False, delimiter=delimiter, quoting_style="none"))
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Parquet: dictionary pages only for dictionary-encoded columns (hashing millions of distinct ids
# and amounts into a dictionary that overflows anyway is the writer's most expensive step); zstd
# level 1 for the plain string columns except the random beneficiary ids (little to gain); no
# statistics.
PARQUET_UNCOMPRESSED = {"BENE_MBI_ID", "BENE_ID"}
PARQUET_BATCH_ROWS = 8192  # small batches (Part A months of a block) are collected into row groups of this size


def parquet_writer(path, schema: pa.Schema) -> pq.ParquetWriter:
    dict_cols = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    # dictionary indices are bit-packed already: compressing them gains little
    comp = {f.name: ("none" if f.name in PARQUET_UNCOMPRESSED or f.name in dict_cols else "zstd")
            for f in schema}
    level = {k: 1 for k, v in comp.items() if v == "zstd"}
    return pq.ParquetWriter(path, schema, compression=comp, compression_level=level, store_schema=False,
                            write_statistics=False, use_dictionary=dict_cols)


COMPACT_DICTIONARY_OVER = 1024  # dictionaries longer than this keep only the values their row group uses


def compact_dictionaries(t: pa.Table) -> pa.Table:
    """`t` with each long dictionary cut to the values its rows use (same dictionary type, same values).

    Parquet stores an Arrow dictionary whole in every row group's dictionary page. The NPI and TIN
    vocabularies grow with the world: at 100 M lines every row group carried some 5 MB of them per NPI
    column, and the input came to 56 GB instead of about 9."""
    columns = []
    for col in t.columns:
        if not pa.types.is_dictionary(col.type) or sum(len(c.dictionary) for c in col.chunks) <= COMPACT_DICTIONARY_OVER:
            columns.append(col)
            continue
        arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if arr.null_count:
            columns.append(col)
            continue
        idx = arr.indices.to_numpy(zero_copy_only=False)
        used = np.unique(idx)
        remap = np.zeros(len(arr.dictionary), dtype=idx.dtype)
        remap[used] = np.arange(len(used), dtype=idx.dtype)
        columns.append(pa.DictionaryArray.from_arrays(pa.array(remap[idx], type=arr.indices.type),
                                                      arr.dictionary.take(pa.array(used))))
    return pa.Table.from_arrays(columns, schema=t.schema)


class Sink:
    """One output file, written at `tmp`; open_sink delivers it under `path`."""

    def __init__(self, path: Path, tmp: Path, fmt: str, names: list[str] | None = None,
                 layout: Layout | None = None, delimiter: str = ","):
        self.path = Path(path)
        self.tmp = Path(tmp)
        self.fmt = fmt
        self.names = names
        self.layout = layout
        self.delimiter = delimiter
        self.rows = 0
        self._writer = None
        self._fh = None
        self._pending: list[pa.Table] = []  # small Parquet batches not yet written (Sink.write)
        self._pending_rows = 0
        if fmt in ("fixed", "csv", "rif"):
            self._fh = open(self.tmp, "wb")
            if fmt in ("csv", "rif"):
                self._fh.write((delimiter.join(names) + "\n").encode("ascii"))
        self._schema = pa.schema([(n, pa.string()) for n in names]) if names else None

    def write(self, frame: Frame, truncate: dict | None = None):
        if frame.n == 0:
            return
        if self.fmt == "fixed":
            self._fh.write(to_fixed(frame, self.layout, truncate))
        else:
            t = to_arrow(frame, self.names, dictionary=self.fmt == "parquet")
            if self.fmt == "parquet":
                self._buffer(t)
                return
            else:
                pacsv.write_csv(t, self._fh, pacsv.WriteOptions(
                    include_header=False, delimiter=self.delimiter, quoting_style="none"))
        self.rows += frame.n

    def write_payload(self, payload, n: int):
        """Write what frame_bytes() rendered (n records); a small Parquet batch waits for others to
        make a row group."""
        if n == 0:
            return
        if self.fmt == "parquet" and n < PARQUET_BATCH_ROWS:
            self._buffer(payload)
        elif self.fmt == "parquet":
            self.write_table(payload)
        else:
            self._fh.write(payload)
            self.rows += n

    def _buffer(self, t: pa.Table):
        """Collect small batches (one block's Part A rows of one month) into row groups of about
        PARQUET_BATCH_ROWS rows: a row group per small batch costs more than the batch itself."""
        self._pending.append(t)
        self._pending_rows += t.num_rows
        self.rows += t.num_rows
        if self._pending_rows >= PARQUET_BATCH_ROWS:
            self._flush()

    def _flush(self):
        if self._pending:
            t = pa.concat_tables(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending, self._pending_rows = [], 0
            self._row_group(t)

    def write_table(self, t: pa.Table):
        """Append an arrow table (from to_arrow(..., dictionary=True)) as one row group."""
        if t.num_rows == 0:
            return
        self._flush()
        self._row_group(t)
        self.rows += t.num_rows

    def _row_group(self, t: pa.Table):
        t = compact_dictionaries(t)
        if self._writer is None:
            self._writer = parquet_writer(self.tmp, t.schema)
        self._writer.write_table(t, row_group_size=1 << 24)

    @property
    def delivered(self) -> bool:
        """CMS does not deliver empty fixed-width files, and ingest rejects them."""
        return not (self.fmt == "fixed" and self.rows == 0)

    def finish(self):
        """Complete the file (a Parquet file without rows still gets its schema)."""
        if self.fmt == "parquet":
            self._flush()
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.tmp, self._schema, compression="zstd",
                                                store_schema=False)
            self._writer.close()
        else:
            self._fh.close()

    def abandon(self):
        """Close what is open, without completing the file."""
        if self._writer is not None:
            self._writer.close()
        if self._fh is not None:
            self._fh.close()


class _NotDelivered(Exception):
    """Leaves an atomic_path block without delivering its file."""


@contextmanager
def open_sink(path: Path, fmt: str, names: list[str] | None = None, layout: Layout | None = None,
              delimiter: str = ",") -> Iterator[Sink]:
    """A Sink whose file appears under `path` in one rename (warehouse.atomic_path) when the with
    block ends without error, unless it is not to be delivered (Sink.delivered); on error, or when
    it is not delivered, its temporary file is removed."""
    try:
        with atomic_path(path) as tmp:
            sink = Sink(path, tmp, fmt, names=names, layout=layout, delimiter=delimiter)
            try:
                yield sink
            except BaseException:
                sink.abandon()
                raise
            sink.finish()
            if not sink.delivered:
                raise _NotDelivered
    except _NotDelivered:
        pass


class ParquetAppender:
    """Appends arrow tables (one schema) to one zstd Parquet file."""

    def __init__(self, path: Path):
        self.path = path
        self._writer = None

    def append(self, table: pa.Table):
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self._writer.write_table(table)

    def close(self):
        if self._writer is not None:
            self._writer.close()


@contextmanager
def open_parquet_appender(path: Path) -> Iterator[ParquetAppender]:
    """A ParquetAppender whose file appears under `path` in one rename when the with block ends
    without error (warehouse.atomic_path)."""
    with atomic_path(path) as tmp:
        appender = ParquetAppender(tmp)
        try:
            yield appender
        finally:
            appender.close()
