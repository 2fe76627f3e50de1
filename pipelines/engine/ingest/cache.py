"""The staging cache: each claims file is read once into a typed Parquet file (its "staged" rows, with
a quarantine reason or none, plus the rows its reader could not split), kept under OUT/.ingest/ and
keyed by the file's name, SHA-256 and the version of the code that stages it. A nightly run that adds
one delivery reads only that file; a changed file (new checksum) is staged again; a removed file's
staged rows are dropped. Every rule after staging (N1-N6 across files) runs again over the staged
files, but for Part B netting, which a run that only adds deliveries re-does only for the groups they
touch (nightly.py, issue 20); the result is exactly that of a full rebuild.
"""
from __future__ import annotations

import hashlib
import shutil
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from pipelines.engine.ingest.files import InputFile
from pipelines.engine.provenance import files_fingerprint
from pipelines.engine.warehouse import atomic_path

# What decides a staged file's content besides the input bytes: readers, stage SQL, layouts, macros.
STAGE_SOURCES = ("pipelines/engine/ingest/readers.py", "pipelines/engine/ingest/files.py", "pipelines/engine/ingest/staging.py",
                 "sql/00_macros.sql", "sql/10_ingest/10_read_csv.sql", "sql/10_ingest/10_read_parquet.sql",
                 "sql/10_ingest/10_read_rif_carrier.sql", "sql/10_ingest/11_stage_partb.sql",
                 "sql/10_ingest/12_stage_cclf1.sql", "sql/10_ingest/13_stage_cclf4.sql",
                 "sql/10_ingest/14_stage_cclf8.sql", "sql/10_ingest/15_stage_cclf9.sql",
                 "sql/10_ingest/16_delivery_profile.sql", "data/reference/layouts")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StagedFile:
    """One input file as staged: where its typed rows and reader rejects are, and its counts."""

    name: str
    kind: str
    fmt: str
    size: int
    sha256: str
    stage_path: str
    rejects_path: str | None
    rows_read: int  # physical data rows: staged rows + reader rejects
    rows_rejected: int
    padded_records: int = 0  # fixed-width records padded with blanks past the record length (read, warned)
    profile: dict | None = None  # a Part B delivery's content profile (staging.delivery_profile)


class StagingCache:
    """OUT/.ingest/<stage version>/: staged Parquet files and a manifest of them."""

    def __init__(self, root: Path):
        self.version = files_fingerprint(STAGE_SOURCES)
        self.root = Path(root)
        self.dir = self.root / self.version
        self.dir.mkdir(parents=True, exist_ok=True)
        self._entries = self._load()
        self.restaged = 0  # files staged (not taken from the cache) in this run

    def _load(self) -> dict[str, StagedFile]:
        path = self.dir / MANIFEST
        if not path.is_file():
            return {}
        try:
            rows = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}  # an unreadable manifest only costs re-staging
        entries = {}
        for r in rows:
            e = StagedFile(**r)
            if Path(e.stage_path).is_file() and (e.rejects_path is None or Path(e.rejects_path).is_file()):
                entries[self._key(e.name, e.sha256)] = e
        return entries

    @staticmethod
    def _key(name: str, sha256: str) -> str:
        return f"{name}\0{sha256}"

    def paths_for(self, f: InputFile, sha256: str) -> tuple[Path, Path]:
        """Staged paths named by a hash of the file's name and content (no user text in the path:
        DuckDB reads the list of staged files, and names may hold glob characters)."""
        stem = hashlib.sha256(f"{f.name}\0{sha256}".encode()).hexdigest()[:24]
        return self.dir / f"{stem}-{f.kind}.parquet", self.dir / f"{stem}-{f.kind}.rejects.parquet"

    def lookup(self, f: InputFile, sha256: str) -> StagedFile | None:
        return self._entries.get(self._key(f.name, sha256))

    def store(self, entry: StagedFile) -> None:
        self._entries[self._key(entry.name, entry.sha256)] = entry
        self.restaged += 1

    def keep_only(self, used: list[StagedFile]) -> int:
        """Forget (and delete) staged files no current input file uses, and older stage versions.
        Writes the manifest. Returns how many staged files were removed."""
        keep = {self._key(e.name, e.sha256) for e in used}
        removed = 0
        for key, e in list(self._entries.items()):
            if key not in keep:
                for p in (e.stage_path, e.rejects_path):
                    if p:
                        Path(p).unlink(missing_ok=True)
                del self._entries[key]
                removed += 1
        for other in self.root.iterdir():
            if other.is_dir() and other != self.dir:

                shutil.rmtree(other, ignore_errors=True)
        with atomic_path(self.dir / MANIFEST) as tmp:
            tmp.write_text(json.dumps([asdict(e) for e in sorted(self._entries.values(), key=lambda e: e.name)],
                                      indent=1))
        return removed
