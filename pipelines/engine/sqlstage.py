"""SQL stages: each folder of `sql/` holds its statements numbered in execution order and a
`manifest.toml` listing its steps, their inputs and outputs. The engine runs a stage by reading its
manifest; nothing else knows the order of a stage's SQL files.

A manifest:

    stage = "episodes"                      # the engine stage that runs this folder
    description = "..."
    inputs = ["partb_src", ...]             # relations registered before the first step

    [[steps]]                               # in execution order
    file = "21_cohort_lines.sql"            # one statement
    creates = "cohort_lines"                # CREATE TEMP TABLE cohort_lines AS <statement>
    view = false                            # true: CREATE TEMP VIEW instead (re-read at each use)
    reads = ["partb_src", "code_lists"]     # relations the statement reads
    rules = ["E1", "C1", "L"]

    [[steps]]
    file = "33_partb_lines.sql"
    writes = "partb_lines"                  # COPY (<statement>) TO the warehouse table
    ...
    [[steps]]
    hook = "quarantine_rate"                # a Python function of the stage, run at this point
    creates = ["..."]                       # (hooks may create relations, or write a table: writes =)

    [[templates]]                           # statements the stage's Python renders itself (per file…)
    file = "10_read_csv.sql"
    used_by = "stage_files"

`python -m pipelines.engine.sqlstage --markdown` prints the table of every stage's steps (README).
"""
from __future__ import annotations

import re
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb

from pipelines.engine.duck import placeholders, query_sql_file
from pipelines.engine.paths import SQL_DIR
from pipelines.engine.warehouse import write_query  # the sorted, atomic table write (one home)

MANIFEST = "manifest.toml"


class ManifestError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    file: str | None  # relative to the stage folder; None for a hook
    creates: tuple[str, ...] = ()
    writes: str | None = None
    hook: str | None = None
    reads: tuple[str, ...] = ()
    drops: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    description: str = ""
    view: bool = False

    @property
    def name(self) -> str:
        return self.writes or self.hook or (self.creates[0] if self.creates else str(self.file))


@dataclass(frozen=True)
class Template:
    file: str
    used_by: str
    rules: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Manifest:
    folder: str  # e.g. "20_episodes"
    stage: str
    description: str
    inputs: tuple[str, ...]
    steps: tuple[Step, ...]
    templates: tuple[Template, ...] = ()

    def path(self, file: str) -> str:
        return f"{self.folder}/{file}"

    @property
    def created(self) -> tuple[str, ...]:
        return tuple(c for s in self.steps for c in s.creates)

    @property
    def written(self) -> tuple[str, ...]:
        return tuple(s.writes for s in self.steps if s.writes)

    def sql_files(self) -> list[str]:
        return [s.file for s in self.steps if s.file] + [t.file for t in self.templates]

    def step(self, file: str) -> Step:
        """The SQL step of this manifest that runs `file` (e.g. "22_trigger_candidates.sql")."""
        for s in self.steps:
            if s.file == file:
                return s
        raise ManifestError(f"{self.folder}: no step runs {file}")


def _tuple(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    return (v,) if isinstance(v, str) else tuple(v)


def load_manifest(folder: str) -> Manifest:
    path = SQL_DIR / folder / MANIFEST
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"{path}: {exc}") from None
    steps = []
    for s in raw.get("steps", []):
        unknown = set(s) - {"file", "creates", "writes", "hook", "reads", "drops", "rules", "description", "view"}
        if unknown:
            raise ManifestError(f"{path}: unknown step key(s) {sorted(unknown)}")
        steps.append(Step(file=s.get("file"), creates=_tuple(s.get("creates")), writes=s.get("writes"),
                          hook=s.get("hook"), reads=_tuple(s.get("reads")), drops=_tuple(s.get("drops")),
                          rules=_tuple(s.get("rules")), description=s.get("description", ""),
                          view=bool(s.get("view", False))))
    templates = tuple(Template(t["file"], t["used_by"], _tuple(t.get("rules")), t.get("description", ""))
                      for t in raw.get("templates", []))
    return Manifest(folder, raw["stage"], raw.get("description", ""), _tuple(raw.get("inputs")), tuple(steps),
                    templates)


def manifests() -> list[Manifest]:
    return [load_manifest(p.parent.name) for p in sorted(SQL_DIR.glob(f"*/{MANIFEST}"))]


# --------------------------------------------------------------------------------------------
# Running a stage


@dataclass
class StageRun:
    """What running a manifest did: seconds per step and rows per written table."""

    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


def run_manifest(con: duckdb.DuckDBPyConnection, manifest: Manifest, values: dict[str, Any], *,
                 write_path: Callable[[str], Path] | None = None,
                 shards: Callable[[str], int] | None = None,
                 hooks: dict[str, Callable[[], None]] | None = None,
                 progress: Callable[[str], None] | None = None, run: StageRun | None = None) -> StageRun:
    """Run every step of `manifest` in order on `con`. `values` fill the {{placeholders}} (each file
    gets the ones it uses); `write_path(table)` says where a `writes` step's Parquet goes and
    `shards(table)` in how many beneficiary shards (pipelines.engine.shards; default 1); `hooks` are the
    stage's Python steps."""
    run = run or StageRun()
    say = progress or (lambda _m: None)
    hooks = hooks or {}
    for step in manifest.steps:
        t0 = time.perf_counter()
        if step.hook:
            if step.hook not in hooks:
                raise ManifestError(f"{manifest.folder}: hook {step.hook!r} has no function")
            rows = hooks[step.hook]()
            if step.writes:  # a hook that writes a table returns its row count
                run.rows[step.writes] = rows
        else:
            rows = run_sql_step(con, manifest, step, values, write_path=write_path, shards=shards)
            if step.writes:
                run.rows[step.writes] = rows
        for table in step.drops:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        run.seconds[step.name] = round(time.perf_counter() - t0, 3)
        say(f"{manifest.stage}: {step.name} {run.seconds[step.name]:.1f}s")
    return run


