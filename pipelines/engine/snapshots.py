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
Every rename is one of pipelines.engine.warehouse (the one home of the atomic rename). Nothing here
imports Dagster.
"""
from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.engine.warehouse import (CURRENT, REPORTS, SNAPSHOTS, STAGING, WAREHOUSE, OutFolder, _dir_to_symlink, _move,
                                        _rename, _symlink_replace)

PUBLISHED_PARTS = (WAREHOUSE, REPORTS)  # OUT/<part> -> current/<part>


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
    return None


def check_layout(out_dir: Path) -> None:
    """Refuse (LayoutError) an OUT whose warehouse/reports/current asm cannot manage as links."""
    out = Path(out_dir)
    for part in (*PUBLISHED_PARTS, CURRENT):
        what = _foreign(out, part)
        if what:
            raise LayoutError(
                f"{out / part} is {what}; asm publishes each run as OUT/snapshots/<run> and manages "
                f"OUT/{part} as a link (to keep the tables on another file system, make OUT/{SNAPSHOTS} a link "
                f"there, or choose --out there): move it away and run again")


def ensure_layout(out_dir: Path) -> None:
    """Bring OUT to the snapshot layout and repair its links. Real folders at OUT/warehouse,
    OUT/reports or OUT/current (an older version's layout, library writes, a copied folder) are
    adopted into a new snapshot first, so every link switch shows the same content as before."""
    wh = OutFolder(Path(out_dir))
    out = wh.out_dir
    check_layout(out)
    real = {part: out / part for part in (*PUBLISHED_PARTS, CURRENT)
            if (out / part).is_dir() and not (out / part).is_symlink()}
    if real:
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
    of the current snapshot that this run did not write, so the new snapshot is whole."""
    current = wh.current_snapshot()
    result = Published()
    (partial / WAREHOUSE).mkdir(parents=True)
    for src in sorted(staging.glob("*.parquet")):
        if not src.name.startswith("."):
            _move(src, partial / WAREHOUSE / src.name)
            result.tables.append(src.name.removesuffix(".parquet"))
    if current is not None and (current / WAREHOUSE).is_dir():
        for src in sorted((current / WAREHOUSE).glob("*.parquet")):
            if not (partial / WAREHOUSE / src.name).exists():
                _link_copy(src, partial / WAREHOUSE / src.name)
                result.kept.append(src.name.removesuffix(".parquet"))
    if (staging / REPORTS).is_dir():
        _move(staging / REPORTS, partial / REPORTS)
        result.reports = True
    elif current is not None and (current / REPORTS).is_dir():
        _link_copy(current / REPORTS, partial / REPORTS)
    for name, text in extra_files.items():
        (partial / name).write_text(text, encoding="utf-8")
    return result


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
    result = _build_snapshot(wh, staging, partial, extra_files or {})
    os.utime(partial)  # snapshots are ordered by this time (prune_snapshots)
    _fsync_dir(partial)
    _checkpoint("built")
    _rename(partial, snapshot)
    _fsync_dir(wh.snapshots_dir)
    _checkpoint("sealed")
    _symlink_replace(f"{SNAPSHOTS}/{name}", wh.current_link)
    _fsync_dir(wh.out_dir)
    _checkpoint("switched")
    ensure_layout(wh.out_dir)
    _checkpoint("linked")
    prune_snapshots(wh, keep_snapshots)
    shutil.rmtree(wh.staging_root, ignore_errors=True)  # this run's and every earlier run's (superseded)
    result.snapshot = snapshot
    return result


def prune_snapshots(wh: OutFolder, keep: int) -> list[str]:
    """Remove snapshots beyond the newest `keep` (never the current one) and half-built ones."""
    if not wh.snapshots_dir.is_dir():
        return []
    current = wh.current_snapshot()
    removed = []
    for p in wh.snapshots_dir.iterdir():
        if p.name.startswith(".") and p.name.endswith(".partial"):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    done = sorted((p for p in wh.snapshots_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
    for p in done[max(keep, 1):]:
        if current is None or p.resolve() != current:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    return removed
