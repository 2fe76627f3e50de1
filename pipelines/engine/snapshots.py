"""Publishing a run as one atomic switch: the run's staged tables and reports (plus every table of the
current snapshot it did not write) become a new OUT/snapshots/<run id>, then OUT/current is switched to
it in one rename; old snapshots beyond the retention are removed. Also the layout checks and repairs
of an output folder (links OUT/warehouse, OUT/reports -> current/...).

Layout of an output folder OUT (data-contracts "Outputs"; README "Outputs"):
  OUT/snapshots/<run id>/warehouse/<table>.parquet   one published run's tables (the whole set)
  OUT/snapshots/<run id>/reports/, provenance.json   ... its reports and provenance
  OUT/current -> snapshots/<run id>                  the pointer publish switches in one rename
  OUT/warehouse -> current/warehouse, OUT/reports -> current/reports   what users and readers open
  OUT/.staging/<run id>/<table>.parquet, .../reports/        a run's outputs until every check passed
  OUT/snapshots/<run id>/.published                   written when OUT/current switched to it (issue 21)
Every rename is one of pipelines.engine.warehouse (the one home of the atomic rename). Nothing here
imports Dagster.

Retention (issue 21, item 4): only snapshots that were published (OUT/current switched to them: the
`.published` mark, or the current one) count; the newest `keep_snapshots` of them by publish time are
kept, never the current one removed. A snapshot that was never published (a run killed after sealing it,
before the switch) is removed by the next run, which lists it in its summary.
"""
from __future__ import annotations

import errno
import filecmp
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.engine.errors import is_disk_full
from pipelines.engine.warehouse import (CURRENT, REPORTS, SNAPSHOTS, STAGING, WAREHOUSE, OutFolder, _dir_to_symlink,
                                        _rename, _symlink_replace, write_text)

PUBLISHED_PARTS = (WAREHOUSE, REPORTS)  # OUT/<part> -> current/<part>
PUBLISHED_MARK = ".published"  # in a snapshot OUT/current was switched to: the switch time (ns)


# --------------------------------------------------------------------------------------------
# Publishing a run: build a whole snapshot, then switch OUT/current to it in one rename
# (issue 13: a crash or kill -9 at any moment leaves the old set or the new one, never a mix).


def _checkpoint(step: str) -> None:
    """Called between the steps of a publish; the crash tests replace it to kill the process there."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _link_copy(src: Path, dst: Path) -> None:
    """Copy a file or folder as hard links (no data copied; a published file is never modified in
    place, only replaced), or as a real copy where links are not possible."""
    def link_or_copy(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    if src.is_dir():
        shutil.copytree(src, dst, copy_function=link_or_copy, symlinks=False)
    else:
        link_or_copy(src, dst)


def published_location(path: Path) -> Path:
    """Where a table staged at OUT/.staging/<run id>/<table>.parquet will be once the run is
    published (OUT/snapshots/<run id>/warehouse/<table>.parquet); other paths unchanged."""
    path = Path(path)
    if path.parent.parent.name == STAGING:
        return path.parent.parent.parent / SNAPSHOTS / path.parent.name / WAREHOUSE / path.name
    return path


class LayoutError(Exception):
    """OUT holds something publish must not replace. str() is the one-line user message."""


def _same_tree(a: Path, b: Path) -> bool:
    """The same files under the same names (hard links of each other, or equal bytes)."""
    def files(root: Path) -> dict[str, Path]:
        return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}

    fa, fb = files(a), files(b)
    return fa.keys() == fb.keys() and all(
        os.path.samefile(p, fb[r]) or filecmp.cmp(p, fb[r], shallow=False) for r, p in fa.items())


def older_layout(out_dir: Path) -> bool:
    """OUT has never been switched to a snapshot (no OUT/current link): real OUT/warehouse and OUT/reports
    folders are an older version's layout (or library writes), migrated into a snapshot on the next run."""
    return not (Path(out_dir) / CURRENT).is_symlink()


