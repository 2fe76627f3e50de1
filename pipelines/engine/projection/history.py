"""The trend during the PY: every run appends its participants' projected scores, keyed by the data's
last service date (E5), to OUT/history/projected_scores/as_of=<date>.parquet. The history lives outside
the run's snapshot (OUT/warehouse), so it survives runs; a later run on data with the same last service
date replaces that date's rows (a `--tin` run only its TINs' rows). `asm backfill --monthly` fills it by
replaying the deliveries month by month. No beneficiary ids (participant-level rows only)."""
from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.engine.warehouse import OutFolder, read_frame, write_frame

HISTORY_COLUMNS = [
    "as_of", "performance_year", "cohort", "tin", "npi", "status", "lead", "episodes", "peer_pool_size",
    "in_year", "closed_episodes", "expected_episodes", "case_status", "projected_status",
    "measure_score", "measure_score_low", "measure_score_high",
    "pool_cost_points", "pool_cost_points_low", "pool_cost_points_high",
    "pool_final_score", "pool_final_score_low", "pool_final_score_high",
    "projected_cost_points", "projected_cost_points_low", "projected_cost_points_high",
    "projected_final_score", "projected_final_score_low", "projected_final_score_high",
    "projected_factor", "projected_factor_low", "projected_factor_high",
    "pool_factor", "pool_dollar_impact", "projected_dollar_impact", "projected_dollar_impact_low",
    "projected_dollar_impact_high",
]


def history_dir(out_dir: Path) -> Path:
    return OutFolder(Path(out_dir)).history_dir / "projected_scores"


def append_history(out_dir: Path, projected: pl.DataFrame, tins: tuple[str, ...] = ()) -> Path | None:
    """Write this run's rows under its data's last service date; rows of other TINs already stored for that
    date stay when the run was restricted to `tins`. Returns the file written (None: nothing to write)."""
    if projected.height == 0:
        return None
    as_of = projected["data_last_service_date"].drop_nulls().max()
    if as_of is None:
        return None
    rows = projected.with_columns(pl.col("data_last_service_date").alias("as_of")).select(HISTORY_COLUMNS)
    if tins:
        rows = rows.filter(pl.col("tin").is_in(list(tins)))
    path = history_dir(out_dir) / f"as_of={as_of.isoformat()}.parquet"
    if tins and path.exists():
        kept = read_frame(path).filter(~pl.col("tin").is_in(list(tins)))
        rows = pl.concat([kept, rows], how="diagonal_relaxed")
    write_frame(rows.sort("tin", "npi", "cohort"), path)
    return path


def read_history(out_dir: Path, tin: str | None = None) -> pl.DataFrame:
    """Every stored date's rows (of one TIN when given), oldest first; empty when there is no history."""
    files = sorted(history_dir(out_dir).glob("as_of=*.parquet"))
    if not files:
        return pl.DataFrame(schema={c: (pl.Date if c == "as_of" else pl.Utf8) for c in ("as_of", "tin", "npi", "cohort")})
    frame = pl.concat([read_frame(f) for f in files], how="diagonal_relaxed")
    if tin is not None:
        frame = frame.filter(pl.col("tin") == tin)
    return frame.sort("as_of", "tin", "npi", "cohort")


def delivery_months(input_dir: Path, first: str | None = None, last: str | None = None) -> list[str]:
    """'YYYY-MM' of every delivery month of the input folder's claims files (CMS names: .Dyymmdd.), within
    [first, last] when given, oldest first."""
    from pipelines.engine.ingest.files import discover

    months = sorted({f"{f.delivery_date:%Y-%m}" for f in discover(Path(input_dir))
                     if f.delivery_date is not None and f.kind != "ignored"})
    return [mo for mo in months if (first is None or mo >= first) and (last is None or mo <= last)]


def month_subset(input_dir: Path, month: str, target: Path) -> int:
    """Fill `target` with links to the input files delivered up to the end of `month` (and every side file,
    which carries no delivery date). Returns how many claims files it holds."""
    from pipelines.engine.ingest.files import discover

    target.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in discover(Path(input_dir)):
        if f.kind == "ignored" or (f.delivery_date is not None and f"{f.delivery_date:%Y-%m}" > month):
            continue
        (target / f.name).symlink_to(f.path.resolve())
        n += f.delivery_date is not None
    return n


def move_history(src_out: Path, dst_out: Path) -> list[Path]:
    """Carry the history files a scratch run wrote into the real output folder (same date replaces)."""
    written = []
    for f in sorted(history_dir(src_out).glob("as_of=*.parquet")):
        dst = history_dir(dst_out) / f.name
        write_frame(read_frame(f), dst)
        f.unlink()
        written.append(dst)
    return written
