"""Provenance. Code versions that cover the code: a stage's version is a hash of every file it runs
(Python modules, SQL, reference data) and of the effective methodology, so any change marks its tables
stale. Run-level provenance: every input file's name, size and SHA-256, the package version and git
commit, the methodology label and fingerprint. Nothing here imports Dagster."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from pipelines.engine.paths import REPO_ROOT

# Files every stage runs through.
SHARED_SOURCES = ("pipelines/engine/duck.py", "pipelines/engine/sqlstage.py", "pipelines/engine/warehouse.py", "pipelines/engine/settings.py",
                  "pipelines/engine/tables.py", "pipelines/engine/tables.toml",
                  "pipelines/engine/methodology", "sql/00_macros.sql")
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


# --------------------------------------------------------------------------------------------
# Run-level provenance (issue 11 item 3): what an auditor cites for a run.

HASH_CHUNK = 8 * 1024 * 1024


def file_sha256(path: Path, advance=None) -> str:
    """SHA-256 of a file's bytes (the one hashing of input files: provenance and the staging cache's key);
    `advance(n)` is told of every chunk read (a progress bar)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
            if advance is not None:
                advance(len(chunk))
    return h.hexdigest()


def input_files(input_dir: Path) -> list[Path]:
    """Every regular file under the input folder (sub-folders and hidden files included, links
    followed to files; folders reached through links are not entered), sorted by relative name."""
    out = []
    for root, dirs, files in os.walk(input_dir, followlinks=False):
        dirs.sort()
        out += [Path(root) / f for f in files if (Path(root) / f).is_file()]
    return sorted(out, key=lambda p: p.relative_to(input_dir).as_posix())


def input_manifest(input_dir: str | Path, show_progress: bool = False) -> list[dict]:
    """Name (relative to the input folder), size and SHA-256 of every input file. Files are hashed on
    two threads (hashlib releases the GIL); a progress bar on stderr when `show_progress`."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    folder = Path(input_dir)
    files = input_files(folder)
    sizes = [f.stat().st_size for f in files]
    with tqdm(total=sum(sizes), unit="B", unit_scale=True, desc="  hashing input files", leave=False,
              disable=not show_progress or None, file=sys.stderr) as bar, ThreadPoolExecutor(2) as pool:
        hashes = list(pool.map(lambda f: file_sha256(f, bar.update), files))
    return [{"file": f.relative_to(folder).as_posix(), "bytes": size, "sha256": digest}
            for f, size, digest in zip(files, sizes, hashes)]


def manifest_digest(manifest: list[dict]) -> str:
    """One SHA-256 over the manifest (names, sizes, hashes): equal digests mean the same input."""
    payload = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def git_commit() -> str | None:
    """The commit of the code that runs (with '+dirty' when files differ from it), or None outside a
    git checkout (an installed package)."""
    if not (REPO_ROOT / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


def package_version() -> str:
    import pipelines

    return pipelines.__version__


def run_identity(input_dir, out_dir, performance_year: int, config_file, methodology) -> dict[str, str]:
    """The run-level facts known before a run starts (Dagster run tags `asm/<key>`): strings only."""
    return {
        "input_dir": str(input_dir), "out_dir": str(out_dir), "performance_year": str(performance_year),
        "config_file": str(config_file or ""), "methodology_version": methodology.version,
        "methodology_label": methodology.label, "methodology_fingerprint": methodology.fingerprint,
        "package_version": package_version(), "git_commit": git_commit() or "",
    }


INPUTS_FILE = ".inputs.json"  # in a run's staging folder: the input manifest taken when the run started


def input_manifest_written(staging_dir: Path | None) -> bool:
    """Whether a run's first step already hashed its input (staged_input_manifest)."""
    return staging_dir is not None and (Path(staging_dir) / INPUTS_FILE).is_file()


def run_input_hashes(input_dir: Path, staging_dir: Path | None) -> dict[Path, str]:
    """SHA-256 of each input file as the run hashed it when it started (its staged manifest), by resolved path;
    empty outside a staged run (then a reader hashes what it reads itself)."""
    path = Path(staging_dir) / INPUTS_FILE if staging_dir is not None else None
    if path is None or not path.is_file():
        return {}
    folder = Path(input_dir).resolve()
    return {folder / m["file"]: m["sha256"] for m in json.loads(path.read_text())}


def staged_input_manifest(input_dir: Path, staging_dir: Path, show_progress: bool = False) -> list[dict]:
    """The input manifest of a run, hashed once when the run starts (kept in its staging folder, so
    every step and the summary cite the input as the run found it)."""
    path = Path(staging_dir) / INPUTS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    manifest = input_manifest(input_dir, show_progress)
    from pipelines.engine.warehouse import write_text

    write_text(path, json.dumps(manifest))
    return manifest


def recorded_provenance(out_dir: Path) -> dict:
    """What OUT/run_summary.json recorded of the last run (its provenance merged over the summary's own
    keys: input folder, PY, methodology config file, ...); {} before the first run."""
    from pipelines.engine.warehouse import OutFolder

    path = OutFolder(Path(out_dir)).summary_file
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {**summary, **summary.get("provenance", {})}
