"""Code versions that cover the code: a stage's version is a hash of every file it runs (Python
modules, SQL, reference data) and of the effective methodology, so any change marks its tables
stale. Nothing here imports Dagster."""
from __future__ import annotations

import hashlib
from pathlib import Path

from pipelines.paths import REPO_ROOT

# Files every stage runs through.
SHARED_SOURCES = ("pipelines/duck.py", "pipelines/sqlstage.py", "pipelines/warehouse.py", "pipelines/settings.py",
                  "pipelines/methodology.py", "sql/00_macros.sql")
_SKIP_SUFFIXES = (".pyc",)


def source_files(sources: tuple[str, ...] | list[str]) -> list[Path]:
    """Every file under the given repository paths (files or folders), sorted."""
    out: set[Path] = set()
    for rel in sources:
        p = REPO_ROOT / rel
        if p.is_dir():
            out |= {f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts
                    and not f.name.endswith(_SKIP_SUFFIXES)}
        elif p.is_file():
            out.add(p)
        else:
            raise FileNotFoundError(f"stage source {rel} does not exist")
    return sorted(out)


def files_fingerprint(sources: tuple[str, ...] | list[str]) -> str:
    h = hashlib.sha256()
    for f in source_files(sources):
        h.update(f.relative_to(REPO_ROOT).as_posix().encode())
        h.update(b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def stage_code_version(sources: tuple[str, ...] | list[str], methodology_fingerprint: str) -> str:
    """code_version of a stage's assets: its files + the shared engine files + the methodology."""
    return f"{files_fingerprint([*SHARED_SOURCES, *sources])}-{methodology_fingerprint}"