def _foreign(out: Path, part: str) -> str | None:
    path = out / part
    if path.is_symlink():
        target = os.readlink(path)
        ok = target.startswith(f"{SNAPSHOTS}/") if part == CURRENT else target == f"{CURRENT}/{part}"
        return None if ok else f"a link to {target} made outside asm"
    if path.is_dir() and os.path.ismount(path):
        return "a mount point"
    if path.exists() and not path.is_dir():
        return "a file"
    if path.is_dir() and part != CURRENT and not older_layout(out):
        # Issue 21 (item 3): once OUT has published snapshots, OUT/<part> is only ever the link a publish switches;
        # a real folder there was written outside a run and is never adopted. The one exception: the same files as
        # the current snapshot's (a link switch interrupted by a kill), which ensure_layout turns back into the link.
        published = out / CURRENT / part
        if not (published.is_dir() and _same_tree(path, published)):
            return "a real folder that no run published (written outside a run?)"
    return None


def check_layout(out_dir: Path) -> None:
    """Refuse (LayoutError) an OUT whose warehouse/reports/current asm cannot manage as links, or whose
    warehouse/reports is a real folder beside published snapshots (never adopted: issue 21)."""
    out = Path(out_dir)
    for part in (*PUBLISHED_PARTS, CURRENT):
        what = _foreign(out, part)
        if what:
            raise LayoutError(
                f"{out / part} is {what}; asm publishes each run as OUT/snapshots/<run> and manages "
                f"OUT/{part} as a link (to keep the tables on another file system, make OUT/{SNAPSHOTS} a link "
                f"there, or choose --out there): move it away and run again")


def ensure_layout(out_dir: Path) -> None:
    """Bring OUT to the snapshot layout and repair its links. Migration of an older version's layout
    (`older_layout`: real folders at OUT/warehouse, OUT/reports or OUT/current and no OUT/current link):
    they are adopted into a new snapshot first, so every link switch shows the same content as before.
    Once OUT has a current snapshot, a real folder is refused (check_layout), unless it holds the current
    snapshot's very files (a kill between the steps of a switch), which becomes the link again."""
    wh = OutFolder(Path(out_dir))
    out = wh.out_dir
    check_layout(out)
    real = {part: out / part for part in (*PUBLISHED_PARTS, CURRENT)
            if (out / part).is_dir() and not (out / part).is_symlink()}
    if real and not older_layout(out):  # check_layout saw that each holds the current snapshot's files
        for part in real:
            _dir_to_symlink(out / part, f"{CURRENT}/{part}")
    elif real:
        current = wh.current_snapshot() or real.get(CURRENT)
        adopted = wh.snapshots_dir / f"adopted-{uuid.uuid4().hex[:12]}"
        partial = wh.snapshots_dir / f".{adopted.name}.partial"
        partial.mkdir(parents=True)
        for part in PUBLISHED_PARTS:
            src = real.get(part) or (current / part if current is not None else None)
            if src is not None and src.is_dir():
                _link_copy(src, partial / part)
        _rename(partial, adopted)
        _checkpoint("adopted")
        if CURRENT in real:
            _dir_to_symlink(out / CURRENT, f"{SNAPSHOTS}/{adopted.name}")
        else:
            _symlink_replace(f"{SNAPSHOTS}/{adopted.name}", out / CURRENT)
        mark_published(adopted)
        _checkpoint("adopted-current")
        for part in PUBLISHED_PARTS:
            if part in real:
                _dir_to_symlink(out / part, f"{CURRENT}/{part}")
                _checkpoint(f"adopted-{part}")
    if wh.current_snapshot() is None:
        return
    for part in PUBLISHED_PARTS:
        link = out / part
        if not link.is_symlink() or os.readlink(link) != f"{CURRENT}/{part}":
            _symlink_replace(f"{CURRENT}/{part}", link)


