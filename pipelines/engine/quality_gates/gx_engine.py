"""GX engine: Great Expectations 1.x validates a pandas frame of a repeatable sample of the table,
holding only the columns the expectations name (never private ones: load_suite refuses them)."""
from __future__ import annotations

import os
import threading
import uuid

import duckdb

from pipelines.engine.quality_gates.suites import EXAMPLES, Outcome, columns_of, fmt, public, severity

DEFAULT_SAMPLE_ROWS = 100_000


def _sample_frame(con: duckdb.DuckDBPyConnection, expectations: list[dict], relation: str, schema: dict[str, str],
                  sample_rows: int):
    cols = sorted({c for e in expectations for c in columns_of(e) if c in schema})
    sel = ", ".join(
        f'CAST("{c}" AS DOUBLE) AS "{c}"' if schema[c].startswith("DECIMAL") else f'"{c}"' for c in cols
    ) or "1 AS __none"
    total = con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
    sample = f" USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE (42)" if total > sample_rows else ""
    return con.execute(f"SELECT {sel} FROM {relation}{sample}").df()


def _outcome(e: dict, r, sample_size: int) -> Outcome:
    o = Outcome(e["meta"]["name"], e["type"], "gx", severity(e), bool(r and r.success))
    if r is None:
        o.error = "not evaluated"
    elif r.exception_info and r.exception_info.get("raised_exception"):
        o.passed, o.error = False, str(r.exception_info.get("exception_message", "error")).splitlines()[0][:300]
    else:
        res = r.result or {}
        o.unexpected_count = res.get("unexpected_count")
        o.element_count = res.get("element_count")
        if "observed_value" in res:
            o.observed = str(fmt(res["observed_value"]))[:200]
        elif o.element_count:
            o.observed = f"{res.get('unexpected_percent', 0) or 0:.4f}% unexpected in a sample of {sample_size:,}"
        if not o.passed and public(columns_of(e)) == columns_of(e):
            column = (e.get("kwargs") or {}).get("column")
            o.examples = [fmt(x, column) for x in (res.get("partial_unexpected_list") or [])[:EXAMPLES]]
    return o


def _import_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    try:
        import great_expectations  # noqa: F401
    except Exception:  # noqa: BLE001  the check that needs it imports it again and reports the error there
        pass


def preload() -> threading.Thread:
    """Import Great Expectations in a background thread (issue 20: ~5 s off the run's critical path): the
    first check that needs it finds it imported, or waits for the import already under way (Python's
    import lock) while ingest, which holds no Python lock while DuckDB works, goes on."""
    thread = threading.Thread(target=_import_gx, name="asm-gx-import", daemon=True)
    thread.start()
    return thread


def run_gx(con: duckdb.DuckDBPyConnection, expectations: list[dict], relation: str, schema: dict[str, str],
           sample_rows: int, suite_name: str) -> list[Outcome]:
    if not expectations:
        return []
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # slow import (~3-5 s): only when a suite has GX expectations (see preload)
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig

    frame = _sample_frame(con, expectations, relation, schema, sample_rows)
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
    return [_outcome(e, by_name.get(e["meta"]["name"]), len(frame)) for e in expectations]
