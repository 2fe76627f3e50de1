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
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
LAYOUT_DIR = REPO / "data" / "reference" / "layouts"

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
    with open(LAYOUT_DIR / f"{name}.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return Layout(name, tuple(r["field"] for r in rows), tuple(int(r["start"]) - 1 for r in rows),
                  tuple(int(r["length"]) for r in rows))


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
        mat = np.full((len(self.values), self.width), SPACE, np.uint8)
        for i, v in enumerate(self.values):
            b = v.encode("ascii")
            mat[i, :len(b)] = np.frombuffer(b, np.uint8)
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


def digits(x: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers, (n, width) uint8."""
    x = np.asarray(x)
    n = x.shape[0]
    out = np.full((n, width), ord("0"), np.uint8)
    if n == 0:
        return out
    mx = int(x.max())
    need = min(width, len(str(max(mx, 0))))
    g = (need + 3) // 4
    x = x.astype(np.int32 if mx < 2 ** 31 else np.int64)
    buf = np.empty((n, g), np.uint32)
    for i in range(g):
        if i == g - 1:
            buf[:, g - 1 - i] = _D4U32[x % 10000]
        else:
            q, r = np.divmod(x, 10000)
            buf[:, g - 1 - i] = _D4U32[r]
            x = q
    b = buf.view(np.uint8).reshape(n, g * 4)
    k = min(width, g * 4)
    out[:, width - k:] = b[:, g * 4 - k:]
    return out


def amount_mat(cents: np.ndarray, int_digits: int) -> np.ndarray:
    """'00000000098.21' style: int_digits digits, '.', 2 decimals (cents must be >= 0)."""
    cents = np.asarray(cents, np.int64)
    out = np.empty((cents.shape[0], int_digits + 3), np.uint8)
    out[:, :int_digits] = digits(cents // 100, int_digits)
    out[:, int_digits] = ord(".")
    out[:, int_digits + 1:] = digits(cents % 100, 2)
    return out


def units_mat(units: np.ndarray) -> np.ndarray:
    """'000000000000000001.0000' (18 digits, 4 decimals)."""
    units = np.asarray(units, np.int64)
    out = np.empty((units.shape[0], 23), np.uint8)
    out[:, :18] = digits(units, 18)
    out[:, 18] = ord(".")
    out[:, 19:] = ord("0")
    return out


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
DATE_RIF = Vocab([f"{s[8:10]}-{_MON[int(s[5:7]) - 1]}-{s[0:4]}" for s in _iso] + ["", "31-Dec-9999"])
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
    if kind == "v" and dictionary:
        idx = np.asarray(col[1], np.int32)
        voc = col[2].arrow
        if len(voc) > 4096 and n:
            lo, hi = int(idx.min()), int(idx.max())
            voc = voc.slice(lo, hi - lo + 1)
            idx = idx - lo
        return pa.DictionaryArray.from_arrays(pa.array(idx), voc)
    if kind == "m":
        m = np.ascontiguousarray(col[1])
        w = m.shape[1]
        offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32) if n else np.zeros(1, np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(m))
    if kind == "v":
        return col[2].arrow.take(pa.array(np.asarray(col[1], np.int32)))
    return pa.repeat(pa.scalar(col[1], pa.string()), n)


def to_arrow(frame: Frame, names: list[str], dictionary: bool = False) -> pa.Table:
    """Arrow table of string columns; with dictionary=True, vocabulary columns stay dictionary
    encoded (written to Parquet as plain string columns with dictionary pages)."""
    import pyarrow.compute as pc
    arrays = []
    for f in names:
        col = frame.cols.get(f, ("c", ""))
        a = _col_arrow(col, frame.n, dictionary)
        is_dict = pa.types.is_dictionary(a.type)
        if is_dict and (f in frame.blank and frame.blank[f].any() or f in frame.override):
            a = a.cast(pa.string())
        else:
            is_dict = False
        if f in frame.blank and frame.blank[f].any():
            a = pc.if_else(pa.array(frame.blank[f]), pa.scalar("", pa.string()), a)
        if f in frame.override:
            rows, vals = frame.override[f]
            if len(rows):
                full = np.zeros(frame.n, bool)
                full[rows] = True
                sub = np.zeros(frame.n, np.int32)
                sub[rows] = np.arange(len(rows), dtype=np.int32)
                repl = pa.array(list(vals), pa.string()).take(pa.array(sub))
                a = pc.if_else(pa.array(full), repl, a)
        if is_dict:
            a = pc.dictionary_encode(a)
        arrays.append(a)
    return pa.Table.from_arrays(arrays, names=names)


# --------------------------------------------------------------------------------------------
class Sink:
    """One output file written under a temporary name and moved into place by close()."""

    def __init__(self, path: Path, fmt: str, names: list[str] | None = None,
                 layout: Layout | None = None, delimiter: str = ","):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        self.fmt = fmt
        self.names = names
        self.layout = layout
        self.delimiter = delimiter
        self.rows = 0
        self._writer = None
        self._fh = None
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
                if self._writer is None:
                    self._writer = pq.ParquetWriter(self.tmp, t.schema, compression="zstd",
                                                    compression_level=1, store_schema=False,
                                                    write_statistics=False)
                self._writer.write_table(t, row_group_size=1 << 20)
            else:
                pacsv.write_csv(t, self._fh, pacsv.WriteOptions(
                    include_header=False, delimiter=self.delimiter, quoting_style="none"))
        self.rows += frame.n

    def close(self):
        if self.fmt == "parquet":
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.tmp, self._schema, compression="zstd",
                                                store_schema=False)
            self._writer.close()
        else:
            self._fh.close()
            if self.fmt == "fixed" and self.rows == 0:
                # CMS does not deliver empty fixed-width files, and ingest rejects them: skip the file
                self.tmp.unlink()
                return
        os.replace(self.tmp, self.path)

    def abort(self):
        try:
            if self._writer is not None:
                self._writer.close()
            if self._fh is not None:
                self._fh.close()
        finally:
            if self.tmp.exists():
                self.tmp.unlink()
