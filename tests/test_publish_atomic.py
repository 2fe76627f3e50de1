"""Atomic publish (issue 13 item 5): a run is published as a whole snapshot and OUT/current switches to
it in one rename; a crash or kill -9 at any step of publish leaves either the old set or the new one
under OUT/warehouse and OUT/reports, never a mix."""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

from pipelines.engine import snapshots as snap_module
from pipelines.engine import warehouse as wh_module
from pipelines.engine.outfolder import clean_leftovers
from pipelines.engine.snapshots import ensure_layout, publish_run
from pipelines.engine.warehouse import OutFolder

REPO = Path(__file__).resolve().parents[1]
PUBLISH_STEPS = ("built", "sealed", "switched", "linked")
ADOPTION_STEPS = ("adopted", "adopted-current", "adopted-warehouse", "adopted-reports")


def _stage(out: Path, run: str, tables: dict[str, int], report: str) -> None:
    """A run's staged outputs: one-column tables holding `value`, and reports/summary.html."""
    staging = out / ".staging" / run
    (staging / "reports").mkdir(parents=True)
    for name, value in tables.items():
        pl.DataFrame({"value": [value]}).write_parquet(staging / f"{name}.parquet")
    (staging / "reports" / "summary.html").write_text(report)


def _published(out: Path) -> dict[str, bytes]:
    """What a reader of OUT/warehouse and OUT/reports sees."""
    seen = {}
    for part in ("warehouse", "reports"):
        folder = out / part
        if folder.is_dir():
            seen |= {f"{part}/{p.name}": p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    return seen


def _old_set(out: Path) -> dict[str, bytes]:
    _stage(out, "run-old", {"a": 1, "b": 1}, "old report")
    publish_run(OutFolder(out, "run-old"))
    return _published(out)


def test_publish_makes_a_whole_snapshot_keeps_the_previous_and_links_through_current(tmp_path):
    out = tmp_path / "out"
    old = _old_set(out)
    assert set(old) == {"warehouse/a.parquet", "warehouse/b.parquet", "reports/summary.html"}
    # a run of part of the graph writes only `a`: `b` is carried over into the new snapshot (hard link)
    _stage(out, "run-new", {"a": 2}, "new report")
    done = publish_run(OutFolder(out, "run-new"))
    assert done.tables == ["a"] and done.kept == ["b"] and done.reports
    assert os.readlink(out / "current") == "snapshots/run-new"
    assert os.readlink(out / "warehouse") == "current/warehouse" and os.readlink(out / "reports") == "current/reports"
    assert pl.read_parquet(out / "warehouse" / "a.parquet")["value"].to_list() == [2]
    assert (out / "warehouse" / "b.parquet").read_bytes() == old["warehouse/b.parquet"]
    assert (out / "snapshots" / "run-old" / "warehouse" / "a.parquet").read_bytes() == old["warehouse/a.parquet"]
    assert not (out / ".staging").exists()
    # keep_snapshots=2: a third publish removes the oldest, never the current one
    _stage(out, "run-third", {"a": 3}, "third")
    publish_run(OutFolder(out, "run-third"), keep_snapshots=2)
    assert sorted(p.name for p in (out / "snapshots").iterdir()) == ["run-new", "run-third"]


def test_publish_across_file_systems_copies_before_the_switch(tmp_path, monkeypatch):
    """The failure seen in the field: staging and warehouse on different file systems (EXDEV). The
    snapshot is copied whole under a hidden name first; the switch is still one rename."""
    out = tmp_path / "out"
    _old_set(out)
    _stage(out, "run-new", {"a": 2, "b": 2}, "new")
    rename = os.rename

    def cross_device(src, dst):
        if ".staging" in str(src):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return rename(src, dst)

    monkeypatch.setattr(wh_module.os, "rename", cross_device)
    publish_run(OutFolder(out, "run-new"))
    assert pl.read_parquet(out / "warehouse" / "b.parquet")["value"].to_list() == [2]
    assert (out / "reports" / "summary.html").read_text() == "new"


DRIVER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pipelines.engine import snapshots, warehouse
    out, stop_at, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

    def pause(step):
        if step == stop_at:
            (out.parent / "paused").write_text(step)
            time.sleep(120)

    snapshots._checkpoint = pause
    if mode == "publish":
        snapshots.publish_run(warehouse.OutFolder(out, "run-new"))
    else:
        snapshots.ensure_layout(out)
""")


def _kill_at(out: Path, step: str, mode: str) -> None:
    """Run publish (or the adoption of an older layout) in a child process that pauses at `step`;
    kill -9 it there."""
    marker = out.parent / "paused"
    marker.unlink(missing_ok=True)
    child = subprocess.Popen([sys.executable, "-c", DRIVER, str(out), step, mode], cwd=REPO)
    deadline = time.time() + 60
    while not marker.exists():
        assert child.poll() is None, f"publish ended before reaching {step}"
        assert time.time() < deadline, f"publish never reached {step}"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


@pytest.mark.parametrize("step", PUBLISH_STEPS)
def test_kill_9_inside_publish_leaves_the_old_set_or_the_new_one(tmp_path, step):
    out = tmp_path / "out"
    old = _old_set(out)
    _stage(out, "run-new", {"a": 2, "b": 2, "c": 2}, "new report")
    new_staged = {f"warehouse/{n}.parquet": (out / ".staging" / "run-new" / f"{n}.parquet").read_bytes()
                  for n in "abc"} | {"reports/summary.html": b"new report"}
    _kill_at(out, step, "publish")
    seen = _published(out)
    expected = old if step in ("built", "sealed") else new_staged
    assert seen == expected, f"killed at {step}: a mixed or missing set"
    # the next run repairs and cleans (rule in pipelines.engine.outfolder): still the same whole set
    clean_leftovers(OutFolder(out, "run-next"))
    assert _published(out) == expected
    assert not [p for p in (out / "snapshots").iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize("step", ADOPTION_STEPS)
def test_kill_9_while_adopting_an_older_layout_keeps_the_published_set(tmp_path, step):
    """Migration: an OUT written by an older version (real warehouse/ and reports/ folders, no OUT/current
    link) is adopted into a snapshot before its folders become links; a kill at any point shows the same
    content (a real folder left beside the new current link holds the current snapshot's very files)."""
    out = tmp_path / "out"
    (out / "warehouse").mkdir(parents=True)
    (out / "reports").mkdir()
    pl.DataFrame({"value": [1]}).write_parquet(out / "warehouse" / "a.parquet")
    (out / "reports" / "summary.html").write_text("legacy")
    before = _published(out)
    _kill_at(out, step, "adopt")
    assert _published(out) == before
    ensure_layout(out)
    assert _published(out) == before and (out / "warehouse").is_symlink()


def test_an_output_folder_link_made_outside_asm_is_refused_not_replaced(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "warehouse").symlink_to(elsewhere)
    with pytest.raises(snap_module.LayoutError, match="made outside asm"):
        ensure_layout(out)
    assert os.readlink(out / "warehouse") == str(elsewhere)


def _snapshots(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "snapshots").iterdir())


def test_kill_9_after_sealing_keeps_the_published_snapshots_and_removes_the_unpublished_one(tmp_path):
    """Issue 21 (item 4): a run killed after sealing its snapshot, before OUT/current switched, leaves the newest
    snapshot by time, which nobody published. Retention counts published snapshots only: the next run keeps the
    current and the previous published one, removes the killed run's and lists it."""
    out = tmp_path / "out"
    _old_set(out)  # run-old: published, then previous
    _stage(out, "run-cur", {"a": 2, "b": 2}, "current report")
    publish_run(OutFolder(out, "run-cur"))
    current = _published(out)
    _stage(out, "run-new", {"a": 3, "b": 3}, "never published")
    _kill_at(out, "sealed", "publish")
    assert _snapshots(out) == ["run-cur", "run-new", "run-old"] and _published(out) == current
    cleaned = clean_leftovers(OutFolder(out, "run-next"), keep_snapshots=2)
    assert cleaned.unpublished == ["run-new"] and "snapshots/run-new" in cleaned.removed
    assert _snapshots(out) == ["run-cur", "run-old"] and _published(out) == current
    # the next publish keeps itself and the previously published run-cur (not a killed run's snapshot)
    _stage(out, "run-next", {"a": 4}, "next")
    publish_run(OutFolder(out, "run-next"), keep_snapshots=2)
    assert _snapshots(out) == ["run-cur", "run-next"]
    assert (out / "snapshots" / "run-cur" / ".published").is_file()


def test_a_snapshot_current_was_switched_to_counts_as_published_even_if_killed_before_its_mark(tmp_path):
    """Killed at "switched" (OUT/current already points to the new snapshot, its .published mark not yet
    written): the current snapshot is published; the next cleaning marks it and removes nothing."""
    out = tmp_path / "out"
    _old_set(out)
    _stage(out, "run-new", {"a": 2}, "new")
    _kill_at(out, "switched", "publish")
    assert not (out / "snapshots" / "run-new" / ".published").exists()
    cleaned = clean_leftovers(OutFolder(out, "run-next"))
    assert cleaned.unpublished == [] and _snapshots(out) == ["run-new", "run-old"]
    assert (out / "snapshots" / "run-new" / ".published").is_file()


def test_an_out_written_before_the_publish_marks_keeps_its_older_snapshots(tmp_path):
    """Migration: snapshots of a version without .published marks, no newer than the current one, were each
    current once (kept by retention); a newer one can only be a killed run's (removed and listed)."""
    out = tmp_path / "out"
    _old_set(out)
    _stage(out, "run-cur", {"a": 2}, "cur")
    publish_run(OutFolder(out, "run-cur"))
    shutil.copytree(out / "snapshots" / "run-cur", out / "snapshots" / "run-killed")
    for p in (out / "snapshots").glob("*/.published"):
        p.unlink()
    t = time.time()
    for i, name in enumerate(("run-old", "run-cur", "run-killed")):
        os.utime(out / "snapshots" / name, (t - 100 + i, t - 100 + i))
    cleaned = clean_leftovers(OutFolder(out, "run-next"), keep_snapshots=2)
    assert cleaned.unpublished == ["run-killed"] and _snapshots(out) == ["run-cur", "run-old"]


@pytest.mark.parametrize("fills", ["a table", "the reports folder"])
def test_full_disk_while_copying_a_snapshot_to_another_disk_leaves_no_partial_and_names_that_disk(
        tmp_path, monkeypatch, fills):
    """Issue 21 (item 4): OUT/snapshots is a link to another disk, which fills while publish copies the snapshot
    there. No half-copied snapshot is left on that disk, the published set and this run's staging are whole, and
    the one line names the snapshots' disk, not OUT's."""
    from pipelines.engine.errors import explain

    out, other = tmp_path / "out", tmp_path / "other_disk"
    other.mkdir()
    out.mkdir()
    (out / "snapshots").symlink_to(other)
    old = _old_set(out)
    _stage(out, "run-new", {"a": 2, "b": 2, "c": 2}, "new")
    staged = sorted(p.name for p in (out / ".staging" / "run-new").rglob("*"))
    copy2, copied = shutil.copy2, []

    def cross_device_link(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    rename = os.rename

    def cross_device_rename(src, dst):  # the staged reports folder cannot be renamed onto the other disk either
        if ".staging" in str(src) and str(dst).startswith(str(out / "snapshots")):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return rename(src, dst)

    def fills_up(src, dst, **kw):  # the second table, or the report (shutil.copytree: shutil.Error), fills it
        full = copied if fills == "a table" else "reports" in str(dst)
        if str(dst).startswith(str(out / "snapshots")) and full:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        copied.append(dst)
        return copy2(src, dst, **kw)

    monkeypatch.setattr(snap_module.os, "link", cross_device_link)
    monkeypatch.setattr(snap_module.os, "rename", cross_device_rename)
    monkeypatch.setattr(snap_module.shutil, "copy2", fills_up)
    with pytest.raises(OSError) as raised:
        publish_run(OutFolder(out, "run-new"))
    monkeypatch.undo()
    assert copied and not [p for p in other.iterdir() if p.name.endswith(".partial")]
    assert sorted(p.name for p in other.iterdir()) == ["run-old"] and _published(out) == old
    assert sorted(p.name for p in (out / ".staging" / "run-new").rglob("*")) == staged
    line = explain(f"OSError: {raised.value}", str(out))
    assert line.startswith(f"the disk holding {os.path.realpath(other)}") and " is full: " in line, line


@pytest.mark.parametrize("part", ["reports", "warehouse"])
def test_a_real_folder_beside_published_snapshots_is_refused_never_adopted(tmp_path, part):
    """Issue 21 (item 3): once OUT has a current snapshot, OUT/reports and OUT/warehouse are only ever the links a
    publish switches. A real folder there (an older `asm report`, a copy) is refused with one line telling the user
    to move it away, and nothing changes: no snapshot is built from it, OUT/current stays."""
    out = tmp_path / "out"
    _old_set(out)
    (out / part).unlink()
    (out / part).mkdir()
    (out / part / "summary.html").write_text("written outside a run")
    with pytest.raises(snap_module.LayoutError) as refused:
        ensure_layout(out)
    assert str(refused.value) == (
        f"{out / part} is a real folder that no run published (written outside a run?); asm publishes each run as "
        f"OUT/snapshots/<run> and manages OUT/{part} as a link (to keep the tables on another file system, make "
        "OUT/snapshots a link there, or choose --out there): move it away and run again")
    _stage(out, "run-new", {"a": 2}, "new")
    with pytest.raises(snap_module.LayoutError):
        publish_run(OutFolder(out, "run-new"))
    assert _snapshots(out) == ["run-old"] and os.readlink(out / "current") == "snapshots/run-old"
    assert (out / part / "summary.html").read_text() == "written outside a run"


def test_publish_moves_the_staged_reports_folder_into_the_snapshot(tmp_path):
    """Issue 20: the run's reports folder (about 46,000 files at 10 M lines) is renamed into the snapshot, not
    linked file by file and then unlinked from the staging; the published pages are the staged ones."""
    out = tmp_path / "out"
    _old_set(out)
    _stage(out, "run-new", {"a": 2}, "new report")
    staged = out / ".staging" / "run-new" / "reports"
    folder_inode = staged.stat().st_ino
    publish_run(OutFolder(out, "run-new"))
    assert (out / "snapshots" / "run-new" / "reports").stat().st_ino == folder_inode
    assert (out / "reports" / "summary.html").read_text() == "new report"
    assert not (out / ".staging").exists()
