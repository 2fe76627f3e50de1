"""Data-quality gates (issue 6): one GX 1.x suite per asset in `expectations/<asset>.json`, run as
Dagster asset checks.

Each suite is a plain GX `ExpectationSuite` JSON. Every expectation says in its `meta.engine`
where it runs (format: expectations/README.md):
  - "duckdb" (default): translated to DuckDB SQL over the asset's whole Parquet file — every row is
    checked (keys, uniqueness, NPI check digit, code shapes, ranges, row counts relative to input);
  - "gx": validated by Great Expectations on a pandas frame of a reproducible sample
    (`meta.gx_sample_rows` of the suite) holding only the columns the expectations name.
GX `severity` "critical" is a blocking ERROR; "warning"/"info" are WARN (recorded, never blocking).

Per asset one Dagster step yields two results: `<asset>_expectations` (blocking, ERROR) and
`<asset>_warnings` (WARN). Metadata holds failing expectations with counts and up to three example
values — never from private columns (beneficiary ids, raw rows: `PRIVATE_COLUMN`). Every evaluated
expectation is appended to the `dq_results` table (OUT/dq_results/*.parquet).
"""
from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import duckdb

from pipelines.duck import connect, sql_literal, sql_text
from pipelines.paths import EXPECTATIONS_DIR
from pipelines.resources import AsmResource

PRIVATE_COLUMN = re.compile(r"bene|^raw$|name|address", re.IGNORECASE)
"""Columns whose values never leave the table (data-contracts: ids only in line/episode tables)."""
ENGINES = ("duckdb", "gx")
DEFAULT_SAMPLE_ROWS = 100_000
EXAMPLES = 3
_TABLE_REF = re.compile(r"\{table:(\w+)\}")

# Expectation types the DuckDB engine translates (anything else must say "engine": "gx").
ROW_PREDICATE_TYPES = {
    "expect_column_values_to_not_be_null", "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex", "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
    "expect_column_value_lengths_to_equal", "expect_column_value_lengths_to_be_between",
    "expect_column_pair_values_a_to_be_greater_than_b",
}
DUCKDB_TYPES = ROW_PREDICATE_TYPES | {
    "expect_table_columns_to_match_set", "expect_column_to_exist", "expect_column_values_to_be_of_type",
    "expect_table_row_count_to_be_between", "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique", "unexpected_rows_expectation",
}


class SuiteError(ValueError):
    """A suite file that cannot be used (bad JSON, unknown engine or type, private column sampled)."""


@dataclass
class Outcome:
    """One evaluated expectation (one dq_results row)."""
    name: str
    type: str
    engine: str
    severity: str  # ERROR | WARN
    passed: bool
    observed: str = ""
    unexpected_count: int | None = None
    element_count: int | None = None
    examples: list = field(default_factory=list)
    error: str = ""

    def line(self) -> str:
        if self.error:
            return f"{self.name}: could not evaluate ({self.error})"
        if self.unexpected_count is not None and self.element_count is not None:
            what = f"{self.unexpected_count:,} of {self.element_count:,} rows"
        else:
            what = f"observed {self.observed}"
        ex = f" e.g. {', '.join(str(e) for e in self.examples)}" if self.examples else ""
        return f"{self.name}: {what}{ex}"


# --------------------------------------------------------------------------------------------
# Suites


def suite_path(asset: str) -> Path:
    return EXPECTATIONS_DIR / f"{asset}.json"


