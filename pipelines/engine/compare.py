"""Compare two warehouses table by table: `python -m pipelines.engine.compare OUT_A OUT_B`.

For every table in either warehouse: rows in A and not in B and the reverse (EXCEPT ALL, both ways,
over the columns both have), columns only one side has, and, where rows differ, whether they differ
only beyond the 10th significant digit of floating-point columns (summation order). Used to prove a
refactor, a sharded run or an incremental run gives the same tables as the reference.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.engine.duck import sql_literal
from pipelines.engine.warehouse import parquet_files

FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")
SIGNIFICANT_DIGITS = 10


@dataclass
class TableDiff:
    table: str
    rows_a: int | None
    rows_b: int | None
    only_in_a: int = 0
    only_in_b: int = 0
    columns_only_in_a: list[str] = field(default_factory=list)
    columns_only_in_b: list[str] = field(default_factory=list)
    equal_when_rounded: bool | None = None

    @property
    def identical(self) -> bool:
        return (self.rows_a is not None and self.rows_b is not None and self.only_in_a == 0 and self.only_in_b == 0
                and not self.columns_only_in_a and not self.columns_only_in_b)

    @property
    def same_rows(self) -> bool:
        """Equal over the common columns (columns may have been added or removed)."""
        return self.rows_a is not None and self.rows_b is not None and self.only_in_a == 0 and self.only_in_b == 0

    def line(self) -> str:
        if self.rows_a is None or self.rows_b is None:
            return f"{self.table}: only in {'B' if self.rows_a is None else 'A'}"
        cols = ""
        if self.columns_only_in_a or self.columns_only_in_b:
            cols = f"; columns only in A {self.columns_only_in_a}, only in B {self.columns_only_in_b}"
        if self.same_rows:
            return f"{self.table}: {self.rows_a:,} rows, identical{' on common columns' if cols else ''}{cols}"
        rounded = "" if self.equal_when_rounded is None else (
            "; equal when floats are rounded to 10 significant digits" if self.equal_when_rounded else "")
        return (f"{self.table}: DIFFERENT {self.rows_a:,} vs {self.rows_b:,} rows; {self.only_in_a:,} only in A, "
                f"{self.only_in_b:,} only in B{rounded}{cols}")


def _tables(warehouse: Path) -> dict[str, Path]:
    return {p.name.removesuffix(".parquet"): p for p in sorted(warehouse.glob("*.parquet"))}


def _schema(con, rel: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}


def _except_counts(con, a: str, b: str, cols: list[str]) -> tuple[int, int]:
    sel = ", ".join(cols)
    n_a = con.execute(f"SELECT count(*) FROM (SELECT {sel} FROM {a} EXCEPT ALL SELECT {sel} FROM {b})").fetchone()[0]
    n_b = con.execute(f"SELECT count(*) FROM (SELECT {sel} FROM {b} EXCEPT ALL SELECT {sel} FROM {a})").fetchone()[0]
    return n_a, n_b


def _significant(col: str, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A float column rounded to `digits` significant digits (NaN and infinities kept)."""
    return (f"CASE WHEN {col} IS NULL OR isnan({col}) OR isinf({col}) OR {col} = 0 THEN {col} "
            f"ELSE round({col}, {digits} - CAST(ceil(log10(abs({col}))) AS INTEGER)) END")


def compare_table(con, name: str, path_a: Path | None, path_b: Path | None) -> TableDiff:
    if path_a is None or path_b is None:
        return TableDiff(name, None if path_a is None else 0, None if path_b is None else 0)
    a = f"read_parquet({sql_literal(parquet_files(path_a))})"
    b = f"read_parquet({sql_literal(parquet_files(path_b))})"
    sa, sb = _schema(con, a), _schema(con, b)
    common = [c for c in sa if c in sb]
    quoted = [f'"{c}"' for c in common]
    d = TableDiff(name, con.execute(f"SELECT count(*) FROM {a}").fetchone()[0],
                  con.execute(f"SELECT count(*) FROM {b}").fetchone()[0],
                  columns_only_in_a=[c for c in sa if c not in sb], columns_only_in_b=[c for c in sb if c not in sa])
    d.only_in_a, d.only_in_b = _except_counts(con, a, b, quoted)
    if not d.same_rows:
        rounded = [f"{_significant(q)} AS {q}" if sa[c].startswith(FLOAT_TYPES) else q for c, q in zip(common, quoted)]
        ra, rb = (f"(SELECT {', '.join(rounded)} FROM {rel})" for rel in (a, b))
        d.equal_when_rounded = _except_counts(con, ra, rb, quoted) == (0, 0)
    return d


def compare_warehouses(a: Path, b: Path) -> list[TableDiff]:
    ta, tb = _tables(Path(a)), _tables(Path(b))
    con = duckdb.connect()
    try:
        return [compare_table(con, n, ta.get(n), tb.get(n)) for n in sorted(set(ta) | set(tb))]
    finally:
        con.close()


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) != 3:
        sys.exit("usage: python -m pipelines.engine.compare WAREHOUSE_A WAREHOUSE_B")
    diffs = compare_warehouses(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(d.line() for d in diffs))
    sys.exit(0 if all(d.same_rows for d in diffs if d.rows_a is not None and d.rows_b is not None) else 1)
