"""DuckDB helpers: one connection per engine step, SQL files from sql/ with {{placeholders}}."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from pipelines.engine.paths import SQL_DIR

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


# `--memory-limit` is the run's memory budget; DuckDB's memory_limit is its share of it (`duckdb_memory_limit`,
# the one home of the split). DuckDB holds its buffers to the limit but not everything else it allocates, and
# the run's process needs room of its own: DuckDB gets DUCKDB_SHARE_OF_MEMORY_LIMIT of the budget (at 100M
# lines with DuckDB at the whole 20GB the run's peak RSS was 21.0 GB) but leaves at least PROCESS_RESERVE for
# the rest of the process, whose base is fixed, not a share: the interpreter with Dagster, Polars, PyArrow and
# Great Expectations imported takes 0.44 GB before any data (issue 20: at 10M lines, 4GB, DuckDB at 3.2 GB, the
# main process peaked at 3.76 GB sampled, 3.96 GB ru_maxrss, in ingest's sorted write and in episodes).
DUCKDB_SHARE_OF_MEMORY_LIMIT = 0.8
PROCESS_RESERVE = "1GB"
# A small budget (below 2.5GB) keeps 60% for DuckDB: the whole reserve would leave it too little to read a file
# (see MIN_MEMORY_LIMIT), and such a budget is for small inputs, whose Python side is small too.
DUCKDB_MIN_SHARE_OF_MEMORY_LIMIT = 0.6
# The least budget a run can work in: DuckDB's buffers for reading one small claims file already take
# tens of MB (a 50-line file failed at 30MB, ran at 64MB), so anything below is refused up front (issue 21).
MIN_MEMORY_LIMIT = "100MB"


def parse_size(text: str) -> float | None:
    """'20GB' -> bytes (DuckDB units: KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of 1024); None if not a size."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]i?B)\s*", text or "", re.IGNORECASE)
    if not m:
        return None
    unit = m.group(2).upper()
    base = 1024 if "I" in unit else 1000
    return float(m.group(1)) * base ** ("KMGT".index(unit[0]) + 1)


def duckdb_memory_limit(budget: str) -> str:
    """DuckDB's memory_limit for a run's memory budget ('' = DuckDB's default, 80% of RAM): 80% of the budget,
    less what it takes to leave PROCESS_RESERVE to the rest of the process (4GB -> 3000MB, 20GB -> 16000MB)."""
    if not budget:
        return ""
    size = parse_size(budget)
    if size is None:
        raise ValueError(f"{budget!r} is not a size such as 16GB, 16GiB or 800MB")
    if size < parse_size(MIN_MEMORY_LIMIT):
        raise ValueError(f"{budget} is too little memory for a run: DuckDB's buffers for reading even one small "
                         f"claims file need tens of MB; give at least {MIN_MEMORY_LIMIT}")
    share = max(min(size * DUCKDB_SHARE_OF_MEMORY_LIMIT, size - parse_size(PROCESS_RESERVE)),
                size * DUCKDB_MIN_SHARE_OF_MEMORY_LIMIT)
    return f"{int(share / 1e6)}MB"


def connect(threads: int = 0, memory_limit: str = "", temp_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the run's threads, memory budget (`memory_limit`, of which DuckDB gets
    DUCKDB_SHARE_OF_MEMORY_LIMIT) and spill folder."""
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = ?", [duckdb_memory_limit(memory_limit)])
    if temp_dir is not None:
        temp_dir.mkdir(parents=True, exist_ok=True)
        con.execute("SET temp_directory = ?", [str(temp_dir)])
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = false")
    run_sql_file(con, "00_macros.sql")
    return con


def sql_literal(value: Any) -> str:
    """Render a Python value as a SQL literal (for {{placeholders}} in SQL files)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(sql_literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


class Raw(str):
    """A SQL fragment inserted verbatim into a {{placeholder}} (identifiers, generated column lists)."""


def render(sql: str, **params: Any) -> str:
    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in params:
            raise KeyError(f"SQL placeholder {{{{{name}}}}} has no value")
        value = params[name]
        return str(value) if isinstance(value, Raw) else sql_literal(value)

    return _PLACEHOLDER.sub(sub, sql)


def sql_text(relative: str) -> str:
    return (SQL_DIR / relative).read_text()


def run_sql_file(con: duckdb.DuckDBPyConnection, relative: str, **params: Any):
    return con.execute(render(sql_text(relative), **params))


def query_sql_file(con: duckdb.DuckDBPyConnection, relative: str, **params: Any) -> str:
    """Rendered SELECT text of a SQL file, for use as a sub-query."""
    return render(sql_text(relative), **params).strip().rstrip(";")


def placeholders(relative: str) -> set[str]:
    """The {{placeholder}} names a SQL file uses."""
    return set(_PLACEHOLDER.findall(sql_text(relative)))


def fetch_dicts(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> list[dict]:
    cur = con.execute(query, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