def load_suite(asset: str) -> dict:
    """The suite JSON of an asset, validated: names unique, engines known, no private column in GX frames."""
    path = suite_path(asset)
    try:
        suite = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteError(f"{path.name}: {exc}") from None
    seen = set()
    for i, e in enumerate(suite.get("expectations", [])):
        meta = e.setdefault("meta", {})
        name = meta.setdefault("name", f"{e['type']}_{i}")
        if name in seen:
            raise SuiteError(f"{path.name}: expectation name {name!r} is used twice")
        seen.add(name)
        engine = meta.setdefault("engine", "duckdb")
        if engine not in ENGINES:
            raise SuiteError(f"{path.name}: {name}: engine must be one of {ENGINES}")
        if engine == "duckdb" and e["type"] not in DUCKDB_TYPES:
            raise SuiteError(f"{path.name}: {name}: {e['type']} has no DuckDB translation; use engine gx")
        if engine == "gx":
            private = [c for c in _columns_of(e) if PRIVATE_COLUMN.search(c)]
            if private or e["type"] == "unexpected_rows_expectation":
                raise SuiteError(f"{path.name}: {name}: GX frames never hold private columns or run SQL")
        if e.get("severity", "critical") not in ("critical", "warning", "info"):
            raise SuiteError(f"{path.name}: {name}: severity must be critical, warning or info")
    return suite


def available_suites() -> list[str]:
    return sorted(p.stem for p in EXPECTATIONS_DIR.glob("*.json"))


def _columns_of(e: dict) -> list[str]:
    kw = e.get("kwargs", {})
    cols = [kw[k] for k in ("column", "column_A", "column_B") if k in kw]
    return cols + list(kw.get("column_list", []))


def _severity(e: dict) -> str:
    return "ERROR" if e.get("severity", "critical") == "critical" else "WARN"


# --------------------------------------------------------------------------------------------
# DuckDB engine: whole table, one aggregate scan for all row predicates.


def _ident(c: str) -> str:
    return '"' + c.replace('"', '""') + '"'


def _row_predicate(e: dict) -> tuple[str, str]:
    """(bad-row predicate, counted-rows predicate) with GX semantics (nulls are not unexpected,
    except for not_null; `mostly` is applied to the non-null rows)."""
    kw, t = e["kwargs"], e["type"]
    if t == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = _ident(kw["column_A"]), _ident(kw["column_B"])
        op = ">=" if kw.get("or_equal") else ">"
        present = f"{a} IS NOT NULL AND {b} IS NOT NULL"
        return f"{present} AND NOT ({a} {op} {b})", present
    c = _ident(kw["column"])
    present = f"{c} IS NOT NULL"
    if t == "expect_column_values_to_not_be_null":
        return f"{c} IS NULL", "true"
    if t in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"):
        neg = "NOT " if t == "expect_column_values_to_match_regex" else ""
        return f"{present} AND {neg}regexp_matches(CAST({c} AS VARCHAR), {sql_literal(kw['regex'])})", present
    if t == "expect_column_values_to_be_between":
        conds = []
        if kw.get("min_value") is not None:
            conds.append(f"{c} {'>' if kw.get('strict_min') else '>='} {sql_literal(kw['min_value'])}")
        if kw.get("max_value") is not None:
            conds.append(f"{c} {'<' if kw.get('strict_max') else '<='} {sql_literal(kw['max_value'])}")
        return f"{present} AND NOT ({' AND '.join(conds) or 'true'})", present
    if t in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"):
        values = ", ".join(sql_literal(v) for v in kw["value_set"])
        op = "NOT IN" if t == "expect_column_values_to_be_in_set" else "IN"
        return f"{present} AND {c} {op} ({values})", present
    if t == "expect_column_value_lengths_to_equal":
        return f"{present} AND length(CAST({c} AS VARCHAR)) <> {int(kw['value'])}", present
    if t == "expect_column_value_lengths_to_be_between":
        lo, hi = kw.get("min_value"), kw.get("max_value")
        conds = ([f"length({c}) >= {int(lo)}"] if lo is not None else []) + (
            [f"length({c}) <= {int(hi)}"] if hi is not None else [])
        return f"{present} AND NOT ({' AND '.join(conds) or 'true'})", present
    raise SuiteError(f"no DuckDB translation for {t}")


def _public(cols: Iterable[str]) -> list[str]:
    return [c for c in cols if not PRIVATE_COLUMN.search(c)]


def _fmt(v: Any) -> Any:
    if isinstance(v, (int, float, bool, str)) or v is None:
        return v
    return str(v)


