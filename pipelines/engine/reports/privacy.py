"""The reports' privacy guard: no file may show a beneficiary id; a TIN's folder (and everything below it:
lines pages, CSV, workbook) may show no NPI of another TIN; files at the top (index, cohort summary) may show
no NPI at all. Every file is read as text: HTML, CSV, SVG and JSON as written, XLSX as its XML. Tokens are
alphanumeric runs of the text.

The files are tokenized in Polars (a regex over many files' texts at once, in Rust), only runs as long as the
shortest id (a maximal run of at least that length is what the regex matches), and the tokens matched against
the id sets with joins: Python's regex and sets took a tenth of the reports stage."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.engine.reports import charts
from pipelines.engine.reports.excel import workbook_text
from pipelines.engine.reports.inputs import tin_folder
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import scan_frame

TOKEN = "[A-Za-z0-9]"  # a token: a maximal run of these
TEXT_SUFFIXES = (".html", ".csv", ".svg", ".json", ".css", ".txt")
BATCH_BYTES = 64 << 20  # text tokenized at once (memory: a few times this)


class PrivacyError(Exception):
    pass


def beneficiary_ids(settings: RunSettings) -> pl.Series:
    frames = [scan_frame(settings.read_path(table)).select(pl.col("bene_id").cast(pl.String))
              for table in ("partb_lines", "episodes") if settings.read_path(table).exists()]
    if not frames:
        return pl.Series("token", [], pl.String)
    return pl.concat(frames).unique().drop_nulls().collect()["bene_id"].rename("token")


def file_text(path: Path) -> str:
    """What a person can read in a report file."""
    if path.suffix == ".xlsx":
        return workbook_text(path)
    if path.suffix in TEXT_SUFFIXES:
        return path.read_text(encoding="utf-8")
    return path.read_bytes().decode("utf-8", errors="replace")


def _read(out_dir: Path, files: list[Path]) -> list[tuple[str, str | None, str]]:
    """(relative path, folder at the top or None, text) of each file."""
    return [(str(rel), rel.parts[0] if len(rel.parts) > 1 else None, file_text(f))
            for f, rel in ((f, f.relative_to(out_dir)) for f in files)]


def _batches(out_dir: Path, files: list[Path]):
    """The files read in batches of about BATCH_BYTES on disk, the next batch read (in a thread) while the
    caller tokenizes this one."""
    groups, group, size = [], [], 0
    for f in files:
        group.append(f)
        size += f.stat().st_size
        if size >= BATCH_BYTES:
            groups.append(group)
            group, size = [], 0
    groups += [group] if group else []
    if not groups:
        return
    with ThreadPoolExecutor(1) as reader:
        ahead = reader.submit(_read, out_dir, groups[0]) if groups else None
        for nxt in groups[1:] + [None]:
            batch = ahead.result()
            ahead = reader.submit(_read, out_dir, nxt) if nxt else None
            yield batch


def _violation(texts: pl.DataFrame, bene: pl.Series, owners: pl.DataFrame, lengths: pl.Series) -> str | None:
    """The first file of `texts` (file, top, text) showing a beneficiary id or an NPI it may not show. Only
    tokens as long as an id are kept (`lengths`), and only runs at least as long as the shortest are read."""
    shortest = lengths.min() or 1
    tokens = (texts.lazy().select("file", "top", pl.col("text").str.extract_all(f"{TOKEN}{{{shortest},}}").alias("token"))
              .explode("token").filter(pl.col("token").str.len_bytes().is_in(lengths.implode()))
              .unique(["file", "token"]).collect())
    hit = tokens.filter(pl.col("token").is_in(bene.implode()))
    if hit.height:
        return f"{hit['file'].sort()[0]} would show a beneficiary id"
    # an NPI is allowed only in the folder of a TIN it bills under (owners: top, token = npi)
    npis = tokens.filter(pl.col("token").is_in(owners["token"].implode()))
    hit = npis.join(owners, on=["top", "token"], how="anti")
    if hit.height:
        where = "an NPI of another TIN" if hit.filter(pl.col("top").is_not_null()).height else "an NPI"
        return f"{hit['file'].sort()[0]} would show {where}"
    return None


@dataclass
class PrivacyGuard:
    """What no report may show: the run's beneficiary ids, and which TIN folder may show which NPI. Read once
    per process (a process drawing scorecards scans the folders it wrote: `scan`)."""

    bene: pl.Series
    owners: pl.DataFrame  # top (a TIN's folder), token (an NPI billing under it)
    lengths: pl.Series  # the lengths of the ids: only tokens as long are looked up

    @classmethod
    def read(cls, settings: RunSettings) -> "PrivacyGuard":
        bene = beneficiary_ids(settings)
        elig = settings.warehouse.read("eligibility", ["tin", "npi"]).drop_nulls()
        owners = (elig.select(pl.col("tin").map_elements(tin_folder, return_dtype=pl.String).alias("top"),
                              pl.col("npi").cast(pl.String).alias("token")).unique())
        return cls(bene, owners, pl.concat([bene, owners["token"]]).str.len_bytes().unique())

    def scan(self, out_dir: Path, files: list[Path]) -> None:
        """Raise PrivacyError naming the first file of `files` (under `out_dir`) that shows what it may not."""
        for batch in _batches(out_dir, files):
            self.check(batch)

    def check(self, batch: list[tuple[str, str | None, str]]) -> None:
        """Raise PrivacyError naming the first file of `batch` (file, top, text) that shows what it may not."""
        columns = zip(*batch) if batch else ([], [], [])  # built by column: by row took a fifth of the scan
        texts = pl.DataFrame(dict(zip(("file", "top", "text"), map(list, columns))),
                             schema={"file": pl.String, "top": pl.String, "text": pl.String})
        why = _violation(texts, self.bene, self.owners, self.lengths)
        if why:
            raise PrivacyError(f"{why}; nothing written")

    def summary(self, files: int) -> dict:
        return {"files": files, "beneficiary_ids_checked": self.bene.len(), "npis_checked": self.owners["token"].n_unique()}


def report_files(out_dir: Path, folders: set[str] | None = None, top_files: bool = True) -> list[Path]:
    """The files under `out_dir`: those at the top (`top_files`) and those in the folders `folders` (default all)."""
    if folders is not None and not folders:  # the files at the top only: the ~46,000 files below are not walked
        return sorted(f for f in out_dir.iterdir() if f.is_file()) if top_files else []
    files = []
    for f in sorted(out_dir.rglob("*")):
        rel = f.relative_to(out_dir)
        top = rel.parts[0] if len(rel.parts) > 1 else None
        if f.is_file() and (top_files if top is None else (folders is None or top in folders)):
            files.append(f)
    return files


Written = dict  # path -> the text a writer wrote there: a str, or parts (str or UTF-8 bytes) written one after another


def written_text(parts) -> str:
    """The text of a `Written` entry (what `file_text` reads back from the file, but for line endings)."""
    if isinstance(parts, str):
        return parts
    return "".join(x.decode("utf-8") if isinstance(x, bytes) else x for x in parts)


class FolderScan:
    """Scans TIN folders as their writer finishes each (`add`), as `PrivacyGuard.scan` of their files read back would:
    each folder's files as listed on disk, in the same order and batches of about BATCH_BYTES on disk, so the
    same file is refused with the same words. A file's text is the one its writer kept (`Written`) rather
    than read back; a file the writer did not keep (workbook, about.json) is read. Memory: one batch and
    the texts of the folder being written."""

    def __init__(self, guard: PrivacyGuard, out_dir: Path):
        self.guard, self.out_dir = guard, out_dir
        self.batch: list[tuple[str, str | None, str]] = []
        self.size = self.files = 0

    def add(self, tin: str, written: Written) -> None:
        """Scan (or queue for the next batch) the files of `tin`'s folder; `written` is emptied."""
        for f in report_files(self.out_dir / tin_folder(tin)):
            rel = f.relative_to(self.out_dir)
            parts = written.pop(f, None)
            self.batch.append((str(rel), rel.parts[0] if len(rel.parts) > 1 else None,
                               file_text(f) if parts is None else written_text(parts)))
            self.size += f.stat().st_size
            self.files += 1
            if self.size >= BATCH_BYTES:
                self._check()
        written.clear()

    def _check(self) -> None:
        batch, self.batch, self.size = self.batch, [], 0
        self.guard.check(batch)

    def finish(self) -> int:
        """Scan what is queued; returns how many files were scanned."""
        if self.batch:
            self._check()
        return self.files


def privacy_scan(settings: RunSettings, out_dir: Path, only: list[str] | None = None,
                 guard: PrivacyGuard | None = None) -> dict:
    """Refuse reports that show a beneficiary id anywhere, another TIN's NPI in a TIN's folder, or any NPI
    at the top of the reports folder. `only`: the TIN folders to scan (plus the top-level files); default all."""
    guard = guard or PrivacyGuard.read(settings)
    files = report_files(out_dir, None if only is None else {tin_folder(t) for t in only})
    vendored = [f for f in files if charts.is_runtime(f)]  # the Vega runtime as shipped: code, not data
    guard.scan(out_dir, [f for f in files if f not in vendored])
    return guard.summary(len(files) - len(vendored)) | {"not_scanned": [str(f.relative_to(out_dir)) for f in vendored]}
