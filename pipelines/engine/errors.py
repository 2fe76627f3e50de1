"""Raw library errors (DuckDB, Polars, the operating system) translated into what the user did wrong
and what to do, in one line. Values from the data are never repeated (they may be beneficiary ids).
Nothing here imports Dagster."""
from __future__ import annotations

import os
import re
from typing import Callable

_QUOTED_PATH = re.compile(r"[\"']((?:/|\./|\.\./)[^\"'\\]+)\\?[\"']")


def _path(raw: str, default: str) -> str:
    """The folder to name: the output folder when the raw text's path lies inside it, else that path."""
    m = _QUOTED_PATH.search(raw)
    if not m:
        return default
    found = m.group(1)
    return default if default != "the output folder" and found.startswith(default.rstrip("/") + "/") else found


def _type_word(dtype: str) -> str:
    d = dtype.lower()
    if d.startswith(("int", "bigint", "hugeint", "smallint", "tinyint", "i8", "i16", "i32", "i64", "u")):
        return "a whole number"
    if d.startswith(("f", "double", "decimal", "real", "numeric")):
        return "a number"
    if d.startswith(("date", "timestamp")):
        return "a date"
    return d


DISK_FULL = "is full: free space"  # in every full-disk line of `explain`
DISK_FULL_TEXT = r"No space left on device|Errno 28\b|ENOSPC|Disk quota exceeded|database or disk is full"


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error is a full disk or quota: the one home of what one looks like (also inside
    shutil.copytree's Error, a list of each file's error text; `explain` words it)."""
    return re.search(DISK_FULL_TEXT, str(exc), re.I) is not None


def says_disk_full(line: str) -> bool:
    """Whether a one-line reason is a full disk (`explain`'s, or the output folder check's in
    pipelines.engine.outfolder): the runner then names what can be removed (issue 21 item 6)."""
    return DISK_FULL in line or "the disk is full" in line


def _disk_full(m: re.Match, raw: str, out: str) -> str:
    return (f"the disk holding {_path(raw, out)} {DISK_FULL} (older snapshots in OUT/snapshots, "
            "OUT/.staging of a failed run) or choose another --out")


def _read_only(m: re.Match, raw: str, out: str) -> str:
    return f"{_path(raw, out)} is on a read-only file system: choose a writable --out"


def _denied(m: re.Match, raw: str, out: str) -> str:
    return f"permission denied on {_path(raw, out)}: make it writable by this user, or choose another --out"


_MEMORY_USED = re.compile(r"\([^()/]+/[^()/]+ used\)")  # DuckDB's "(22.8 MiB/22.8 MiB used)"


def _memory(m: re.Match, raw: str, out: str) -> str:
    if _MEMORY_USED.search(raw):  # DuckDB reached its memory_limit (its share of --memory-limit: duck.duckdb_memory_limit)
        return ("ran out of memory: DuckDB used up its memory limit (its share of --memory-limit): raise --memory-limit, "
                "up to the machine's free memory (DuckDB spills to OUT/.tmp beyond it), or pass fewer --threads")
    return ("ran out of memory: pass --memory-limit (e.g. 8GB; DuckDB then spills to OUT/.tmp) below the free "
            "memory, or fewer --threads")


def _missing_table(m: re.Match, raw: str, out: str) -> str:
    return (f"table file {m.group(1)} is missing: run the whole pipeline (asm run) so every upstream table "
            "is written")


def _not_a_value(m: re.Match, raw: str, out: str) -> str:
    dtype, column = m.group("type"), m.groupdict().get("column")
    where = f" in column '{column}'" if column else ""
    return f"a value{where} could not be read as {_type_word(dtype)}: check the input file's layout and values"


def _missing_column(m: re.Match, raw: str, out: str) -> str:
    column = next((g for g in m.groups() if g), None)
    what = f"column '{column}'" if column else "a required column"
    return f"{what} is missing from an input file or table: check the file's header"


_RULES: tuple[tuple[re.Pattern, Callable[[re.Match, str, str], str]], ...] = tuple(
    (re.compile(p, re.I | re.S), f) for p, f in (
        (DISK_FULL_TEXT, _disk_full),
        (r"Read-only file system|Errno 30\b|EROFS", _read_only),
        (r"Permission denied|Errno 13\b|EACCES", _denied),
        (r"Out of Memory Error|OutOfMemory|MemoryError|memory allocation of \d+ bytes failed", _memory),
        (r"No files found that match the pattern \"([^\"]+)\"", _missing_table),
        (r"could not parse .* as dtype `?(?P<type>\w+)`? at column '(?P<column>[^']+)'", _not_a_value),
        (r"conversion from `?str`? to `?(?P<type>\w+)`? failed in column '(?P<column>[^']+)'", _not_a_value),
        (r"Could not convert string .* to (?P<type>[A-Z0-9_]+)", _not_a_value),
        (r"unable to find column \"([^\"]+)\"|Referenced column \"([^\"]+)\" not found", _missing_column),
        (r"ColumnNotFoundError", _missing_column),
    ))


FULL_DISK_BYTES = 1 << 20  # less free space than this on the output folder's disk: it is full


def _disk_is_full(out_dir: str) -> bool:
    try:
        st = os.statvfs(out_dir)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_DISK_BYTES


def explain(raw: str, out_dir: str = "the output folder") -> str | None:
    """One user line for a raw error text, or None when it is not one we can explain. A failure
    whose text says nothing known (SQLite's "disk I/O error") while the output folder's disk has no
    space left is explained as a full disk."""
    for pattern, message in _RULES:
        m = pattern.search(raw or "")
        if m:
            return message(m, raw, str(out_dir))
    if _disk_is_full(str(out_dir)):
        return _disk_full(None, "", str(out_dir))
    return None
