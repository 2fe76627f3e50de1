"""Issue 11 item 4: incremental nightly runs. Each claims file is staged once, keyed by name and
SHA-256 (pipelines/engine/ingest/cache.py); a night that adds a delivery reads only that file, a changed file
is read again, a removed file's rows are gone, and every table equals a full rebuild's."""
from __future__ import annotations

from pathlib import Path

from pipelines.engine.compare import compare_warehouses
from pipelines.engine.ingest import run_ingest
from pipelines.engine.methodology import load_methodology
from pipelines.engine.settings import RunSettings
from tests.cclf_builders import partb_line, write_fixed

M = load_methodology(2027)


def _month(n: int) -> str:
    return f"P.A1234.ACO.ZC5Y26.D26{n:02d}10.T1200000"


def _line(claim_id: str, ccn: str, day: str, **kw) -> dict:
    return partb_line(CUR_CLM_UNIQ_ID=claim_id, CLM_CNTL_NUM=ccn, CLM_LINE_FROM_DT=day, CLM_LINE_THRU_DT=day,
                      CLM_FROM_DT=day, CLM_THRU_DT=day, **kw)


def _lines(month: int, k: int = 6) -> list[dict]:
    # new lines; from month 2 on, a line of last month re-delivered (N2) and a cancel of another (N4)
    rows = [_line(f"{month:02d}{i:011d}", f"C{month}-{i}", f"2026-{month:02d}-0{1 + i}") for i in range(k)]
    if month > 1:
        rows.append(_line(f"{month - 1:02d}{0:011d}", f"C{month - 1}-0", f"2026-{month - 1:02d}-01"))
        rows.append(_line(f"9{month:02d}{1:010d}", f"C{month - 1}-1", f"2026-{month - 1:02d}-02",
                          CLM_ADJSMT_TYPE_CD="1"))
    return rows


def _ingest(inp: Path, out: Path):
    return run_ingest(RunSettings(input_dir=inp, out_dir=out, quiet=True), M)


def _same_as_full_rebuild(inp: Path, nightly_out: Path, tmp_path: Path, tag: str) -> None:
    full = tmp_path / f"full_{tag}"
    _ingest(inp, full)
    diffs = compare_warehouses(nightly_out / "warehouse", full / "warehouse")
    assert [d.line() for d in diffs if not d.same_rows] == []
    assert {d.table for d in diffs} >= {"partb_lines", "ingest_audit", "ingest_files", "line_versions"}


def test_nightly_run_reads_only_the_new_delivery_and_equals_a_full_rebuild(tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for m in (1, 2, 3):
        write_fixed(inp / _month(m), "cclf5", _lines(m))
    first = _ingest(inp, out)
    assert (first.staged_files, first.restaged_files) == (3, 3)

    write_fixed(inp / _month(4), "cclf5", _lines(4))  # the night's new delivery
    night = _ingest(inp, out)
    assert (night.staged_files, night.restaged_files) == (4, 1)
    _same_as_full_rebuild(inp, out, tmp_path, "added")

    unchanged = _ingest(inp, out)
    assert unchanged.restaged_files == 0


def test_a_changed_old_file_is_read_again_and_a_removed_one_is_dropped(tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for m in (1, 2, 3):
        write_fixed(inp / _month(m), "cclf5", _lines(m))
    _ingest(inp, out)
    staged_before = sorted((out / ".ingest").rglob("*-cclf5.parquet"))

    write_fixed(inp / _month(2), "cclf5", _lines(2, k=9))  # CMS re-sent month 2 with more lines
    changed = _ingest(inp, out)
    assert changed.restaged_files == 1
    _same_as_full_rebuild(inp, out, tmp_path, "changed")

    (inp / _month(3)).unlink()
    removed = _ingest(inp, out)
    assert (removed.staged_files, removed.restaged_files) == (2, 0)
    assert len(sorted((out / ".ingest").rglob("*-cclf5.parquet"))) == 2  # staged rows of gone files are deleted
    assert len(staged_before) == 3
    _same_as_full_rebuild(inp, out, tmp_path, "removed")
