"""Issue 20 item 2, "a night's delivery costs what it touches" (pipelines/engine/ingest/nightly.py): a run that
only adds Part B deliveries re-nets (N4) only the netting groups the new rows touch, including older groups
an N2 re-delivery newly excludes a version of, and keeps every other group's partb_lines row; every table
equals a full rebuild's. Where the last run's state does not hold (a file changed or removed, a new
cross-walk (N1), other standardization factors) the run nets everything and says why."""
from __future__ import annotations

import json
from pathlib import Path

from pipelines.engine.compare import compare_warehouses
from pipelines.engine.ingest import run_ingest
from pipelines.engine.methodology import load_methodology
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import parquet_files
from tests.cclf_builders import partb_line, write_fixed, xref_row

M = load_methodology(2027)
BENE, OTHER = "1AA0AA0AA01", "1AA0AA0AA02"


def _zc5(month: int) -> str:
    return f"P.A1234.ACO.ZC5Y26.D26{month:02d}10.T1200000"


def _line(claim_id: str, ccn: str, day: str, **kw) -> dict:
    return partb_line(CUR_CLM_UNIQ_ID=claim_id, CLM_CNTL_NUM=ccn, CLM_LINE_FROM_DT=day, CLM_LINE_THRU_DT=day,
                      CLM_FROM_DT=day, CLM_THRU_DT=day, **kw)


def _month(m: int, k: int = 5) -> list[dict]:
    """k new lines; from month 2 on, last month's first line re-delivered (N2, same group), a cancel of its
    second (N4) and an adjustment of its third (a new version of the group)."""
    rows = [_line(f"{m:02d}{i:011d}", f"C{m}-{i}", f"2026-{m:02d}-0{1 + i}", BENE_MBI_ID=(BENE, OTHER)[i % 2])
            for i in range(k)]
    if m > 1:
        p = m - 1
        rows += [_line(f"{p:02d}{0:011d}", f"C{p}-0", f"2026-{p:02d}-01", BENE_MBI_ID=BENE),
                 _line(f"9{m:02d}{1:010d}", f"C{p}-1", f"2026-{p:02d}-02", BENE_MBI_ID=OTHER, CLM_ADJSMT_TYPE_CD="1"),
                 _line(f"8{m:02d}{2:010d}", f"C{p}-2", f"2026-{p:02d}-03", BENE_MBI_ID=BENE, CLM_ADJSMT_TYPE_CD="2",
                       CLM_EFCTV_DT=f"2026-{m:02d}-20", CLM_LINE_ALOWD_CHRG_AMT="0000000000200.00")]
    return rows


def _ingest(inp: Path, out: Path, shards: int = 1):
    return run_ingest(RunSettings(input_dir=inp, out_dir=out, quiet=True, shards=shards), M)


def _assert_full_rebuild_equal(inp: Path, out: Path, tmp_path: Path, tag: str) -> None:
    full = tmp_path / f"full-{tag}"
    assert _ingest(inp, full).netting.startswith("netting full: no state")
    diffs = compare_warehouses(out / "warehouse", full / "warehouse")
    assert {d.table for d in diffs} >= {"partb_lines", "ingest_audit", "ingest_files", "line_versions"}
    assert [d.line() for d in diffs if not d.identical] == []


def _three_months(tmp_path: Path) -> tuple[Path, Path]:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for m in (1, 2, 3):
        write_fixed(inp / _zc5(m), "cclf5", _month(m))
    assert _ingest(inp, out).netting == "netting full: no state of an earlier run"
    return inp, out


def test_issue20_an_added_delivery_re_nets_only_the_groups_it_touches(tmp_path):
    inp, out = _three_months(tmp_path)
    write_fixed(inp / _zc5(4), "cclf5", _month(4))
    night = _ingest(inp, out)
    # month 4's 5 new groups and the 3 groups of month 3 it re-delivers, cancels, adjusts; not months 1-2's
    assert night.netting == "netting incremental: 1 new Part B file(s), 8 netting group(s) re-netted"
    _assert_full_rebuild_equal(inp, out, tmp_path, "added")

    again = _ingest(inp, out)  # nothing new: nothing re-netted, the same tables
    assert again.netting == "netting incremental: 0 new Part B file(s), 0 netting group(s) re-netted"
    _assert_full_rebuild_equal(inp, out, tmp_path, "again")


def test_issue20_N2_a_redelivery_under_another_group_changes_the_older_group(tmp_path):
    """N2 keeps the newest copy of a (claim_id, line_number): a new delivery re-sending an old line under
    another claim control number excludes the old version, so the OLD group (netted long ago) loses its
    only version and must leave partb_lines, and a cancelled group comes back with a new adjustment."""
    inp, out = _three_months(tmp_path)
    write_fixed(inp / _zc5(4), "cclf5", [
        _line(f"{1:02d}{0:011d}", "C-MOVED", "2026-01-01", BENE_MBI_ID=BENE),  # month 1's line 0, new CCN
        _line("7700000000001", "C2-1", "2026-02-02", BENE_MBI_ID=OTHER, CLM_ADJSMT_TYPE_CD="2"),  # revives C2-1
    ])
    lines_before = _lines(out)
    night = _ingest(inp, out)
    assert night.netting.startswith("netting incremental: 1 new Part B file(s)")
    lines_after = _lines(out)
    assert ("C1-0", 1) in lines_before and ("C1-0", 1) not in lines_after
    assert ("C-MOVED", 1) in lines_after and ("C2-1", 1) not in lines_before and ("C2-1", 1) in lines_after
    _assert_full_rebuild_equal(inp, out, tmp_path, "n2")


