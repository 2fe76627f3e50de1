"""CMS's published MIPS benchmarks and national average costs (data/reference/qpp/, README there), read
for the projection (V1, V2) and for the episode stage's plausibility gate (issue 21: the cohort's mean
episode cost against the national average). A newer CMS file of the same columns replaces the shipped one through
`projection.quality_benchmarks_file` / `projection.cost_averages_file`; a file that cannot be used is
refused with one line naming the file, the row and the column (`ReferenceFileError`).

Direction of the percentile columns (checked against CMS's benchmark schema and every inverse row):
`pK` is the K-th percentile of the rates in ascending order, whatever the measure's direction, so for an
inverse measure the best clinicians sit at the low percentiles.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.engine.reference import resolve_dir

PERCENTILES = (1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99)
P_COLUMNS = [f"p{k}" for k in PERCENTILES]
QUALITY_COLUMNS = ["performance_year", "benchmark_year", "measure_id", "submission_method", "is_inverse",
                   "is_topped_out", "metric_type", *P_COLUMNS]
COST_COLUMNS = ["performance_year", "benchmark_year", "measure_id", "group_national_average",
                "individual_national_average"]
_BOOL = {"true": True, "false": False}


class ReferenceFileError(Exception):
    """A CMS reference file that cannot be used. str() is the one-line user message."""


def _display(path: Path) -> str:
    return str(path)


def _read(path: Path, columns: list[str]) -> pl.DataFrame:
    if not path.is_file():
        raise ReferenceFileError(f"{_display(path)}: CMS reference file not found; set projection.* in the "
                                 "methodology or restore data/reference/qpp/")
    try:
        raw = pl.read_csv(path, infer_schema=False, glob=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise ReferenceFileError(f"{_display(path)}: not a CSV file ({str(exc).splitlines()[0]})") from None
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise ReferenceFileError(f"{_display(path)}: missing column(s) {', '.join(missing)} (a CMS file of the "
                                 f"same shape has {', '.join(columns)})")
    return raw.with_row_index("source_row", offset=1)


def _typed(raw: pl.DataFrame, path: Path, numeric: list[str], integer: list[str], flags: list[str]) -> pl.DataFrame:
    """Cast columns; the first value that does not parse is the one-line error (file, row, column, value)."""
    casts = ([pl.col(c).str.strip_chars().cast(pl.Float64, strict=False) for c in numeric]
             + [pl.col(c).str.strip_chars().cast(pl.Int64, strict=False) for c in integer]
             + [pl.col(c).str.strip_chars().str.to_lowercase().replace_strict(_BOOL, default=None,
                                                                              return_dtype=pl.Boolean)
                for c in flags])
    typed = raw.with_columns(casts)
    for c in [*numeric, *integer, *flags]:
        bad = typed.filter(pl.col(c).is_null())
        if bad.height:
            row = bad.row(0, named=True)["source_row"]
            value = raw.filter(pl.col("source_row") == row)[c][0]
            kind = "a number" if c in numeric else ("a year" if c in integer else "True or False")
            raise ReferenceFileError(f"{_display(path)}: row {row}, column {c}: {value!r} is not {kind}")
    return typed


def load_quality_benchmarks(file: str, performance_year: int) -> pl.DataFrame:
    """V1: the latest published CMS benchmark (highest MIPS performance year not after the run's PY) per
    measure and submission method. measure_id as the pipeline writes it ("Q005"); `placeholder` marks
    rows whose percentiles equal their labels (p1 = 1 ... p99 = 99: CMS published no benchmark)."""
    path = resolve_dir(file)
    typed = _typed(_read(path, QUALITY_COLUMNS), path, P_COLUMNS, ["performance_year", "benchmark_year"],
                   ["is_inverse", "is_topped_out"])
    descending = typed.filter(pl.any_horizontal([pl.col(b) < pl.col(a) for a, b in zip(P_COLUMNS, P_COLUMNS[1:])]))
    if descending.height:
        r = descending.row(0, named=True)
        raise ReferenceFileError(f"{_display(path)}: row {r['source_row']}: percentiles p1..p99 must not decrease "
                                 f"(measure {r['measure_id']}, {r['submission_method']})")
    placeholder = pl.all_horizontal([pl.col(c) == float(k) for c, k in zip(P_COLUMNS, PERCENTILES)])
    return (typed.filter(pl.col("performance_year") <= performance_year)
            .with_columns(("Q" + pl.col("measure_id").str.strip_chars().str.zfill(3)).alias("measure_id"),
                          pl.col("submission_method").str.strip_chars(), pl.col("metric_type").str.strip_chars(),
                          placeholder.alias("placeholder"), pl.lit(path.name).alias("source_file"))
            .sort("performance_year", "source_row")
            .group_by("measure_id", "submission_method", maintain_order=True).last()
            .rename({"performance_year": "cms_performance_year"})
            .sort("measure_id", "submission_method"))


def load_cost_averages(file: str, performance_year: int, column: str) -> pl.DataFrame:
    """V2: the latest national average cost (MIPS performance year not after the run's PY) per cost measure."""
    path = resolve_dir(file)
    typed = _typed(_read(path, COST_COLUMNS), path, ["group_national_average", "individual_national_average"],
                   ["performance_year", "benchmark_year"], [])
    bad = typed.filter(pl.col(column) <= 0)
    if bad.height:
        r = bad.row(0, named=True)
        raise ReferenceFileError(f"{_display(path)}: row {r['source_row']}, column {column}: {r[column]} must be > 0")
    return (typed.filter(pl.col("performance_year") <= performance_year)
            .sort("performance_year", "source_row")
            .group_by("measure_id", maintain_order=True).last()
            .select(pl.col("measure_id").str.strip_chars().alias("cost_measure"),
                    pl.col("performance_year").alias("cms_performance_year"), "benchmark_year",
                    pl.col(column).alias("national_average"), pl.lit(path.name).alias("source_file")))