@dataclass
class Published:
    tables: list[str] = field(default_factory=list)  # tables this run wrote
    kept: list[str] = field(default_factory=list)  # tables carried over from the previous snapshot
    reports: bool = False  # whether this run wrote the reports
    snapshot: Path | None = None


def _build_snapshot(wh: OutFolder, staging: Path, partial: Path, extra_files: dict[str, str]) -> Published:
    """Fill `partial` with the run's staged tables and reports, plus every table (and the reports)
    of the current snapshot that this run did not write, so the new snapshot is whole. Hard links where
    OUT/snapshots is on the staging's file system, copies where it is not (a link to another disk)."""
    current = wh.current_snapshot()
    result = Published()
    (partial / WAREHOUSE).mkdir(parents=True)
    for src in sorted(staging.glob("*.parquet")):  # linked, not moved: the staged tables stay whole until the switch
        if not src.name.startswith("."):
            _link_copy(src, partial / WAREHOUSE / src.name)
            result.tables.append(src.name.removesuffix(".parquet"))
    if current is not None and (current / WAREHOUSE).is_dir():
        for src in sorted((current / WAREHOUSE).glob("*.parquet")):
            if not (partial / WAREHOUSE / src.name).exists():
                _link_copy(src, partial / WAREHOUSE / src.name)
                result.kept.append(src.name.removesuffix(".parquet"))
    for name, text in extra_files.items():
        (partial / name).write_text(text, encoding="utf-8")
    if (staging / REPORTS).is_dir():
        _move_reports(staging / REPORTS, partial / REPORTS)
        result.reports = True
    elif current is not None and (current / REPORTS).is_dir():
        _link_copy(current / REPORTS, partial / REPORTS)
    return result


def _move_reports(staged: Path, target: Path) -> None:
    """The run's staged reports folder into the snapshot being built: renamed, the last step of the build, where
    OUT/snapshots is on the staging's file system (a reports folder of every TIN holds about 46,000 files at 10 M
    lines: linking each, then unlinking the staging's, took seconds; issue 20); copied where it is not (a copy that
    fails leaves the staging whole). Nothing of the build can fail after it; a kill before the switch leaves the
    run's reports in the half-built or unpublished snapshot, which the next run removes (cleaning rule)."""
    try:
        _rename(staged, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        _link_copy(staged, target)


def publish_run(wh: OutFolder, keep_snapshots: int = 2, extra_files: dict[str, str] | None = None) -> Published:
    """Publish the run's staged outputs as a new snapshot and switch OUT/current to it in one rename.
    Steps (each a `_checkpoint`): the snapshot is built under a hidden name, renamed into place,
    OUT/current is switched, then old snapshots beyond `keep_snapshots` and the staging are removed.
    Before the switch every reader sees the previous set; after it, the new one."""
    staging = wh.staging_dir
    if staging is None or not staging.is_dir():
        return Published()
    ensure_layout(wh.out_dir)
    name = wh.run_tag
    snapshot = wh.snapshots_dir / name
    partial = wh.snapshots_dir / f".{name}.partial"
    try:
        result = _build_snapshot(wh, staging, partial, extra_files or {})
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)  # no half-built snapshot left, on that disk least of all
        if isinstance(exc, OSError) and is_disk_full(exc):
            raise snapshot_disk_full(wh, exc) from None
        raise
    os.utime(partial)  # an OUT of a version without publish marks is migrated by this time (published_snapshots)
    _fsync_dir(partial)
    _checkpoint("built")
    _rename(partial, snapshot)
    _fsync_dir(wh.snapshots_dir)
    _checkpoint("sealed")
    _symlink_replace(f"{SNAPSHOTS}/{name}", wh.current_link)
    _fsync_dir(wh.out_dir)
    _checkpoint("switched")
    mark_published(snapshot)  # a kill before this line: the current snapshot counts as published anyway
    ensure_layout(wh.out_dir)
    _checkpoint("linked")
    prune_snapshots(wh, keep_snapshots)
    shutil.rmtree(wh.staging_root, ignore_errors=True)  # this run's and every earlier run's (superseded)
    result.snapshot = snapshot
    return result