def run_duckdb(con: duckdb.DuckDBPyConnection, expectations: list[dict], relation: str,
               schema: dict[str, str], table_ref: Callable[[str], str]) -> list[Outcome]:
    out: list[Outcome] = []
    preds = [e for e in expectations if e["type"] in ROW_PREDICATE_TYPES]
    needs_count = any(e["type"] == "expect_table_row_count_to_be_between" for e in expectations)
    agg: dict[str, Any] = {}
    missing_cols: dict[str, str] = {}
    for e in preds:
        missing = [c for c in _columns_of(e) if c not in schema]
        if missing:
            missing_cols[e["meta"]["name"]] = f"column {', '.join(missing)} not in table"
    live = [e for e in preds if e["meta"]["name"] not in missing_cols]
    if live or needs_count:
        parts = ["count(*)"]
        for e in live:
            bad, counted = _row_predicate(e)
            parts += [f"count(*) FILTER (WHERE {bad})", f"count(*) FILTER (WHERE {counted})"]
        row = con.execute(f"SELECT {', '.join(parts)} FROM {relation}").fetchone()
        agg["rows"] = row[0]
        for i, e in enumerate(live):
            agg[e["meta"]["name"]] = (row[1 + 2 * i], row[2 + 2 * i])

    for e in expectations:
        name, t, kw = e["meta"]["name"], e["type"], e.get("kwargs", {})
        o = Outcome(name, t, "duckdb", _severity(e), True)
        try:
            if name in missing_cols:
                o.passed, o.error = False, missing_cols[name]
            elif t in ROW_PREDICATE_TYPES:
                bad, counted = agg[name]
                o.unexpected_count, o.element_count = bad, counted
                mostly = float(kw.get("mostly", 1.0))
                o.passed = bad == 0 or (counted > 0 and 1 - bad / counted >= mostly)
                o.observed = f"{bad / counted:.4%} unexpected" if counted else "no rows"
                cols = _columns_of(e)
                if bad and _public(cols) == cols:
                    pred = _row_predicate(e)[0]
                    sel = ", ".join(_ident(c) for c in cols)
                    o.examples = [
                        _fmt(r[0]) if len(r) == 1 else [_fmt(x) for x in r]
                        for r in con.execute(f"SELECT DISTINCT {sel} FROM {relation} WHERE {pred} LIMIT {EXAMPLES}").fetchall()
                    ]
            elif t == "expect_table_row_count_to_be_between":
                n = agg["rows"]
                lo, hi = kw.get("min_value"), kw.get("max_value")
                o.observed, o.passed = str(n), (lo is None or n >= lo) and (hi is None or n <= hi)
            elif t == "expect_table_columns_to_match_set":
                want, have = set(kw["column_set"]), set(schema)
                missing, extra = sorted(want - have), sorted(have - want)
                o.passed = not missing and (not kw.get("exact_match", True) or not extra)
                o.observed = f"missing {missing}" if missing else (f"unexpected {extra}" if extra and kw.get("exact_match", True) else "ok")
            elif t == "expect_column_to_exist":
                o.passed, o.observed = kw["column"] in schema, kw["column"]
            elif t == "expect_column_values_to_be_of_type":
                actual = schema.get(kw["column"], "missing")
                o.observed = actual
                o.passed = actual.upper() == kw["type_"].upper() or actual.upper().startswith(kw["type_"].upper() + "(")
            elif t in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
                cols = [kw["column"]] if "column" in kw else list(kw["column_list"])
                sel = ", ".join(_ident(c) for c in cols)
                pub = _public(cols)
                ex_sel = ", ".join(_ident(c) for c in pub) or "NULL"
                rows = con.execute(
                    f"""SELECT count(*) OVER (), sum(n) OVER (), {ex_sel} FROM (
                          SELECT count(*) AS n, {sel} FROM {relation} GROUP BY ALL HAVING count(*) > 1)
                        LIMIT {EXAMPLES}""").fetchall()
                keys, dup_rows = (rows[0][0], int(rows[0][1])) if rows else (0, 0)
                o.unexpected_count, o.element_count = dup_rows, agg.get("rows") or con.execute(
                    f"SELECT count(*) FROM {relation}").fetchone()[0]
                o.passed, o.observed = keys == 0, f"{keys:,} duplicated keys"
                if pub:
                    o.examples = [[_fmt(x) for x in r[2:]] if len(pub) > 1 else _fmt(r[2]) for r in rows]
            elif t == "unexpected_rows_expectation":
                q = kw["unexpected_rows_query"].replace("{batch}", relation)
                q = _TABLE_REF.sub(lambda m: table_ref(m.group(1)), q)
                cur = con.execute(f"SELECT count(*) OVER () AS __n, * FROM ({q}) LIMIT {EXAMPLES}")
                names = [d[0] for d in cur.description][1:]
                rows = cur.fetchall()
                n = rows[0][0] if rows else 0
                o.unexpected_count, o.passed, o.observed = n, n == 0, f"{n:,} unexpected rows"
                keep = [i for i, c in enumerate(names) if not PRIVATE_COLUMN.search(c)]
                if keep:
                    o.examples = [{names[i]: _fmt(r[1 + i]) for i in keep} for r in rows]
            else:  # pragma: no cover - load_suite refuses these
                raise SuiteError(f"no DuckDB translation for {t}")
        except duckdb.Error as exc:
            o.passed, o.error = False, str(exc).strip().splitlines()[0][:300]
        out.append(o)
    return out


