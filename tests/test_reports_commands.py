"""`asm report` regenerates reports from the published tables; `--tin` values are 9-digit TINs of the data;
`asm run --tin` keeps other TINs' rows (keep_other_tins); the projection history (append, replace, months)."""
from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from pipelines.cli import main
from pipelines.engine.projection.history import append_history, delivery_months, month_subset, read_history
from pipelines.engine.scoring.inputs import SideInputError, check_tins, keep_other_tins
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import write_frame
from tests.report_run import demo_run


def test_asm_report_rebuilds_from_published_tables(capsys):
    settings, _ = demo_run()
    index = settings.reports_dir / "index.html"
    before = index.stat().st_mtime_ns
    tin = sorted(p.name for p in settings.reports_dir.iterdir() if p.is_dir())[0]
    tables_before = {p.name: p.stat().st_mtime_ns for p in settings.warehouse_dir.glob("*.parquet")}
    assert main(["report", "--out", str(settings.out_dir), "--tin", tin, "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(index)
    assert index.stat().st_mtime_ns > before
    assert {p.name: p.stat().st_mtime_ns for p in settings.warehouse_dir.glob("*.parquet")} == tables_before
    assert main(["report", "--out", str(settings.out_dir), "--tin", "12345"]) == 1
    assert "--tin 12345: not a 9-digit TIN" in capsys.readouterr().err
    assert main(["report", "--out", str(settings.out_dir), "--tin", "999999999"]) == 1
    err = capsys.readouterr().err
    assert "--tin 999999999: not a TIN of this run (nearest:" in err and len(err.strip().splitlines()) == 1


def test_run_tin_must_be_nine_digits(tmp_path, capsys):
    assert main(["run", "--input", str(tmp_path), "--out", str(tmp_path / "o"), "--tin", "12-3"]) == 1
    assert "--tin 12-3: not a 9-digit TIN" in capsys.readouterr().err


def test_run_tin_must_bill_in_the_data():
    settings, _ = demo_run()
    tins = sorted(pl.read_parquet(settings.warehouse_dir / "partb_lines.parquet", columns=["tin"])["tin"].unique())
    ok = RunSettings(input_dir=settings.input_dir, out_dir=settings.out_dir, tins=(tins[0],))
    check_tins(ok)
    with pytest.raises(SideInputError, match=r"--tin 000000001: no Part B line .* \(nearest: "):
        check_tins(RunSettings(input_dir=settings.input_dir, out_dir=settings.out_dir, tins=("000000001",)))


def test_keep_other_tins_leaves_published_rows_of_other_tins(tmp_path):
    settings = RunSettings(input_dir=tmp_path, out_dir=tmp_path, tins=("111111111",))
    write_frame(pl.DataFrame({"tin": ["111111111", "222222222"], "v": [1, 2]}), settings.warehouse.published_path("t"))
    partb = pl.DataFrame({"tin": ["111111111", "222222222"], "service_date": [date(2027, 1, 1)] * 2})
    write_frame(partb, settings.warehouse.published_path("partb_lines"))
    out = keep_other_tins({"t": pl.DataFrame({"tin": ["111111111", "222222222"], "v": [10, 20]}),
                           "no_tin": pl.DataFrame({"x": [1]})}, settings)
    assert sorted(out["t"].iter_rows()) == [("111111111", 10), ("222222222", 2)]
    assert out["no_tin"].height == 1


def _projected(tin: str, as_of: date, score: float) -> pl.DataFrame:
    from pipelines.engine.projection.history import HISTORY_COLUMNS

    row = {c: None for c in HISTORY_COLUMNS if c != "as_of"}
    row.update(performance_year=2027, cohort="HF", tin=tin, npi="1000000004", projected_final_score=score)
    return pl.DataFrame([{**row, "data_last_service_date": as_of}], infer_schema_length=None)


def test_history_appends_by_last_service_date_and_replaces_the_same_date(tmp_path):
    d1, d2 = date(2027, 3, 31), date(2027, 4, 30)
    append_history(tmp_path, pl.concat([_projected("111111111", d1, 50.0), _projected("222222222", d1, 60.0)]))
    append_history(tmp_path, _projected("111111111", d2, 55.0))
    # a --tin run on data with the same last date replaces only that TIN's row of that date
    append_history(tmp_path, pl.concat([_projected("111111111", d1, 51.0), _projected("222222222", d1, 99.0)]),
                   tins=("111111111",))
    h = read_history(tmp_path)
    assert h.select("as_of", "tin", "projected_final_score").rows() == [
        (d1, "111111111", 51.0), (d1, "222222222", 60.0), (d2, "111111111", 55.0)]
    assert read_history(tmp_path, "222222222").height == 1


def test_backfill_months_are_subsets_of_the_input_by_delivery_date(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    for d in ("D261210", "D270110", "D270210"):
        (inp / f"P.A1.ACO.ZC5Y27.{d}.T1200000").write_text("x")
    (inp / "practice_attestations.csv").write_text("x")
    (inp / "notes.txt").write_text("x")
    assert delivery_months(inp) == ["2026-12", "2027-01", "2027-02"]
    assert delivery_months(inp, "2027-01") == ["2027-01", "2027-02"]
    assert month_subset(inp, "2027-01", tmp_path / "s") == 2
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "P.A1.ACO.ZC5Y27.D261210.T1200000", "P.A1.ACO.ZC5Y27.D270110.T1200000", "practice_attestations.csv"]


def test_asm_run_tin_replaces_that_tins_rows_and_folder_and_keeps_the_others(tmp_path, capsys):
    """asm run --tin T on an output folder of a full run: T's folder is rebuilt; every other TIN's folder is
    untouched and every other TIN's participant rows are still published; a 9-digit TIN absent from the
    data is a one-line error."""
    import shutil

    settings, _ = demo_run()
    out = tmp_path / "out"
    shutil.copytree(settings.out_dir, out, ignore=shutil.ignore_patterns(".staging", ".tmp"))
    folders = sorted(p.name for p in (out / "reports").iterdir() if p.is_dir())
    tin, other = folders[0], folders[-1]
    other_mtime = (out / "reports" / other / "scorecard.html").stat().st_mtime_ns
    before = pl.read_parquet(out / "warehouse" / "participant_scores.parquet").sort("tin", "npi", "cohort")
    (out / "reports" / tin / "scorecard.html").write_text("stale")
    assert main(["run", "--input", str(settings.input_dir), "--out", str(out), "--tin", tin, "--quiet"]) == 0
    capsys.readouterr()
    after = pl.read_parquet(out / "warehouse" / "participant_scores.parquet").sort("tin", "npi", "cohort")
    assert after.select("tin", "npi", "cohort").equals(before.select("tin", "npi", "cohort"))
    assert sorted(p.name for p in (out / "reports").iterdir() if p.is_dir()) == folders
    assert (out / "reports" / tin / "scorecard.html").read_text() != "stale"
    assert (out / "reports" / other / "scorecard.html").stat().st_mtime_ns == other_mtime
    # benchmarks use every TIN, whatever --tin selects (equal up to float summation order)
    from polars.testing import assert_frame_equal
    assert_frame_equal(pl.read_parquet(out / "warehouse" / "cost_benchmarks.parquet"),
                       pl.read_parquet(settings.warehouse_dir / "cost_benchmarks.parquet"), rel_tol=1e-9)
    absent = next(f"{int(tin) + k:09d}" for k in range(1, 1000) if f"{int(tin) + k:09d}" not in folders
                  and f"{int(tin) + k:09d}" not in set(before["tin"]))
    assert main(["run", "--input", str(settings.input_dir), "--out", str(out), "--tin", absent, "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--tin {absent}: no Part B line of the data is billed under this TIN" in err[0]


def test_scorecards_drawn_in_a_process_pool_equal_those_drawn_in_process(tmp_path, monkeypatch):
    """Many scorecards are drawn by --threads processes (pipelines.engine.reports.build): each worker reads the
    tables itself, the page header comes from the caller, so every HTML and CSV file is the same either way
    (the workbooks carry their own creation time)."""
    from dataclasses import replace

    import pipelines.engine.reports.build as build
    from pipelines.engine.methodology import load_methodology

    settings, _ = demo_run()
    m = load_methodology(settings.performance_year)
    tins = sorted(p.name for p in settings.reports_dir.iterdir() if p.is_dir())[:4]
    two = replace(settings, threads=2)
    many = build.MIN_CLINICIANS_FOR_POOL
    assert build.scorecard_workers(two, 4, many - 1) == 1  # little to draw: no pool
    assert build.scorecard_workers(two, 1, many) == 1  # one scorecard is drawn by one process
    assert build.scorecard_workers(two, 4, many) == 2 and build.scorecard_workers(replace(settings, threads=1), 4, many) == 1
    # chunks of about equal clinicians, largest TIN first, each in TIN order
    assert build.chunks({"a": 5, "b": 1, "c": 3, "d": 2}, 2) == [["a", "b"], ["c", "d"]]
    monkeypatch.setattr(build, "MIN_CLINICIANS_FOR_POOL", 1)  # these four TINs in two processes
    one, pool = tmp_path / "one", tmp_path / "pool"
    build.build_reports(replace(settings, threads=1), m, one, tins)
    build.build_reports(replace(settings, threads=2), m, pool, tins)

    def files(root):
        return {p.relative_to(root): p for p in root.rglob("*") if p.suffix in (".html", ".csv")}

    assert set(files(one)) == set(files(pool)) and len([p for p in files(one) if p.name == "scorecard.html"]) == 4
    for rel, p in files(one).items():
        mine, theirs = p.read_text().splitlines(), files(pool)[rel].read_text().splitlines()
        strip = [x for x in mine if not x.startswith("generated ")], [x for x in theirs if not x.startswith("generated ")]
        assert strip[0] == strip[1], rel


def test_asm_report_writes_through_the_published_link_and_takes_the_lock(tmp_path, capsys):
    """Issue 21 (item 3): `asm report` takes OUT's run lock (refused, one line, nothing written, while another
    process holds it) and writes into the published snapshot's reports folder: OUT/reports stays the link a
    publish switches, never a real folder a later run would have to adopt."""
    import shutil
    import subprocess
    import sys

    settings, _ = demo_run()
    out = tmp_path / "out"
    shutil.copytree(settings.out_dir, out, symlinks=True)  # the shared run's folder stays as the run left it
    link = out / "reports"
    assert link.is_symlink()
    target = link.resolve()
    tin = sorted(p.name for p in link.iterdir() if p.is_dir())[0]
    assert main(["report", "--out", str(out), "--tin", tin, "--quiet"]) == 0
    capsys.readouterr()
    assert link.is_symlink() and link.resolve() == target and (target / tin / "scorecard.html").is_file()
    hold = subprocess.Popen([sys.executable, "-c", "import sys, time; from pipelines.engine.outfolder import OutputLock; "
                             "OutputLock(sys.argv[1], 'run-A').__enter__(); print('locked', flush=True); time.sleep(60)",
                             str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert hold.stdout.readline().strip() == "locked"
        index = target / "index.html"
        before = index.stat().st_mtime_ns
        assert main(["report", "--out", str(out), "--tin", tin, "--quiet"]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "is in use by run run-A" in err
        assert index.stat().st_mtime_ns == before and link.is_symlink()
    finally:
        hold.kill()
        hold.wait()