def snapshot_disk_full(wh: OutFolder, exc: OSError) -> OSError:
    """The full-disk error of a snapshot write, naming the disk of OUT/snapshots (its real place: a link to
    another disk is followed), which pipelines.engine.errors turns into the one line "the disk holding ... is
    full"; the file the copy stopped at would name OUT, whose disk may have room."""
    where = os.path.realpath(wh.snapshots_dir)
    mount = where
    while not os.path.ismount(mount):
        mount = os.path.dirname(mount)
    shown = where if mount in (where, "/") else f"{where} (mount {mount})"
    return OSError(errno.ENOSPC, "No space left on device", shown)


# --------------------------------------------------------------------------------------------
# Retention: what was published is kept (issue 21, item 4)


def mark_published(snapshot: Path, at_ns: int | None = None) -> None:
    """Record that OUT/current was switched to `snapshot` (the switch time, in ns: now unless given)."""
    write_text(snapshot / PUBLISHED_MARK, f"{time.time_ns() if at_ns is None else at_ns}\n")


def _published_at(snapshot: Path) -> int | None:
    try:
        return int((snapshot / PUBLISHED_MARK).read_text().strip())
    except (OSError, ValueError):
        return None


def _finished(wh: OutFolder) -> list[Path]:
    if not wh.snapshots_dir.is_dir():
        return []
    return [p for p in wh.snapshots_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]


def published_snapshots(wh: OutFolder) -> dict[Path, int]:
    """Every snapshot OUT/current was switched to, with its publish time (ns): the marked ones and the current
    one (a kill between the switch and the mark). An OUT of a version without marks: the snapshots no newer
    than the current one (each was current once; only a newer one can be a killed run's), marked now."""
    current = wh.current_snapshot()
    snapshots = _finished(wh)
    done = {p: t for p in snapshots if (t := _published_at(p)) is not None}
    if not done and current is not None:  # migration of an OUT written before the marks
        limit = current.stat().st_mtime_ns
        for p in snapshots:
            if (t := p.stat().st_mtime_ns) <= limit:
                mark_published(p, t)
                done[p] = t
    for p in snapshots:
        if current is not None and p not in done and p.resolve() == current:
            mark_published(p)
            done[p] = _published_at(p) or time.time_ns()
    return done


@dataclass
class Pruned:
    removed: list[str] = field(default_factory=list)  # every folder removed from OUT/snapshots
    unpublished: list[str] = field(default_factory=list)  # ... of them, snapshots OUT/current never switched to


def prune_snapshots(wh: OutFolder, keep: int) -> Pruned:
    """Remove half-built snapshots, snapshots never published (a run killed between sealing and switching),
    and published ones beyond the newest `keep` by publish time; never the current one."""
    done = Pruned()
    if not wh.snapshots_dir.is_dir():
        return done
    current = wh.current_snapshot()
    for p in wh.snapshots_dir.iterdir():
        if p.name.startswith(".") and p.name.endswith(".partial"):
            shutil.rmtree(p, ignore_errors=True)
            done.removed.append(p.name)
    published = published_snapshots(wh)
    for p in sorted(set(_finished(wh)) - set(published), key=lambda p: p.name):
        if current is None or p.resolve() != current:
            shutil.rmtree(p, ignore_errors=True)
            done.removed.append(p.name)
            done.unpublished.append(p.name)
    ranked = sorted(published, key=lambda p: (published[p], p.name), reverse=True)
    for p in ranked[max(keep, 1):]:
        if current is None or p.resolve() != current:
            shutil.rmtree(p, ignore_errors=True)
            done.removed.append(p.name)
    return done
