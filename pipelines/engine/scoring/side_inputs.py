"""The side inputs of the input folder, parsed and checked before any rule trusts them (S2, S3, S5,
Q2, G3), and CMS's measure file (Q2 collection types).

What is refused here (SideInputError, one line naming the file, the data row and the value): a value
that does not parse (a non-numeric count or PI score, a PY that is not a year), a value out of its
range (PI score outside 0-100, a clinician count below 1), an unknown IA answer, a blank key, and two
rows for one key (two attestation rows for a TIN and PY, two ZIPs for an NPI, two rows for one
submission key, a ZIP/CBSA pair twice). What a rule decides about well-formed rows (Q2: refused
quality rows, S6: blank IA answers, G3: several CBSAs for a ZIP) lives in the rule modules.
Row numbers are 1-based data rows (header not counted), as in the data contracts. Values shown in
messages come only from columns that cannot hold beneficiary ids, and a value that looks like an
identifier (a shifted column) is masked.
"""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from pipelines.engine.methodology import ScoringParams
from pipelines.engine.scoring.inputs import SideInputError, read_side_csv
from pipelines.engine.settings import RunSettings

ATTESTATIONS, QUALITY, PROVIDERS = "practice_attestations.csv", "quality_submissions.csv", "providers.csv"
ZIP_CBSA, SELECTED = "zip_cbsa.csv", "asm_selected_cbsas.csv"
ATTESTATION_COLUMNS = ["performance_year", "tin", "ia1_done", "ia2_done", "pi_score"]
SUBMISSION_KEY = ["performance_year", "tin", "npi", "measure_id", "collection_type"]
COUNT_COLUMNS = ["eligible_population", "performance_met", "performance_not_met", "denominator_exceptions"]
SUBMISSION_COLUMNS = {**{c: pl.Utf8 for c in SUBMISSION_KEY}, "performance_year": pl.Int64,
                      **{c: pl.Float64 for c in COUNT_COLUMNS}}
# Q2: CMS's submission methods (mips_measures_*.csv) as the collection types of quality_submissions.csv;
# `administrativeClaims` (computed by CMS, e.g. Q492) is no submittable collection type.
COLLECTION_TYPE_OF_METHOD = {"electronicHealthRecord": "ecqm", "registry": "mips_cqm", "claims": "claims"}
MEASURE_FILE_COLUMNS = ("measure_id", "submission_methods")


_ID_LIKE = re.compile(r"^(?=.*[A-Za-z])(?=.*[0-9])[A-Za-z0-9-]{8,}$")  # e.g. an MBI/HICN in a shifted column


def _text(value) -> str:
    """A value for a message: masked when it looks like an identifier (letters and digits, 8+ long),
    which a well-formed side file never holds in the columns shown (so it is a shifted column)."""
    text = "" if value is None else str(value)
    if _ID_LIKE.match(text):
        return f"<{len(text)} characters, not shown>"
    return text if len(text) <= 40 else text[:37] + "..."


def _show(value) -> str:
    return repr(_text(value))


def _with_rows(df: pl.DataFrame) -> pl.DataFrame:
    """The data row number (1-based, header not counted) of each row; empty lines are no rows."""
    cols = df.columns
    return (df.with_row_index("source_row", offset=1).with_columns(pl.col("source_row").cast(pl.Int64))
            .filter(~pl.all_horizontal([pl.col(c).is_null() | (pl.col(c) == "") for c in cols])))


def _blank(col: str) -> pl.Expr:
    return pl.col(col).is_null() | (pl.col(col) == "")


def _first_bad(df: pl.DataFrame, bad: pl.Expr, name: str, col: str, what: str) -> None:
    rows = df.filter(bad)
    if rows.height:
        row = rows.row(0, named=True)
        more = f" (and {rows.height - 1} more rows)" if rows.height > 1 else ""
        raise SideInputError(f"{name} row {row['source_row']}: {col} {_show(row[col])} {what}{more}")


def _number(df: pl.DataFrame, name: str, col: str, what: str, *, whole: bool = False, lo: float | None = None,
            hi: float | None = None, required: bool = False) -> pl.Expr:
    """The column as a number (blank = null). A non-blank value that is not a number, not whole when
    `whole`, or outside [lo, hi], or a blank when `required`: SideInputError naming row and value."""
    value = pl.col(col).cast(pl.Float64, strict=False)
    bad = (~_blank(col) & value.is_null()) | value.is_nan() | value.is_infinite()
    if whole:
        bad = bad | (value.is_not_null() & (value != value.round(0)))
    if lo is not None:
        bad = bad | (value < lo)
    if hi is not None:
        bad = bad | (value > hi)
    if required:
        bad = bad | _blank(col)
    _first_bad(df, bad.fill_null(False), name, col, what)
    return value.alias(col)


def _required_text(df: pl.DataFrame, name: str, cols: list[str]) -> None:
    for col in cols:
        _first_bad(df, _blank(col), name, col, "is blank")