def run_sql_step(con: duckdb.DuckDBPyConnection, manifest: Manifest, step: Step, values: dict[str, Any], *,
                 write_path: Callable[[str], Path] | None = None,
                 shards: Callable[[str], int] | None = None) -> int | None:
    """Run one SQL step of `manifest` on `con` (its reads must already exist there): render its
    {{placeholders}} from `values`, then CREATE its temp table / view, or write its table (returns the
    row count). `run_manifest` runs every step through this; per-step SQL tests run one step alone."""
    rel = manifest.path(step.file)
    wanted = placeholders(rel)
    missing = wanted - set(values)
    if missing:
        raise ManifestError(f"{rel}: no value for placeholder(s) {sorted(missing)}")
    sql = query_sql_file(con, rel, **{k: values[k] for k in wanted})
    if step.writes:
        if write_path is None:
            raise ManifestError(f"{rel}: writes {step.writes} but the stage gave no write_path")
        return write_query(con, sql, write_path(step.writes), shards(step.writes) if shards else 1)
    kind = "VIEW" if step.view else "TABLE"
    con.execute(f"CREATE OR REPLACE TEMP {kind} {step.creates[0]} AS {sql}")
    return None


# --------------------------------------------------------------------------------------------
# Checking manifests against their folders, and the README table

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def problems(manifest: Manifest) -> list[str]:
    """What is wrong with a manifest: files missing or unlisted, files out of numeric order, reads of
    relations no earlier step or input provides, reads not in the SQL, relations used undeclared."""
    out = []
    folder = SQL_DIR / manifest.folder
    on_disk = sorted(p.name for p in folder.glob("*.sql"))
    listed = manifest.sql_files()
    for f in sorted(set(on_disk) - set(listed)):
        out.append(f"{manifest.folder}/{f} is not in the manifest")
    for f in sorted(set(listed) - set(on_disk)):
        out.append(f"{manifest.folder}/{f} is listed but does not exist")
    numbers = [int(s.file.split("_", 1)[0]) for s in manifest.steps if s.file]
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
        out.append(f"{manifest.folder}: step files are not numbered in execution order: {numbers}")
    available = set(manifest.inputs)
    all_created = set(manifest.created)
    for step in manifest.steps:
        for r in step.reads:
            if r not in available:
                out.append(f"{manifest.folder}: {step.name} reads {r}, which no input or earlier step provides")
        if step.file and (folder / step.file).is_file():
            words = set(_WORD.findall(_strip_comments((folder / step.file).read_text())))
            for r in step.reads:
                if r not in words:
                    out.append(f"{manifest.folder}/{step.file}: declares it reads {r} but does not mention it")
            for name in (set(manifest.inputs) | all_created) & words:
                if name not in step.reads and name not in step.creates:
                    out.append(f"{manifest.folder}/{step.file}: uses {name} without declaring it in reads")
        available |= set(step.creates)
        available -= set(step.drops)
    return out


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def markdown_table() -> str:
    rows = ["| stage | step | SQL file | creates / writes | reads | rules |", "|---|---|---|---|---|---|"]
    for m in manifests():
        for i, s in enumerate(m.steps, start=1):
            what = f"writes `{s.writes}`" if s.writes else ", ".join(f"`{c}`" for c in s.creates)
            what += " (view)" if s.view else ""
            file = f"`{m.folder}/{s.file}`" if s.file else f"hook `{s.hook}`"
            rows.append(f"| {m.stage} | {i} | {file} | {what} | {', '.join(s.reads)} | {', '.join(s.rules)} |")
        for t in m.templates:
            rows.append(f"| {m.stage} | (template) | `{m.folder}/{t.file}` | used by `{t.used_by}` | | "
                        f"{', '.join(t.rules)} |")
    return "\n".join(rows) + "\n"


README_MARKERS = ("<!-- sql-steps:begin -->", "<!-- sql-steps:end -->")


def update_readme(readme) -> None:
    """Replace the README's SQL steps table (between its markers) with the generated one."""
    text = readme.read_text()
    head, rest = text.split(README_MARKERS[0], 1)
    _, tail = rest.split(README_MARKERS[1], 1)
    readme.write_text(f"{head}{README_MARKERS[0]}\n{markdown_table()}{README_MARKERS[1]}{tail}")


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["--markdown"]:
        print(markdown_table(), end="")
    elif sys.argv[1:] == ["--update-readme"]:
        from pipelines.engine.paths import REPO_ROOT

        update_readme(REPO_ROOT / "README.md")
    else:
        found = [p for m in manifests() for p in problems(m)]
        print("\n".join(found) or "manifests ok")
        sys.exit(1 if found else 0)
