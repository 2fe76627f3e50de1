"""The output folder in object storage (issue 12 item 4): how steps on different machines exchange tables.

Every step works on its machine's local OUT (pipelines.engine.snapshots layout). The store holds the same layout
under one URL, the run setting `remote_url` (e.g. s3://bucket/prefix):

  <url>/.staging/<run id>/...        a run's staged tables, reports and input manifest, as in OUT
  <url>/snapshots/<run id>/...       published snapshots, as in OUT
  <url>/current                      an object holding the current snapshot's name (object stores have no links)
  <url>/history/..., <url>/dq_results/..., <url>/run_summary.json     as in OUT

`StepSync.pull`, before a step: this run's staging, the projection history and, from the current snapshot,
the published tables the run does not write (a run of part of the graph reads them) come into the local
OUT, and OUT/current points at that snapshot.
`StepSync.push`, after a successful step: what changed goes to the store: the run's staging, the local
current snapshot (after publish: its files, then the `current` object, then snapshots beyond
`keep_snapshots` are removed), the history, the step's new dq_results files and run_summary.json; staged
files the step removed locally (publish moves them into the snapshot) are removed from the store.

Only changed files move: a file moves when the other side lacks it or differs in size or ETag. The ETag is
S3's content hash (MD5 of the bytes for a single-part upload; MD5 of the parts' MD5s plus "-<parts>" for a
multipart one, whose part size s3fs derives from the file size: `local_etag` computes both), so no remote
copy is read to compare. A file whose bytes are already in the store under another key (publish renames
staged tables into the snapshot; a snapshot links the previous one's unchanged tables) is copied inside the
store, not uploaded again. Objects whose ETag is not an MD5 (SSE-KMS encryption) always move.

Nothing half-written: S3 shows an object only whole (a PUT, or a multipart upload once completed), so no
temporary key is used; the `current` object is written after every file of its snapshot, so a reader of the
store sees the old snapshot or the new one. Downloads land under a temporary name and are renamed into place
(pipelines.engine.warehouse.atomic_path).

Credentials and endpoint come from boto's usual sources (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_PROFILE, a pod or instance role; AWS_ENDPOINT_URL for MinIO, Ceph or moto) and fsspec's
configuration (FSSPEC_S3_* variables); nothing here logs them. Nothing here imports Dagster.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from pipelines.engine.snapshots import ensure_layout
from pipelines.engine.warehouse import (CURRENT, DQ_RESULTS, HISTORY, SNAPSHOTS, STAGING, SUMMARY_FILE, WAREHOUSE, OutFolder,
                                        _symlink_replace, atomic_path)

PROTOCOLS = ("s3", "s3a")
# s3fs uploads a file in one PUT below 2 parts, else in parts of 50 MiB (more when 10,000 parts would not
# hold the file): s3fs.core.calculate_chunksize; the local ETag must follow the same split.
PART_SIZE = 50 * 2**20
MAX_PARTS = 10_000
SINGLE_PUT_LIMIT = 5 * 2**30
_TEMPORARY = re.compile(r"^\..+\.([0-9a-f]{8}\.(tmp|old|link)|partial)$")  # warehouse._temporary_name, partial snapshots


class RemoteError(Exception):
    """The object store cannot be used. str() is the one-line user message."""


@dataclass
class Transfer:
    """What one pull or push moved."""

    files: int = 0  # downloaded or uploaded
    bytes: int = 0
    copied: int = 0  # copied inside the store: no bytes through this machine
    unchanged: int = 0
    deleted: int = 0
    seconds: float = 0.0

    def line(self, what: str) -> str:
        return (f"{what}: {self.files} files ({self.bytes / 1e6:.1f} MB) in {self.seconds:.1f}s, {self.copied} "
                f"copied in the store, {self.unchanged} unchanged, {self.deleted} removed")


# --------------------------------------------------------------------------------------------
# ETags


_ETAGS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> ETag, for files read once already


def part_size(size: int) -> int:
    return PART_SIZE if math.ceil(size / PART_SIZE) <= MAX_PARTS else math.ceil(size / MAX_PARTS)


def local_etag(path: Path) -> str:
    """The ETag S3 gives this file once s3fs uploaded it (see the module docstring)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _ETAGS:
        chunk = part_size(st.st_size)
        whole, parts = hashlib.md5(), []
        with open(path, "rb") as f:
            while block := f.read(chunk):
                whole.update(block)
                parts.append(hashlib.md5(block).digest())
        single_put = st.st_size < min(SINGLE_PUT_LIMIT, 2 * chunk)
        _ETAGS[key] = whole.hexdigest() if single_put else \
            hashlib.md5(b"".join(parts)).hexdigest() + f"-{len(parts)}"
    return _ETAGS[key]


