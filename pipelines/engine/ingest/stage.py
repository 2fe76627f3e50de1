"""Ingest stage: claims files -> typed Parquet tables, with every input row accounted for.

Each claims file is staged once into typed Parquet (`staging.py`, cached by name and SHA-256 in
OUT/.ingest/: `cache.py`); rules N1-N6 then run over the staged files in the order of
`sql/10_ingest/manifest.toml`, with N1's cross-walk resolution in `crosswalk.py`. This module supplies
the manifest's Python steps (hooks): staging, the cross-walk, the N5 factors, the quarantine-rate
refusal. Reconciliation per file: rows read = rows loaded + rows excluded (ingest_audit) + quarantined.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from pipelines.engine.duck import connect, fetch_dicts
from pipelines.engine.ingest import crosswalk
from pipelines.engine.ingest.cache import StagedFile, StagingCache
from pipelines.engine.ingest.files import InputFile, InputFileError, discover
from pipelines.engine.ingest.nightly import NightlyNetting
from pipelines.engine.ingest.staging import (CLAIM_KINDS, create_input_files, create_stage_views,
                                      publish_staged_versions, stage_file)
from pipelines.engine.methodology import Methodology
from pipelines.engine.provenance import file_sha256, run_input_hashes
from pipelines.engine.settings import RunSettings
from pipelines.engine.shards import INGEST_SHARDED
from pipelines.engine.sqlstage import load_manifest, run_manifest
from pipelines.engine.warehouse import parquet_files

SQL_FOLDER = "10_ingest"
PART_B_KINDS = ("cclf5", "rif_carrier")
INGEST_TABLES = tuple(load_manifest(SQL_FOLDER).written)


class QuarantineRateExceeded(Exception):
    """A file quarantined more rows than the configured rate allows. str() is the user message."""


@dataclass
class IngestResult:
    row_counts: dict[str, int]
    files: list[dict]
    seconds: float
    ignored: dict[str, str] = field(default_factory=dict)  # file name -> why it is not read
    step_seconds: dict[str, float] = field(default_factory=dict)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    audit_rules: dict[str, int] = field(default_factory=dict)
    cost_basis: dict[str, int] = field(default_factory=dict)  # N5 label -> lines
    staged_files: int = 0  # claims files staged (read now or taken from the staging cache)
    restaged_files: int = 0  # of which read in this run
    netting: str = ""  # how Part B was netted: incremental (what it re-netted) or full (why): nightly.py

    @property
    def totals(self) -> dict[str, int]:
        keys = ("rows_read", "rows_loaded", "rows_excluded", "rows_quarantined")
        return {k: sum(f[k] for f in self.files) for k in keys}

    @property
    def unreconciled(self) -> list[str]:
        return [f["source_file"] for f in self.files if not f["reconciled"]]


# --------------------------------------------------------------------------------------------
# Hook "stage_files": every claims file staged once (or taken from the cache), views over them


def stage_files(con: duckdb.DuckDBPyConnection, files: list[InputFile], cache: StagingCache,
                settings: RunSettings) -> dict[int, StagedFile]:
    claims = [f for f in files if f.kind in CLAIM_KINDS]
    total_bytes = sum(f.path.stat().st_size for f in claims)
    settings.progress(f"ingest: {len(claims)} claims files, {total_bytes / 1e6:,.1f} MB")
    staged: dict[int, StagedFile] = {}
    hashed = run_input_hashes(settings.input_dir, settings.staging_dir)  # hashed once, when the run started
    for i, f in enumerate(claims, start=1):
        t0 = time.perf_counter()
        sha = hashed.get(f.path.resolve()) or file_sha256(f.path)
        entry = cache.lookup(f, sha)
        how = "cached"
        if entry is None:
            entry = stage_file(con, f, sha, *cache.paths_for(f, sha))
            cache.store(entry)
            how = f"{entry.rows_read:,} rows"
        staged[f.file_id] = entry
        settings.progress(f"ingest: [{i}/{len(claims)}] {f.name} ({f.kind}, {f.fmt}) {how} "
                          f"{time.perf_counter() - t0:.1f}s")
    create_input_files(con, files, staged)
    create_stage_views(con, staged)
    return staged


# --------------------------------------------------------------------------------------------
# Hooks "resolve_crosswalk" (N1), "standardization_factors" (N5), "quarantine_rate"


def resolve_crosswalk(con: duckdb.DuckDBPyConnection) -> None:
    """N1: the latest CCLF9 delivery, resolved; rows of older deliveries are audited (N1)."""
    latest = con.execute("SELECT max(delivery_date) FROM stage_cclf9 WHERE quarantine_reason IS NULL").fetchone()[0]
    rows = con.execute(
        """SELECT previous_bene_id, current_bene_id, previous_effective_date FROM stage_cclf9
           WHERE quarantine_reason IS NULL AND delivery_date IS NOT DISTINCT FROM ?""",
        [latest],
    ).fetchall()
    resolved = crosswalk.resolve(crosswalk.choose_edges(rows))
    table = pa.table({
        "previous_bene_id": pa.array(list(resolved.keys()), pa.string()),
        "current_bene_id": pa.array(list(resolved.values()), pa.string()),
    })
    con.register("_bene_xref_arrow", table)
    con.execute("CREATE TABLE bene_xref AS SELECT * FROM _bene_xref_arrow")
    con.unregister("_bene_xref_arrow")
    con.execute(
        """CREATE TABLE xref_versions AS
           SELECT *, CASE WHEN delivery_date IS DISTINCT FROM ? THEN 'N1' END AS rule
           FROM stage_cclf9 WHERE quarantine_reason IS NULL""",
        [latest],
    )


def load_standardization_factors(con: duckdb.DuckDBPyConnection, files: list[InputFile]) -> None:
    """N5: optional standardization_factors.csv (provider_state, factor); empty when absent."""
    f = next((x for x in files if x.kind == "standardization_factors"), None)
    if f is None:
        con.execute("CREATE TABLE standardization_factors (provider_state VARCHAR, factor DOUBLE)")
        return
    try:
        con.execute(
            "CREATE TABLE standardization_factors AS SELECT CAST(provider_state AS VARCHAR) AS provider_state, "
            "CAST(factor AS DOUBLE) AS factor FROM read_csv(?, header = true, all_varchar = true)",
            [str(f.path)],
        )
    except duckdb.OutOfMemoryException:  # the run's memory budget, not the file (pipelines.engine.errors)
        raise
    except duckdb.Error as exc:
        raise InputFileError(f.path, "expected CSV with columns provider_state,factor: "
                             + str(exc).splitlines()[0]) from None


def check_quarantine_rate(con: duckdb.DuckDBPyConnection, max_rate: float) -> None:
    """data-contracts "Bad input": refuse to continue past the quarantine rate, naming the file and
    its first bad rows (line numbers and reasons, never the rows' content)."""
    for row in fetch_dicts(con, "SELECT * FROM file_stats ORDER BY source_file"):
        if row["rows_read"] and row["rows_quarantined"] / row["rows_read"] > max_rate:
            first = con.execute(
                "SELECT source_row, reason FROM quarantine_rows WHERE source_file = ? ORDER BY source_row LIMIT 5",
                [row["source_file"]],
            ).fetchall()
            shown = "; ".join(f"row {r}: {reason}" for r, reason in first)
            raise QuarantineRateExceeded(
                f"{row['source_file']}: {row['rows_quarantined']:,} of {row['rows_read']:,} rows quarantined "
                f"({row['rows_quarantined'] / row['rows_read']:.1%} > {max_rate:.1%} allowed); first: {shown}"
            )


# --------------------------------------------------------------------------------------------
# The stage


def run_ingest(settings: RunSettings, methodology: Methodology) -> IngestResult:
    started = time.perf_counter()
    files = discover(settings.input_dir)
    if not any(f.kind in PART_B_KINDS for f in files):
        raise InputFileError(settings.input_dir,
                             "no Part B claims files found (expected …ZC5… CCLF5 or carrier*.csv/txt RIF files)")
    cache = StagingCache(settings.warehouse.staging_cache_dir)
    nightly = NightlyNetting(cache.dir, methodology.fingerprint)
    con = connect(settings.threads, settings.memory_limit, settings.temp_dir)
    staged_by_id: dict[int, StagedFile] = {}
    shards = lambda t: settings.shards if t in INGEST_SHARDED else 1  # noqa: E731
    try:
        hooks = {
            "stage_files": lambda: staged_by_id.update(stage_files(con, files, cache, settings)),
            "resolve_crosswalk": lambda: resolve_crosswalk(con),
            "standardization_factors": lambda: load_standardization_factors(con, files),
            "quarantine_rate": lambda: check_quarantine_rate(con, methodology.ingest.quarantine_max_rate),
            "line_versions": lambda: publish_staged_versions(staged_by_id, settings.table_path("line_versions")),
            "net_partb": lambda: nightly.net(con, staged_by_id),
            "write_partb_lines": lambda: nightly.write_lines(con, values, settings.table_path("partb_lines"),
                                                             shards("partb_lines")),
        }
        i = methodology.ingest
        values = {"default_factor": i.default_standardization_factor,
                  "delivery_check_min_lines": i.delivery_check_min_lines,
                  "delivery_max_negative_allowed_share": i.delivery_max_negative_allowed_share,
                  "delivery_max_amount_ratio": i.delivery_max_amount_ratio,
                  # issue 21: the absolute amount gate and the completeness gates (31_file_stats), and what the
                  # run was told to accept (--accept-amounts, --accept-incomplete)
                  "em_allowed_codes": list(i.em_allowed_codes), "em_allowed_band": list(i.em_allowed_band),
                  "em_check_min_lines": i.em_check_min_lines, "incomplete_min_share": i.incomplete_min_share,
                  "incomplete_min_neighbour_lines": i.incomplete_min_neighbour_lines,
                  "accept_incomplete": [a.strip() for a in settings.accept_incomplete if a.strip()],
                  "accept_amounts": settings.accept_amounts}
        run = run_manifest(con, load_manifest(SQL_FOLDER), values, write_path=settings.table_path, hooks=hooks,
                           shards=shards, progress=settings.progress)
        settings.progress(f"ingest: {nightly.plan.line()}")
        nightly.save(con, staged_by_id, settings.table_path("partb_lines"))
        return IngestResult(
            row_counts=run.rows,
            files=fetch_dicts(con, "SELECT * FROM file_stats ORDER BY source_file"),
            seconds=time.perf_counter() - started,
            ignored={f.name: f.note for f in files if f.kind == "ignored"},
            step_seconds=run.seconds,
            quarantine_reasons=dict(con.execute(
                "SELECT reason, count(*) FROM quarantine_rows GROUP BY ALL ORDER BY 1").fetchall()),
            audit_rules=dict(con.execute(
                "SELECT rule, count(*) FROM ingest_audit_rows GROUP BY ALL ORDER BY 1").fetchall()),
            cost_basis=dict(con.execute(
                "SELECT cost_basis, count(*) FROM read_parquet(?) GROUP BY ALL ORDER BY 1",
                [parquet_files(settings.table_path("partb_lines"))]).fetchall()),
            staged_files=len(staged_by_id), restaged_files=cache.restaged, netting=nightly.plan.line(),
        )
    finally:
        con.close()
        if staged_by_id:
            cache.keep_only(list(staged_by_id.values()))