# --------------------------------------------------------------------------------------------
# GX engine: pandas frame of a reproducible sample, only the columns the expectations name.


def run_gx(con: duckdb.DuckDBPyConnection, expectations: list[dict], relation: str, schema: dict[str, str],
           sample_rows: int, suite_name: str) -> list[Outcome]:
    if not expectations:
        return []
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # slow import (~3 s): only when a suite has GX expectations
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig

    cols = sorted({c for e in expectations for c in _columns_of(e) if c in schema})
    sel = ", ".join(
        f"CAST({_ident(c)} AS DOUBLE) AS {_ident(c)}" if schema[c].startswith("DECIMAL") else _ident(c) for c in cols
    ) or "1 AS __none"
    total = con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
    sample = f" USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE (42)" if total > sample_rows else ""
    frame = con.execute(f"SELECT {sel} FROM {relation}{sample}").df()

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (context.data_sources.add_pandas(f"asm_{uuid.uuid4().hex[:6]}")
             .add_dataframe_asset("sample").add_batch_definition_whole_dataframe("all")
             .get_batch(batch_parameters={"dataframe": frame}))
    gx_suite = ExpectationSuite(name=suite_name, expectations=[
        {k: v for k, v in e.items() if k in ("type", "kwargs", "meta", "severity")} for e in expectations
    ])
    result = batch.validate(gx_suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES})
    by_name = {r.expectation_config.meta.get("name"): r for r in result.results}
    out = []
    for e in expectations:
        name = e["meta"]["name"]
        r = by_name.get(name)
        o = Outcome(name, e["type"], "gx", _severity(e), bool(r and r.success))
        if r is None:
            o.error = "not evaluated"
        elif r.exception_info and r.exception_info.get("raised_exception"):
            o.passed, o.error = False, str(r.exception_info.get("exception_message", "error")).splitlines()[0][:300]
        else:
            res = r.result or {}
            o.unexpected_count = res.get("unexpected_count")
            o.element_count = res.get("element_count")
            if "observed_value" in res:
                o.observed = str(_fmt(res["observed_value"]))[:200]
            elif o.element_count:
                o.observed = f"{res.get('unexpected_percent', 0) or 0:.4f}% unexpected in a sample of {len(frame):,}"
            if not o.passed and _public(_columns_of(e)) == _columns_of(e):
                o.examples = [_fmt(x) for x in (res.get("partial_unexpected_list") or [])[:EXAMPLES]]
        out.append(o)
    return out