# --------------------------------------------------------------------------------------------
# Errors, in one line


def _explain(exc: BaseException, url: str, endpoint: str) -> str:
    """A one-line reason for an object-store error (never credentials)."""
    name = type(exc).__name__
    text = str(exc)
    where = f"{url} (endpoint {endpoint})"
    if name == "NoCredentialsError" or "Unable to locate credentials" in text:
        return (f"no credentials for the object store {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE, or give the pod a role)")
    if "NoSuchBucket" in text or "bucket does not exist" in text.lower():
        return f"bucket {urlsplit(url).netloc} not found at {endpoint}: create it or correct the remote URL"
    if isinstance(exc, FileNotFoundError):  # removed between a listing and a read: another run in the store?
        return (f"an object of {where} vanished while in use ({text.splitlines()[0] if text else 'not found'}); "
                "one run at a time per remote URL")
    if isinstance(exc, PermissionError) or any(s in text for s in ("AccessDenied", "InvalidAccessKeyId",
                                                                    "SignatureDoesNotMatch", "Forbidden")):
        return f"access denied to {where}: check the credentials and the bucket's policy"
    if any(s in name + text for s in ("EndpointConnectionError", "ConnectionError", "Connect", "Timeout")):
        return f"cannot reach the object store {where}: check AWS_ENDPOINT_URL and the network"
    return f"object store {where}: {name}: {text.splitlines()[0] if text else 'error'}"


# --------------------------------------------------------------------------------------------
# The store


def _local_files(out: Path, rel: str) -> dict[str, Path]:
    """Files under OUT/<rel> (or the file OUT/<rel>) by path relative to OUT; temporary names skipped."""
    base = out / rel
    if base.is_file():
        return {rel: base}
    if not base.is_dir():
        return {}
    return {p.relative_to(out).as_posix(): p for p in sorted(base.rglob("*"))
            if p.is_file() and not any(_TEMPORARY.match(part) for part in p.relative_to(out).parts)}