def _provider_ids(df: pl.DataFrame, name: str, npi_required: bool) -> None:
    """TIN: 9 digits; NPI: 10 digits (blank allowed unless required). Anything else is refused, so a
    shifted column never reaches a table."""
    if "tin" in df.columns:
        _first_bad(df, ~pl.col("tin").fill_null("").str.contains(r"^[0-9]{9}$"), name, "tin",
                   "is not a TIN (9 digits, leading zeros kept)")
    ok = pl.col("npi").fill_null("").str.contains(r"^[0-9]{10}$") | (pl.lit(not npi_required) & _blank("npi"))
    _first_bad(df, ~ok, name, "npi", "is not an NPI (10 digits" + (")" if npi_required else "; blank for TIN level)"))


def _unique_key(df: pl.DataFrame, name: str, key: list[str], what: str) -> None:
    """Two rows for one key: SideInputError naming the key and the rows (never "first row wins")."""
    dup = (df.group_by(key, maintain_order=True)
           .agg(pl.col("source_row").sort().alias("rows"), pl.len().alias("n")).filter(pl.col("n") > 1))
    if dup.height:
        row = dup.row(0, named=True)
        shown = ", ".join(f"{c} {_text(row[c]) if row[c] not in (None, '') else '(blank)'}" for c in key)
        rows = ", ".join(str(r) for r in row["rows"][:5])
        more = f"; {dup.height - 1} more duplicated keys" if dup.height > 1 else ""
        raise SideInputError(f"{name}: {row['n']} rows for {shown} (rows {rows}){more}; {what}")


def _performance_year(df: pl.DataFrame, name: str) -> pl.DataFrame:
    return df.with_columns(_number(df, name, "performance_year", "is not a year", whole=True, lo=1900, hi=2100,
                                   required=True).cast(pl.Int64))


# ------------------------------------------------------------------------------ practice attestations

def attestations(settings: RunSettings, performance_year: int, p: ScoringParams) -> pl.DataFrame:
    """S2, S3, S5 inputs per TIN for the PY: tin, attestation_row, ia1_done, ia2_done (upper-cased; null
    when blank), pi_score (null = not reported), reported_clinicians (null = not given). Refused: a
    non-numeric or out-of-range PI score or clinician count, an IA answer that is neither a done nor a
    not-done answer, a blank or malformed TIN, two rows for a TIN and PY."""
    raw = read_side_csv(settings, ATTESTATIONS, ATTESTATION_COLUMNS)
    if raw is None:
        raw = pl.DataFrame(schema={c: pl.Utf8 for c in ATTESTATION_COLUMNS})
    if "clinician_count" not in raw.columns:
        raw = raw.with_columns(pl.lit(None, pl.Utf8).alias("clinician_count"))
    df = _performance_year(_with_rows(raw), ATTESTATIONS)
    _required_text(df, ATTESTATIONS, ["tin"])
    _first_bad(df, ~pl.col("tin").str.contains(r"^[0-9]{9}$"), ATTESTATIONS, "tin",
               "is not a TIN (9 digits, leading zeros kept)")
    df = df.filter(pl.col("performance_year") == performance_year)
    pi = _number(df, ATTESTATIONS, "pi_score", "is not a PI score 0-100 (S3; leave blank when not reported)",
                 lo=0, hi=100)
    count = _number(df, ATTESTATIONS, "clinician_count", "is not a clinician count (a whole number >= 1, or blank)",
                    whole=True, lo=1)
    answers = [*p.ia_done_answers, *p.ia_not_done_answers]
    for col in ("ia1_done", "ia2_done"):
        norm = pl.col(col).str.to_uppercase()
        _first_bad(df, ~_blank(col) & ~norm.is_in(answers), ATTESTATIONS, col,
                   f"is not an IA answer (done: {', '.join(p.ia_done_answers)}; not done: "
                   f"{', '.join(p.ia_not_done_answers)}; blank = not attested, S6)")
    _unique_key(df, ATTESTATIONS, ["tin", "performance_year"], "keep one row per TIN and PY")
    return df.select(
        "tin", pl.col("source_row").alias("attestation_row"),
        *[pl.when(_blank(c)).then(None).otherwise(pl.col(c).str.to_uppercase()).alias(c) for c in ("ia1_done", "ia2_done")],
        pi.alias("pi_score"), count.cast(pl.Int64).alias("reported_clinicians"))


# ------------------------------------------------------------------------------ quality submissions

