"""`asm backfill --monthly` without a full run per month (issue 18 item 6; pipelines.engine.replay): the same
history rows as a whole run per month (V1-V4 figures keyed by the data's last service date, E5), a month
whose blocking checks fail refused, OUT/warehouse, OUT/reports and OUT/dq_results not touched, the scratch
folder removed, and a backfill refused while another holds OUT."""
from __future__ import annotations

import shutil
import subprocess
import sys

import polars as pl
import pytest

from pipelines.cli import main
from pipelines.engine.projection.history import HISTORY_COLUMNS, month_subset, move_history, read_history
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import OutFolder
from pipelines.synthetic import generate
from tests.cclf_builders import partb_line, write_fixed

MONTHS = ("2027-09", "2027-10")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 60k-line generated input (seed 3, as tests/report_run.small_run): by September 2027's deliveries
    some participants are scored, with projected figures and bootstrap intervals (V3)."""
    inp = tmp_path_factory.mktemp("backfill") / "in"
    generate(inp, scale=60_000, seed=3)
    return inp


def _full_run_backfill(inp, out, months):
    """The backfill as it was before issue 18: a whole `asm run` (Dagster, every check, reports, publish) per
    month on the files delivered up to its end, its history file moved into `out`."""
    from assets.runner import run_pipeline

    scratch = out / ".full-runs"
    for month in months:
        subset = scratch / f"input-{month}"
        month_subset(inp, month, subset)
        settings = RunSettings(input_dir=subset, out_dir=scratch / "out", threads=2, quiet=True)
        outcome = run_pipeline(settings)
        assert outcome.success, outcome.reason
        move_history(settings.out_dir, out)
    shutil.rmtree(scratch)


def test_V3_backfill_replay_gives_the_history_rows_of_a_full_run_per_month(world, tmp_path, capsys):
    """Every HISTORY_COLUMNS value of every month equals the full-run backfill's (same stage functions on the
    same files); one progress line per month on stderr; nothing but OUT/history written."""
    reference, out = tmp_path / "reference", tmp_path / "out"
    _full_run_backfill(world, reference, MONTHS)
    assert main(["backfill", "--monthly", "--input", str(world), "--out", str(out), "--threads", "2",
                 "--from", MONTHS[0], "--to", MONTHS[-1]]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0].strip() for line in err] == list(MONTHS)  # one line per month
    assert all("claims files" in line and "as_of=" in line for line in err)

    expected, got = read_history(reference), read_history(out)
    assert sorted(p.name for p in OutFolder(out).history_dir.joinpath("projected_scores").iterdir()) == \
        sorted(p.name for p in OutFolder(reference).history_dir.joinpath("projected_scores").iterdir())
    assert expected["as_of"].n_unique() == len(MONTHS)  # one as_of (the data's last service date) per month
    for month_rows in expected.partition_by("as_of"):  # figures and intervals, not only nulls, in each month
        assert month_rows.filter(pl.col("projected_final_score_low").is_not_null()).height > 0
    assert got.select(HISTORY_COLUMNS).equals(expected.select(HISTORY_COLUMNS))
    wh = OutFolder(out)
    assert not any(p.exists() for p in (wh.warehouse_dir, wh.reports_dir, wh.dq_results_dir, wh.backfill_dir,
                                        wh.snapshots_dir, wh.staging_root))


def test_backfill_refuses_the_month_whose_blocking_ingest_check_fails(world, tmp_path, capsys):
    """A ZC5 delivered in October 2027 with rendering NPIs that fail the Luhn check (partb_lines' blocking
    `npi_valid`, DuckDB engine): September is replayed, October refused in one line naming the month, the
    stage and the check, as a run refuses it; no October history, the scratch folder removed."""
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for f in world.iterdir():
        (inp / f.name).symlink_to(f)
    write_fixed(inp / "P.A9999.ACO.ZC5Y27.D271015.T1200000", "cclf5",
                [partb_line(CUR_CLM_UNIQ_ID=f"9{i:012d}", CLM_CNTL_NUM=f"B{i}", RNDRG_PRVDR_NPI_NUM="1234567890",
                            CLM_FROM_DT="2027-09-02", CLM_THRU_DT="2027-09-02", CLM_LINE_FROM_DT="2027-09-02",
                            CLM_LINE_THRU_DT="2027-09-02") for i in range(1, 4)])
    assert main(["backfill", "--monthly", "--input", str(inp), "--out", str(out), "--threads", "2",
                 "--from", "2027-09", "--to", "2027-11", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "backfill 2027-10: ingest: check partb_lines/partb_lines_expectations failed: npi_valid" in err[0]
    assert read_history(out)["as_of"].unique().to_list() == [read_history(out)["as_of"].min()]  # September's only
    assert not OutFolder(out).backfill_dir.exists() and not OutFolder(out).warehouse_dir.exists()


def test_backfill_stops_at_a_missing_month_as_a_run_does_and_accepts_it_when_told(world, tmp_path, capsys):
    """Issue 21 gates in the replay: without September 2027's Part B delivery (ZC5 D2709..), October's subset has
    a gap in its monthly sequence: refused in one line naming the month, as `asm run` refuses it; with
    `--accept-incomplete 2027-09` (asm run's option, one declaration) October is replayed into the history."""
    inp = tmp_path / "in"
    inp.mkdir()
    dropped = [f.name for f in world.iterdir() if ".ZC5Y27.D2709" in f.name]
    assert len(dropped) == 1
    for f in world.iterdir():
        if f.name not in dropped:
            (inp / f.name).symlink_to(f)
    args = ["backfill", "--monthly", "--input", str(inp), "--threads", "2", "--from", "2027-10", "--to", "2027-10",
            "--quiet"]
    assert main([*args, "--out", str(tmp_path / "refused")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("asm: error: backfill 2027-10: ingest: check ingest_files/"), err
    assert "2027-09 missing: no CCLF5 delivery between 2027-08 and 2027-10" in err[0], err[0]
    assert not OutFolder(tmp_path / "refused").history_dir.exists()
    assert main([*args, "--out", str(tmp_path / "accepted"), "--accept-incomplete", "2027-09"]) == 0
    assert read_history(tmp_path / "accepted")["as_of"].n_unique() == 1


def test_backfill_refuses_an_output_folder_another_run_holds_and_leaves_its_scratch(world, tmp_path, capsys):
    """One run per OUT (the backfill writes OUT/history): a held OUT is a one-line refusal, and the holder's
    scratch folder is not removed."""
    out = tmp_path / "out"
    scratch = OutFolder(out).backfill_dir
    scratch.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pipelines.engine.outfolder import OutputLock\n"
         f"with OutputLock({str(out)!r}, 'other-run'):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["backfill", "--monthly", "--input", str(world), "--out", str(out), "--from", "2027-09",
                     "--to", "2027-09", "--quiet"]) == 1
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is in use by run other-run" in err[0]
    assert scratch.is_dir() and not OutFolder(out).history_dir.exists()