class RemoteStore:
    """One remote_url: an S3 (or S3-compatible) prefix holding an output folder's layout."""

    def __init__(self, url: str, **storage_options):
        parts = urlsplit(url)
        if parts.scheme not in PROTOCOLS or not parts.netloc:
            raise RemoteError(f"remote URL {url!r} is not s3://bucket[/prefix]; only S3-compatible stores are "
                              "supported (the endpoint comes from AWS_ENDPOINT_URL)")
        import fsspec

        self.url = url.rstrip("/")
        options = {"skip_instance_cache": True, "use_listings_cache": False, **storage_options}
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url, **options)
        except ImportError:
            raise RemoteError("s3fs is not installed: pip install 'asm-pipeline[remote]'") from None
        self.root = self.root.rstrip("/")
        self.endpoint = (getattr(self.fs, "endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL_S3")
                         or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3")

    def _key(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def _rel(self, key: str) -> str:
        return key[len(self.root) + 1:]

    def call(self, fn: Callable, *args, **kwargs):
        """Run one store operation; its errors become RemoteError (one line)."""
        try:
            return fn(*args, **kwargs)
        except RemoteError:
            raise
        except Exception as exc:  # botocore, aiohttp and fsspec errors alike
            raise RemoteError(_explain(exc, self.url, self.endpoint)) from None

    def check(self) -> None:
        """Raise RemoteError unless the bucket can be listed with the credentials at hand."""
        bucket = self.root.split("/", 1)[0]
        self.call(self.fs.ls, bucket, detail=False)

    def listing(self, rel: str) -> dict[str, dict]:
        """Objects under <url>/<rel>/ (or the object <url>/<rel>): relative path -> size, ETag, modified."""
        self.fs.invalidate_cache()
        found = self.call(self.fs.find, self._key(rel), detail=True)
        return {self._rel(k): {"size": int(v["size"]), "etag": str(v.get("ETag", "")).strip('"'),
                               "modified": v.get("LastModified")}
                for k, v in found.items() if v.get("type") == "file"
                and (self._rel(k) == rel or self._rel(k).startswith(rel + "/"))}

    def current(self) -> str | None:
        """The snapshot name the store's `current` object holds (None before the first publish)."""
        if not self.call(self.fs.exists, self._key(CURRENT)):
            return None
        return self.call(self.fs.cat_file, self._key(CURRENT)).decode().strip() or None

    def set_current(self, name: str) -> None:
        self.call(self.fs.pipe_file, self._key(CURRENT), name.encode() + b"\n")

    # -- moving files

    def download(self, rels: list[str], out: Path) -> None:
        """Download objects to OUT/<rel>, each under a temporary name renamed into place once all arrived
        (warehouse.atomic_path); a failed download leaves no file."""
        if not rels:
            return
        with ExitStack() as stack:
            temps = [stack.enter_context(atomic_path(out / r)) for r in rels]
            self.call(self.fs.get, [self._key(r) for r in rels], [str(t) for t in temps])

    def upload(self, files: dict[str, Path]) -> None:
        if files:
            self.call(self.fs.put, [str(p) for p in files.values()], [self._key(r) for r in files])

    def copy(self, pairs: list[tuple[str, str]]) -> None:
        if pairs:
            self.call(self.fs.copy, [self._key(a) for a, _ in pairs], [self._key(b) for _, b in pairs])

    def delete(self, rels: list[str]) -> None:
        if rels:
            self.call(self.fs.rm, [self._key(r) for r in rels])


def _published_part(rel: str) -> str:
    """The asset a snapshot file belongs to: snapshots/<run>/warehouse/<table>.parquet[/...] -> the table,
    snapshots/<run>/reports/... -> reports, provenance.json -> publish, run_summary.json -> run_summary."""
    parts = rel.split("/")
    if parts[2] == WAREHOUSE:
        return parts[3].removesuffix(".parquet")
    return {"provenance.json": "publish", SUMMARY_FILE: "run_summary"}.get(parts[2], parts[2])


def _same(path: Path, remote: dict | None) -> bool:
    return remote is not None and path.stat().st_size == remote["size"] and local_etag(path) == remote["etag"]


# --------------------------------------------------------------------------------------------
# One step: pull before, push after


@dataclass
class StepSync:
    """Pull before one step (or one in-process run) and push after it, for one run id."""

    store: RemoteStore
    out_dir: Path
    run_id: str
    keep_snapshots: int = 2
    _pulled_staging: set[str] = field(default_factory=set)
    _started: float = 0.0

    @property
    def staging(self) -> str:
        return f"{STAGING}/{self.run_id}"

    def pull(self, writes: set[str] | None = None) -> Transfer:
        """Bring this run's staging and the history into the local OUT, and from the store's current snapshot
        the tables (and reports) this run does not write, which a run of part of the graph reads from the
        published warehouse. `writes`: the assets of the run (None: the whole graph, which reads none)."""
        started = time.perf_counter()
        self._started = time.time()
        done = Transfer()
        name = self.store.current() if writes is not None else None
        remote = {**self.store.listing(self.staging), **self.store.listing(HISTORY)}
        if name:
            snapshot = self.store.listing(f"{SNAPSHOTS}/{name}")
            remote.update({r: info for r, info in snapshot.items() if _published_part(r) not in writes})
        wanted = [r for r, info in remote.items() if not ((self.out_dir / r).is_file() and _same(self.out_dir / r, info))]
        self.store.download(wanted, self.out_dir)
        done.files, done.unchanged = len(wanted), len(remote) - len(wanted)
        done.bytes = sum(remote[r]["size"] for r in wanted)
        if name and (self.out_dir / SNAPSHOTS / name).is_dir():
            wh = OutFolder(self.out_dir)
            if wh.current_snapshot() != (wh.snapshots_dir / name).resolve():
                _symlink_replace(f"{SNAPSHOTS}/{name}", wh.current_link)
            ensure_layout(self.out_dir)
        self._pulled_staging = set(_local_files(self.out_dir, self.staging))
        done.seconds = time.perf_counter() - started
        return done

    def push(self) -> Transfer:
        """Send what this step changed (module docstring): files first, then the `current` object, then
        removals (staged files the step moved away, earlier runs' staging once published, old snapshots)."""
        started = time.perf_counter()
        done = Transfer()
        snapshot = OutFolder(self.out_dir).current_snapshot()
        published = snapshot is not None and snapshot.name == self.run_id  # this run's staging is superseded
        stored = self.store.current()
        parts = [HISTORY, SUMMARY_FILE] + ([] if published else [self.staging])
        parts += [f"{SNAPSHOTS}/{snapshot.name}"] if snapshot is not None else []
        local = {r: p for rel in parts for r, p in _local_files(self.out_dir, rel).items()}
        sources = parts + [self.staging] + ([f"{SNAPSHOTS}/{stored}"] if stored else [])  # copy sources
        remote = {r: info for rel in dict.fromkeys(sources) for r, info in self.store.listing(rel).items()}
        self._send(local, remote, done)
        self._send_new_dq_results(done)
        if snapshot is not None and stored != snapshot.name:
            self.store.set_current(snapshot.name)
            done.deleted += self._prune_snapshots(snapshot.name, stored)
        if published:
            gone = sorted(self.store.listing(STAGING))  # publish supersedes every earlier run's staging too
        else:
            gone = sorted(r for r in self._pulled_staging if r in remote and r not in local)
        self.store.delete(gone)
        done.deleted += len(gone)
        done.seconds = time.perf_counter() - started
        return done

    def _send(self, local: dict[str, Path], remote: dict[str, dict], done: Transfer) -> None:
        """Upload the local files the store lacks or holds different; copy inside the store those whose
        bytes it already holds under another key (same size and ETag)."""
        by_content = {(info["size"], info["etag"]): rel for rel, info in remote.items()}
        upload, copies = {}, []
        for rel, path in local.items():
            if _same(path, remote.get(rel)):
                done.unchanged += 1
                continue
            source = by_content.get((path.stat().st_size, local_etag(path)))
            if source is not None:
                copies.append((source, rel))
            else:
                upload[rel] = path
        self.store.copy(copies)
        self.store.upload(upload)
        done.copied += len(copies)
        done.files += len(upload)
        done.bytes += sum(p.stat().st_size for p in upload.values())

    def _send_new_dq_results(self, done: Transfer) -> None:
        """dq_results only grows (one new file per check step and run): the files written since the pull."""
        new = {r: p for r, p in _local_files(self.out_dir, DQ_RESULTS).items() if p.stat().st_mtime >= self._started}
        self.store.upload(new)
        done.files += len(new)
        done.bytes += sum(p.stat().st_size for p in new.values())

    def _prune_snapshots(self, current: str, previous: str | None) -> int:
        """Remove the store's snapshots beyond the newest keep_snapshots: the current one, the one it
        replaced, then the others by their latest object (S3 times have whole seconds)."""
        objects = self.store.listing(SNAPSHOTS)
        newest: dict[str, object] = {}
        for rel, info in objects.items():
            name = rel.split("/")[1]
            newest[name] = max(newest.get(name, info["modified"]), info["modified"])
        ranked = sorted(newest, key=lambda n: (n == current, n == previous, newest[n]), reverse=True)
        drop = set(ranked[max(self.keep_snapshots, 1):]) - {current}
        gone = [rel for rel in objects if rel.split("/")[1] in drop]
        self.store.delete(gone)
        return len(gone)


def open_sync(remote_url: str, out_dir: Path, run_id: str, keep_snapshots: int = 2) -> StepSync | None:
    """The pull/push pair for one step of run `run_id`; None when remote_url is empty (local only)."""
    if not remote_url or not run_id:
        return None
    return StepSync(RemoteStore(remote_url), Path(out_dir), run_id, keep_snapshots)
