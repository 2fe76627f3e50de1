"""The output folder OUT before and around a run: one run at a time (a lock that dies with its
process), a folder that can be written (one-line reasons), and the cleaning rule for what failed or
killed runs leave behind. Nothing here imports Dagster.

Cleaning rule (README "Operations"), applied when a run takes the lock:
  - staging folders OUT/.staging/<run id>/ of earlier runs are deleted, except the newest one, which
    stays for inspection of the last failed run until the next run starts (a successful publish
    deletes them all), so at most one failed run's tables are kept;
  - half-built snapshots (OUT/snapshots/.<name>.partial), DuckDB's spill folder OUT/.tmp and temporary
    files of interrupted writes (OUT/dq_results/.*.tmp) are deleted;
  - snapshots never published (a run killed after sealing its snapshot, before OUT/current switched to it)
    are deleted, and listed in the run's summary (issue 21);
  - published snapshots beyond the newest `keep_snapshots` (by publish time) are deleted, here and after
    each publish (pipelines.engine.snapshots.prune_snapshots).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.engine.snapshots import LayoutError, check_layout, ensure_layout, prune_snapshots
from pipelines.engine.warehouse import DQ_RESULTS, SNAPSHOTS, STAGING, OutFolder


class OutputFolderError(Exception):
    """OUT cannot be used. str() is the one-line user message."""


def _why(exc: OSError) -> str:
    reasons = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
               errno.EROFS: "it is on a read-only file system", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied", errno.ENOTDIR: "a parent of it is a file",
               errno.EEXIST: "a file of that name exists"}
    return reasons.get(exc.errno, exc.strerror or str(exc))


def prepare_output(out_dir: Path) -> None:
    """Create OUT if needed and prove it can be written (a small file is written, synced and removed).
    Raises OutputFolderError with one line: a file, cannot be created, read-only, full."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"output folder {out} is an existing file; choose a folder for --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFolderError(f"cannot create output folder {out}: {_why(exc)}") from None
    probe = out / f".asm-write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, b"x" * 65536)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise OutputFolderError(f"cannot write to output folder {out}: {_why(exc)}") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    try:
        check_layout(out)
    except LayoutError as exc:
        raise OutputFolderError(str(exc)) from None


# --------------------------------------------------------------------------------------------
# One run per output folder


class OutputInUse(Exception):
    """Another live run holds OUT. str() is the one-line user message."""


@dataclass
class _Held:
    fd: int
    count: int
    previous: dict | None  # the stale lock taken over, for every holder in this process


_HELD: dict[str, _Held] = {}  # this process's locks, by folder: taking one again is a no-op


def _holder(text: str) -> dict:
    try:
        info = json.loads(text)
        return info if isinstance(info, dict) else {}
    except ValueError:
        return {}


def _describe(info: dict) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["started"])) if info.get("started") else "?"
    return f"run {info.get('run_id') or '?'} (pid {info.get('pid', '?')} on {info.get('host', '?')}, started {started})"


class OutputLock:
    """An exclusive lock on OUT for one run: `flock` on OUT/.asm.lock, which the kernel releases when
    the holding process ends, even by kill -9, so a lock is never left behind by a dead run. The file
    names the holder (run id, pid, host, start) for the refusal message; a lock file whose holder is
    gone is a stale lock: reported in `previous` and taken over.

    The steps of one run may run in several processes (multiprocess executor): a step whose run
    already holds the lock (another process names the same run id) shares it (`shared`) instead of
    being refused. Under `asm run` the launching process holds the lock from the first step to the last."""

    def __init__(self, out_dir: Path, run_id: str = ""):
        self.out_dir = Path(out_dir)
        self.path = OutFolder(self.out_dir).lock_file
        self.run_id = run_id
        self.previous: dict | None = None  # holder of a stale lock taken over
        self.shared = False  # held by another process of the same run

    def __enter__(self) -> "OutputLock":
        key = str(self.out_dir.resolve())
        held = _HELD.get(key)
        if held is not None:
            held.count += 1
            self.previous = held.previous
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _holder(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            os.close(fd)
            if self.run_id and info.get("run_id") == self.run_id:
                self.shared = True
                return self
            raise OutputInUse(f"output folder {self.out_dir} is in use by {_describe(info)}; wait for it to "
                              "finish or choose another --out") from None
        previous = _holder(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
        self.previous = previous or None
        me = {"run_id": self.run_id, "pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        _HELD[key] = _Held(fd, 1, self.previous)
        return self

    def __exit__(self, *exc) -> None:
        if self.shared:
            return
        key = str(self.out_dir.resolve())
        held = _HELD.get(key)
        if held is None:
            return
        held.count -= 1
        if held.count == 0:
            os.ftruncate(held.fd, 0)  # an empty lock file: released cleanly (no stale-lock report)
            fcntl.flock(held.fd, fcntl.LOCK_UN)
            os.close(held.fd)
            del _HELD[key]

    def stale_message(self) -> str:
        """One line about a stale lock taken over, or ''."""
        return (f"{_describe(self.previous)} ended without releasing {self.out_dir} (killed?); its leftovers "
                "are cleaned by the rule in the README" if self.previous else "")


# --------------------------------------------------------------------------------------------
# Cleaning what failed and killed runs leave


@dataclass
class Cleaned:
    removed: list[str]  # what was removed, as OUT-relative names (for the run's log)
    unpublished: list[str]  # snapshots among them that were never published (for the run's summary)


UNPUBLISHED_TAG = "unpublished_snapshots_removed"  # the run tag (asm/...) and summary key listing them


def unpublished_note(names: list[str]) -> str:
    """The summary's and the terminal's line about snapshots removed because they were never published."""
    return (f"removed {len(names)} snapshot(s) that were never published (a run killed while publishing): "
            f"{', '.join(f'{SNAPSHOTS}/{n}' for n in names)}; the published snapshots are kept")


def clean_leftovers(wh: OutFolder, keep_snapshots: int = 2) -> Cleaned:
    """Apply the cleaning rule (module docstring) for a run that holds the lock. The running run's own
    staging folder is kept."""
    removed: list[str] = []
    ensure_layout(wh.out_dir)  # a link left half-switched by a killed publish is repaired first
    if wh.staging_root.is_dir():
        others = sorted((p for p in wh.staging_root.iterdir() if p.name != wh.run_tag),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        for p in others[1:]:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(f"{STAGING}/{p.name}")
    for p in (wh.tmp_dir,):
        if p.exists():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    for p in wh.dq_results_dir.glob(".*.tmp"):
        p.unlink(missing_ok=True)
        removed.append(f"{DQ_RESULTS}/{p.name}")
    pruned = prune_snapshots(wh, keep_snapshots)
    removed += [f"{SNAPSHOTS}/{n}" for n in pruned.removed]
    return Cleaned(removed, pruned.unpublished)


def kept_staging_hint(wh: OutFolder) -> str:
    """For a run that failed on a full disk: the staging folders of earlier failed runs the cleaning rule
    keeps (until the next run starts), as what can be removed to free space; '' when there are none."""
    if not wh.staging_root.is_dir():
        return ""
    hints = []
    for p in sorted(wh.staging_root.iterdir()):
        if p.name == wh.run_tag or not p.is_dir():
            continue
        size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(p.stat().st_mtime))
        hints.append(f"{p} ({size / 1e6:.1f} MB, kept from a failed run of {when}) can be removed to free space")
    return "; ".join(hints)