# --------------------------------------------------------------------------------------------
# Running a suite against Parquet


def run_suite(asset: str, path: Path, table_path: Callable[[str], Path] | None = None,
              threads: int = 0) -> list[Outcome]:
    """Every expectation of `expectations/<asset>.json` evaluated against the Parquet at `path`.
    `table_path` resolves `{table:<name>}` in SQL expectations (other tables of the same run)."""
    suite = load_suite(asset)
    exps = suite.get("expectations", [])
    if not path.exists():
        return [Outcome("table_exists", "expect_table_to_exist", "duckdb", "ERROR", False, error=f"{path} not found")]
    con = connect(threads)
    try:
        con.execute(sql_text("90_checks/00_check_macros.sql"))
        relation = f"read_parquet({sql_literal(str(path / '*.parquet') if path.is_dir() else str(path))})"
        schema = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}

        def ref(name: str) -> str:
            p = (table_path or (lambda n: path.with_name(f"{n}.parquet")))(name)
            return f"read_parquet({sql_literal(str(p / '*.parquet') if p.is_dir() else str(p))})"

        by_engine = {eng: [e for e in exps if e["meta"]["engine"] == eng] for eng in ENGINES}
        outcomes = run_duckdb(con, by_engine["duckdb"], relation, schema, ref)
        outcomes += run_gx(con, by_engine["gx"], relation, schema,
                           int(suite.get("meta", {}).get("gx_sample_rows", DEFAULT_SAMPLE_ROWS)), suite.get("name", asset))
    finally:
        con.close()
    order = {e["meta"]["name"]: i for i, e in enumerate(exps)}
    return sorted(outcomes, key=lambda o: order.get(o.name, -1))


def summary_line(stage: str, asset: str, check: str, failed: list[Outcome]) -> str:
    shown = "; ".join(o.line() for o in failed[:3]) + (f"; and {len(failed) - 3} more" if len(failed) > 3 else "")
    return f"{stage}: check {asset}/{check} failed: {shown}"


# --------------------------------------------------------------------------------------------
# dq_results: one row per evaluated expectation, one Parquet part per check step and run.

DQ_COLUMNS = ("run_id", "asset", "check_name", "expectation", "type", "engine", "severity", "passed",
              "observed_value", "unexpected_count", "element_count", "evaluated_at")


def dq_results_dir(out_dir: Path) -> Path:
    return Path(out_dir) / "dq_results"