def _lines(out: Path) -> set[tuple[str, int]]:
    import duckdb

    files = parquet_files(out / "warehouse" / "partb_lines.parquet")
    return set(duckdb.connect().execute("SELECT claim_control_number, line_number FROM read_parquet(?)",
                                        [files]).fetchall())


def test_issue20_a_changed_or_removed_file_nets_everything(tmp_path):
    inp, out = _three_months(tmp_path)
    write_fixed(inp / _zc5(2), "cclf5", _month(2, k=7))  # CMS re-sent month 2
    assert _ingest(inp, out).netting == "netting full: 1 Part B file(s) changed, 0 removed since the last run"
    _assert_full_rebuild_equal(inp, out, tmp_path, "changed")

    (inp / _zc5(3)).unlink()
    assert _ingest(inp, out).netting == "netting full: 0 Part B file(s) changed, 1 removed since the last run"
    _assert_full_rebuild_equal(inp, out, tmp_path, "removed")


def test_issue20_N1_a_new_crosswalk_nets_everything(tmp_path):
    """N1: a new CCLF9 maps OTHER to BENE, which merges groups of different files: no group stands."""
    inp, out = _three_months(tmp_path)
    write_fixed(inp / "P.A1234.ACO.ZC9Y26.D260410.T1200000", "cclf9", [xref_row(OTHER, BENE)])
    write_fixed(inp / _zc5(4), "cclf5", _month(4))
    assert _ingest(inp, out).netting == "netting full: crosswalk changed since the last run"
    _assert_full_rebuild_equal(inp, out, tmp_path, "xref")

    write_fixed(inp / _zc5(5), "cclf5", _month(5))  # the same cross-walk again: incremental
    assert _ingest(inp, out).netting.startswith("netting incremental: 1 new Part B file(s)")
    _assert_full_rebuild_equal(inp, out, tmp_path, "xref-then-added")


def test_issue20_other_standardization_factors_net_everything(tmp_path):
    inp, out = _three_months(tmp_path)
    (inp / "standardization_factors.csv").write_text("provider_state,factor\n36,1.1\n")
    assert _ingest(inp, out).netting == "netting full: standardization factors changed since the last run"
    _assert_full_rebuild_equal(inp, out, tmp_path, "factors")


def test_issue20_a_file_sorting_first_shifts_file_ids_and_sharded_equals_unsharded(tmp_path):
    """Source file ids are positions in the input folder: a delivery whose name sorts first shifts every
    other file's (the kept netted-away groups' version keys are re-numbered). A 4-shard nightly run gives
    the rows of a one-file full rebuild."""
    inp, out = _three_months(tmp_path)
    write_fixed(inp / "P.A1234.ACO.ZC5Y25.D251210.T1200000", "cclf5",
                [_line("0300000000001", "C3-1", "2026-03-02", BENE_MBI_ID=OTHER, CLM_ADJSMT_TYPE_CD="1")])
    night = _ingest(inp, out, shards=4)
    assert night.netting.startswith("netting incremental: 1 new Part B file(s)")
    assert len(parquet_files(out / "warehouse" / "partb_lines.parquet")) == 4
    _assert_full_rebuild_equal(inp, out, tmp_path, "shifted")
    state = json.loads(next((out / ".ingest").glob("*/netting/state.json")).read_text())
    assert state["file_ids"][_zc5(1)] == 2  # was 1

    write_fixed(inp / _zc5(4), "cclf5", _month(4))  # 4 shards again: each shard file merged, not re-sorted
    assert _ingest(inp, out, shards=4).netting.startswith("netting incremental: 1 new Part B file(s)")
    assert len(parquet_files(out / "warehouse" / "partb_lines.parquet")) == 4
    _assert_full_rebuild_equal(inp, out, tmp_path, "sharded-merge")


def test_issue20_rewrite_sorted_drops_and_merges_rows_across_row_groups(tmp_path):
    """warehouse.rewrite_sorted (the nightly partb_lines write): rows dropped by position and sorted rows
    merged in before the first, between and after the last of several row groups give exactly the rows,
    in the order, that sorting the result whole gives."""
    import duckdb

    from pipelines.engine.warehouse import rewrite_sorted, write_query

    con = duckdb.connect()
    src = tmp_path / "partb_lines.parquet"
    # keys c000000..c599998 (even numbers), 3 row groups; the added rows take odd numbers and both ends
    write_query(duckdb.connect(), "SELECT printf('c%07d', 2 * i) AS claim_control_number, 1 AS line_number, 'B' AS bene_id, "
                     "i AS payload FROM range(300000) AS t(i)", src)
    added = con.sql("SELECT printf('c%07d', k) AS claim_control_number, 1 AS line_number, 'B' AS bene_id, -k AS payload "
                    "FROM (SELECT unnest([-1, 1, 245761, 300001, 599999, 700000]) AS k) "
                    "ORDER BY claim_control_number").to_arrow_table()
    out = tmp_path / "out" / "partb_lines.parquet"
    drop = [0, 5, 122879, 122880, 299999]
    assert rewrite_sorted(src, drop, added, out) == 300000 - len(drop) + 6
    got = con.execute(f"SELECT * FROM read_parquet('{out}')").fetchall()
    want = con.execute(f"""SELECT * EXCLUDE (file_row_number) FROM read_parquet('{src}', file_row_number = true)
                           WHERE file_row_number NOT IN {tuple(drop)}
                           UNION ALL SELECT * FROM added ORDER BY claim_control_number""").fetchall()
    assert got == want and got[0][0] == "c-000001" and got[-1][0] == "c0700000"