def quality_submissions(settings: RunSettings, performance_year: int) -> pl.DataFrame:
    """Q2 rows of the PY, typed (SUBMISSION_COLUMNS + source_row; npi null for TIN-level rows, measure
    id upper case, collection type lower case). Refused: a count that is not a whole number (blank
    exceptions = 0; blank eligible population, met or not met is a count that does not parse), a blank
    TIN, measure or collection type, two rows for one submission key. Negative counts and other rule
    problems are Q2's (quality.screen_submissions)."""
    raw = read_side_csv(settings, QUALITY, list(SUBMISSION_COLUMNS))
    if raw is None:
        return pl.DataFrame(schema={**SUBMISSION_COLUMNS, "source_row": pl.Int64})
    df = _performance_year(_with_rows(raw), QUALITY)
    _required_text(df, QUALITY, ["tin", "measure_id", "collection_type"])
    _provider_ids(df, QUALITY, npi_required=False)
    df = df.filter(pl.col("performance_year") == performance_year)
    counts = [_number(df, QUALITY, c, "is not a count (a whole number)", whole=True,
                      required=c != "denominator_exceptions") for c in COUNT_COLUMNS]
    df = df.with_columns(
        *counts, pl.when(_blank("npi")).then(None).otherwise(pl.col("npi")).alias("npi"),
        pl.col("measure_id").str.to_uppercase(), pl.col("collection_type").str.to_lowercase(),
    ).with_columns(pl.col("denominator_exceptions").fill_null(0.0))
    _unique_key(df, QUALITY, SUBMISSION_KEY, "keep one row per TIN, NPI (blank for TIN level), measure and "
                                             "collection type")
    return df.select(*SUBMISSION_COLUMNS, "source_row")


def cms_collection_types(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Q2: the collection types each measure has, from CMS's MIPS measure file (measure_id like 005 or
    Q005, submission_methods separated by ';'). Rows of other measure kinds (COST_HF_1) are kept as they
    are; methods without a collection type (administrativeClaims) give none."""
    path = Path(path)
    try:
        df = pl.read_csv(path, infer_schema=False, glob=False)
    except Exception as exc:  # noqa: BLE001 - any read error is a one-line error naming the file
        raise SideInputError(f"{path}: CMS measure file could not be read: {str(exc).splitlines()[0]}") from None
    missing = [c for c in MEASURE_FILE_COLUMNS if c not in df.columns]
    if missing:
        raise SideInputError(f"{path}: CMS measure file lacks column(s) {', '.join(missing)} "
                             f"(expected {', '.join(MEASURE_FILE_COLUMNS)})")
    out: dict[str, tuple[str, ...]] = {}
    for mid, methods in df.select(*MEASURE_FILE_COLUMNS).iter_rows():
        mid = (mid or "").strip().upper()
        key = f"Q{int(mid):03d}" if mid.isdigit() else mid
        types = [COLLECTION_TYPE_OF_METHOD.get(m.strip()) for m in (methods or "").split(";")]
        out[key] = tuple(t for t in types if t)
    return out


# ------------------------------------------------------------------------------ geography (G3)

def providers(settings: RunSettings) -> pl.DataFrame | None:
    """providers.csv: npi, zip5 (first five digits of a ZIP or ZIP+4). Refused: a blank NPI, a ZIP that
    does not start with five digits, one NPI with two different ZIPs (identical repeated rows are one)."""
    raw = read_side_csv(settings, PROVIDERS, ["npi", "zip5"])
    if raw is None:
        return None
    df = _with_rows(raw)
    _required_text(df, PROVIDERS, ["npi"])
    _provider_ids(df, PROVIDERS, npi_required=True)
    _first_bad(df, ~pl.col("zip5").fill_null("").str.contains(r"^[0-9]{5}(-?[0-9]{4})?$"), PROVIDERS, "zip5",
               "is not a ZIP code (5 digits, or ZIP+4)")
    df = df.with_columns(pl.col("zip5").str.slice(0, 5)).unique(["npi", "zip5"], keep="first", maintain_order=True)
    _unique_key(df, PROVIDERS, ["npi"], "keep one ZIP per NPI")
    return df.select("npi", "zip5")


def zip_cbsa(settings: RunSettings) -> pl.DataFrame | None:
    """zip_cbsa.csv: zip5, cbsa_code, res_ratio (null when the file has no such column). Refused: a ZIP
    or CBSA code that is not five digits, a res_ratio outside 0-1 or blank in a file that has the
    column, the same ZIP and CBSA twice."""
    raw = read_side_csv(settings, ZIP_CBSA, ["zip5", "cbsa_code"])
    if raw is None:
        return None
    df = _with_rows(raw)
    for col in ("zip5", "cbsa_code"):
        _first_bad(df, ~pl.col(col).fill_null("").str.contains(r"^[0-9]{5}$"), ZIP_CBSA, col, "is not 5 digits")
    has_ratio = "res_ratio" in df.columns
    ratio = (_number(df, ZIP_CBSA, "res_ratio", "is not a residential share 0-1", lo=0, hi=1, required=True)
             if has_ratio else pl.lit(None, pl.Float64).alias("res_ratio"))
    _unique_key(df, ZIP_CBSA, ["zip5", "cbsa_code"], "keep one row per ZIP and CBSA")
    return df.select("zip5", "cbsa_code", ratio)


def selected_cbsas(settings: RunSettings) -> pl.DataFrame | None:
    """asm_selected_cbsas.csv: the selected CBSA codes (a list: a code listed twice is listed once)."""
    raw = read_side_csv(settings, SELECTED, ["cbsa_code"])
    if raw is None:
        return None
    df = _with_rows(raw)
    _first_bad(df, ~pl.col("cbsa_code").fill_null("").str.contains(r"^[0-9]{5}$"), SELECTED, "cbsa_code",
               "is not 5 digits")
    return df.select("cbsa_code").unique(maintain_order=True)