def append_dq_results(out_dir: Path, run_id: str, asset: str, rows: list[tuple[str, Outcome]]) -> Path:
    """Append this step's outcomes to OUT/dq_results/ (outside the warehouse, so failed runs are
    recorded too). Query: SELECT * FROM read_parquet('OUT/dq_results/*.parquet')."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    now = datetime.now(timezone.utc)
    data = {
        "run_id": [run_id] * len(rows), "asset": [asset] * len(rows), "check_name": [c for c, _ in rows],
        "expectation": [o.name for _, o in rows], "type": [o.type for _, o in rows],
        "engine": [o.engine for _, o in rows], "severity": [o.severity for _, o in rows],
        "passed": [o.passed for _, o in rows],
        "observed_value": [o.error or o.observed for _, o in rows],
        "unexpected_count": [o.unexpected_count for _, o in rows],
        "element_count": [o.element_count for _, o in rows],
        "evaluated_at": [now] * len(rows),
    }
    schema = pa.schema([("run_id", pa.string()), ("asset", pa.string()), ("check_name", pa.string()),
                        ("expectation", pa.string()), ("type", pa.string()), ("engine", pa.string()),
                        ("severity", pa.string()), ("passed", pa.bool_()), ("observed_value", pa.string()),
                        ("unexpected_count", pa.int64()), ("element_count", pa.int64()),
                        ("evaluated_at", pa.timestamp("us", tz="UTC"))])
    folder = dq_results_dir(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{now:%Y%m%dT%H%M%S}_{run_id[:8]}_{asset}.parquet"
    tmp = folder / f".{target.name}.tmp"
    pq.write_table(pa.table(data, schema=schema), tmp, compression="zstd")
    os.replace(tmp, target)
    return target


# --------------------------------------------------------------------------------------------
# Dagster


def _result_metadata(stage: str, outcomes: list[Outcome], seconds: float) -> dict:
    from dagster import MetadataValue

    failed = [o for o in outcomes if not o.passed]
    return {
        "stage": stage,
        "expectations": len(outcomes),
        "failed": len(failed),
        "seconds": round(seconds, 3),
        "summary": "; ".join(o.line() for o in failed) or "all passed",
        "failing_expectations": MetadataValue.json([
            {k: v for k, v in asdict(o).items() if v not in (None, "", [])} for o in failed
        ]),
        "engines": MetadataValue.json({e: sum(1 for o in outcomes if o.engine == e) for e in ENGINES}),
    }


def evaluate_asset(asset: str, settings, run_id: str) -> list:
    """Run an asset's suite on this run's Parquet; append dq_results; return the two AssetCheckResults."""
    from dagster import AssetCheckResult, AssetCheckSeverity

    suite = load_suite(asset)
    stage = suite.get("meta", {}).get("stage", asset)
    t0 = time.perf_counter()
    try:
        outcomes = run_suite(asset, settings.read_path(asset), settings.read_path, settings.threads)
    except (SuiteError, duckdb.Error) as exc:
        outcomes = [Outcome("suite", "suite", "duckdb", "ERROR", False, error=str(exc).splitlines()[0][:300])]
    seconds = time.perf_counter() - t0
    errors = [o for o in outcomes if o.severity == "ERROR"]
    warns = [o for o in outcomes if o.severity == "WARN"]
    names = (f"{asset}_expectations", f"{asset}_warnings")
    append_dq_results(settings.out_dir, run_id, asset, [(names[0], o) for o in errors] + [(names[1], o) for o in warns])
    err_md = _result_metadata(stage, errors, seconds)
    failed = [o for o in errors if not o.passed]
    if failed:
        err_md["summary"] = summary_line(stage, asset, names[0], failed)
    return [
        AssetCheckResult(asset_key=asset, check_name=names[0], passed=not failed,
                         severity=AssetCheckSeverity.ERROR, metadata=err_md),
        AssetCheckResult(asset_key=asset, check_name=names[1], passed=all(o.passed for o in warns),
                         severity=AssetCheckSeverity.WARN, metadata=_result_metadata(stage, warns, seconds)),
    ]


def suite_checks(asset_keys: Iterable[str]) -> list:
    """One check step per asset that has `expectations/<asset>.json`: `<asset>_expectations`
    (blocking ERROR: a failure stops every downstream asset of the run) and `<asset>_warnings` (WARN)."""
    from dagster import AssetCheckSpec, multi_asset_check

    have = set(available_suites())
    checks = []
    for asset in asset_keys:
        if asset not in have:
            continue
        suite = load_suite(asset)  # fail at load time, not at 2 a.m.
        desc = suite.get("meta", {}).get("description", f"expectations/{asset}.json")

        def make(asset: str = asset, desc: str = desc):
            @multi_asset_check(
                name=f"{asset}_dq",
                specs=[
                    AssetCheckSpec(f"{asset}_expectations", asset=asset, blocking=True,
                                   description=f"Blocking (ERROR): {desc}"),
                    AssetCheckSpec(f"{asset}_warnings", asset=asset, blocking=False,
                                   description=f"For a human to look at (WARN): {desc}"),
                ],
            )
            def _check(context, asm: AsmResource):
                settings = asm.settings()
                for result in evaluate_asset(asset, settings, context.run.run_id):
                    yield result

            return _check

        checks.append(make())
    return checks


def asset_key_names(assets: Iterable) -> list[str]:
    """Asset names (user strings) of a list of asset definitions, in order."""
    return [k.to_user_string() for a in assets for k in a.keys]
