"""Run settings: declared once, here (issue 17 item 3).

Every setting of a run is a field of `RunSettings` declared with `setting(...)`: its type (the annotation),
default, help text, environment variable (ASM_*), command-line option of `asm run`, and the bounds a
value must respect. The rest is derived from these fields (`run_settings()`), so a new setting touches
this file only:
- the ASM_* mapping: `settings_from_env` / `settings_to_env` (`dagster dev`, the step processes of a
  multiprocess run, the Kubernetes pods);
- the Dagster resource's config fields (assets.runtime.resources.AsmResource);
- the options of `asm run` (pipelines.cli.commands.run).
A field declared without `setting(...)` (run_tag) is set per run, by the code, and is none of these.
"""
from __future__ import annotations

import os
import sys
import typing
from dataclasses import MISSING, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from pipelines.engine.methodology import DEFAULT_PERFORMANCE_YEAR
from pipelines.engine.warehouse import OutFolder

DEFAULT_SCHEDULED_RETRIES = 2  # UI and scheduled runs retry a transient step failure twice

_META = "asm_setting"


def setting(default: Any = MISSING, *, help: str, env: str, cli: str, metavar: str | None = None,
            env_default: Any = MISSING, minimum: int | None = None, check: str = "") -> Any:
    """A field of RunSettings that is a run setting.

    help: one line for people (the `asm run --help` text and the resource's field description);
    env: its ASM_* variable; cli: its `asm run` option; metavar: the option's placeholder;
    env_default: the value when the variable is not set, if not `default` (what `dagster dev` and
    scheduled runs use); minimum: the least whole number allowed; check: a named format the value must
    have ("memory_size": e.g. 16GB; "tin": 9-digit TINs; "shard_count": at most MAX_SHARDS), which each
    reader checks its own way."""
    meta = {_META: {"help": help, "env": env, "cli": cli, "metavar": metavar, "env_default": env_default,
                    "minimum": minimum, "check": check}}
    if isinstance(default, tuple):  # immutable, but dataclasses want a factory for anything but scalars
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Setting:
    """One run setting as `run_settings()` describes it (derived from a RunSettings field)."""

    name: str
    kind: str  # "path", "optional_path", "int", "str", "bool" or "strings" (from the field's annotation)
    help: str
    env: str
    cli: str
    metavar: str | None
    minimum: int | None
    check: str
    default: Any  # MISSING: required (no default)
    env_default: Any  # the value when `env` is not set (MISSING: required too)

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def to_text(self, value: Any) -> str:
        """The value as its environment variable holds it."""
        if self.kind == "bool":
            return "1" if value else "0"
        if self.kind == "strings":
            return ",".join(value)
        if self.kind == "optional_path":
            return str(value or "")
        return str(value)

    def from_text(self, text: str) -> Any:
        """The value an environment variable holds (the inverse of `to_text`)."""
        if self.kind == "bool":
            return text == "1"
        if self.kind == "strings":
            return tuple(t for t in text.split(",") if t)
        if self.kind == "optional_path":
            return Path(text) if text else None
        if self.kind == "path":
            return Path(text)
        if self.kind == "int":
            return int(text)
        return text

    def to_plain(self, value: Any) -> Any:
        """The value as plain config (str, int, bool, list of str: the Dagster resource's fields)."""
        if self.kind in ("path", "optional_path"):
            return self.to_text(value)
        if self.kind == "strings":
            return list(value)
        return value

    def from_plain(self, value: Any) -> Any:
        """The inverse of `to_plain`."""
        if self.kind in ("path", "optional_path"):
            return self.from_text(value)
        if self.kind == "strings":
            return tuple(value)
        return value

    @property
    def plain_type(self) -> type:
        """The type of `to_plain`'s values."""
        return {"path": str, "optional_path": str, "strings": list[str], "int": int, "bool": bool}.get(self.kind, str)


_KINDS = {Path: "path", Path | None: "optional_path", int: "int", str: "str", bool: "bool",
          tuple[str, ...]: "strings"}


def _kind(annotation: Any) -> str:
    if annotation in (Path, int, str, bool):
        return {Path: "path", int: "int", str: "str", bool: "bool"}[annotation]
    args = typing.get_args(annotation)
    if set(args) == {Path, type(None)}:
        return "optional_path"
    if typing.get_origin(annotation) is tuple and args == (str, Ellipsis):
        return "strings"
    raise TypeError(f"RunSettings: no setting kind for {annotation!r}")


@dataclass
class RunSettings:
    """The settings of one run. The order of the fields is the order of `asm run --help`."""

    input_dir: Path = setting(help="folder of claims and side files", env="ASM_INPUT_DIR", cli="--input",
                              env_default=Path("data/sample/input"))
    out_dir: Path = setting(help="output folder: warehouse/ and reports/ (links to the current snapshot), "
                                 "snapshots/, run_summary.json; one run at a time",
                            env="ASM_OUT_DIR", cli="--out", env_default=Path("out"))
    performance_year: int = setting(DEFAULT_PERFORMANCE_YEAR, env="ASM_PERFORMANCE_YEAR", cli="--performance-year",
                                    metavar="YEAR", help="the PY to score: one configured in "
                                    "data/methodology/methodology.toml (2027-2031)")
    config_file: Path | None = setting(None, env="ASM_CONFIG", cli="--config", help="methodology overrides "
                                       "(TOML, same structure as data/methodology/methodology.toml)")
    tins: tuple[str, ...] = setting((), env="ASM_TINS", cli="--tin", check="tin",
                                    help="restrict reports (not benchmarks) to these TINs, comma-separated")
    threads: int = setting(0, env="ASM_THREADS", cli="--threads", minimum=0,
                           help="DuckDB threads, and processes drawing scorecards (default 0: all cores)")
    memory_limit: str = setting("", env="ASM_MEMORY_LIMIT", cli="--memory-limit", check="memory_size",
                                help="memory budget of the run, e.g. 16GB: DuckDB gets 80% of it but leaves at least 1GB to the "
                                     "rest of the process (4GB: DuckDB 3GB) and spills to OUT/.tmp beyond that "
                                     "(default: DuckDB's own, 80% of RAM)")
    keep_snapshots: int = setting(2, env="ASM_KEEP_SNAPSHOTS", cli="--keep-snapshots", metavar="N", minimum=0,
                                  help="published snapshots kept in OUT/snapshots, the current one included "
                                       "(default 2)")
    step_retries: int = setting(0, env="ASM_STEP_RETRIES", cli="--retries", metavar="N", minimum=0,
                                env_default=DEFAULT_SCHEDULED_RETRIES,
                                help="retry a step that failed for a transient reason (I/O, memory) N times "
                                     "(default 0)")
    shards: int = setting(1, env="ASM_SHARDS", cli="--shards", metavar="N", minimum=1, check="shard_count",
                          help="split the beneficiaries into N hash shards: the episode stage runs one step per "
                               "shard (results do not depend on N; default 1)")
    workers: int = setting(1, env="ASM_WORKERS", cli="--workers", metavar="N", minimum=1,
                           help="run up to N steps at once, each in its own process (Dagster's multiprocess "
                                "executor; shard steps in parallel); default 1: every step in this process")
    remote_url: str = setting("", env="ASM_REMOTE_URL", cli="--remote-url", metavar="URL",
                              help="object store the steps exchange tables through, e.g. s3://bucket/prefix "
                                   "(credentials and endpoint from the AWS_* variables; docs/scale-out.md); "
                                   "default: local only")
    # issue 21: a run stops on an incomplete delivery or implausible amounts unless told to accept them (the
    # acceptance is recorded in provenance.json / run_summary.json)
    accept_incomplete: tuple[str, ...] = setting(
        (), env="ASM_ACCEPT_INCOMPLETE", cli="--accept-incomplete", metavar="FILES_OR_MONTHS",
        help="run on although these deliveries are incomplete: input file names or months (YYYY-MM), "
             "comma-separated (a delivery with no rows loaded, a missing month, a month far below its neighbours)")
    accept_amounts: bool = setting(False, env="ASM_ACCEPT_AMOUNTS", cli="--accept-amounts",
                                   help="run on although allowed amounts or a cohort's mean episode cost lie "
                                        "outside the plausible bands (methodology ingest.em_allowed_band, "
                                        "costs.reference_max_factor)")
    quiet: bool = setting(False, env="ASM_QUIET", cli="--quiet", env_default=True,
                          help="no progress output (for schedulers)")
    run_tag: str = ""  # set per run (the Dagster run id): tables are staged, then published (issue 6)

    def __post_init__(self) -> None:
        from pipelines.engine.shards import check_shard_count

        check_shard_count(self.shards)
        self.input_dir = Path(self.input_dir)
        self.out_dir = Path(self.out_dir)
        if self.config_file:
            self.config_file = Path(self.config_file)

    @property
    def warehouse(self) -> OutFolder:
        """Where this run reads and writes its tables (pipelines.engine.warehouse)."""
        return OutFolder(self.out_dir, self.run_tag)

    @property
    def temp_dir(self) -> Path:
        return self.warehouse.tmp_dir

    # The warehouse's paths, for convenience.
    @property
    def warehouse_dir(self) -> Path:
        return self.warehouse.warehouse_dir

    @property
    def reports_dir(self) -> Path:
        return self.warehouse.reports_dir

    @property
    def staging_dir(self) -> Path | None:
        return self.warehouse.staging_dir

    @property
    def reports_write_dir(self) -> Path:
        return self.warehouse.reports_write_dir

    def table_path(self, table: str) -> Path:
        return self.warehouse.table_path(table)

    def read_path(self, table: str) -> Path:
        return self.warehouse.read_path(table)

    def progress(self, message: str) -> None:
        """Progress for people; schedulers pass --quiet. Never pass beneficiary ids here."""
        if not self.quiet:
            print(f"  {message}", file=sys.stderr, flush=True)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or taskset's share), else all."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def capped_workers(workers: int) -> tuple[int, str]:
    """`--workers` capped at the usable cores (issue 21 item 6: 64 step processes on 2 cores took 6x longer
    than 2), and the one-line note saying so ('' when not capped)."""
    cores = usable_cores()
    if workers <= cores:
        return workers, ""
    return cores, (f"--workers {workers} is more than the {cores} cores this run can use: running at most {cores} "
                   "steps at once")


@lru_cache(maxsize=None)
def run_settings() -> tuple[Setting, ...]:
    """Every run setting (the RunSettings fields declared with `setting(...)`), in declaration order."""
    hints = typing.get_type_hints(RunSettings)
    out = []
    for f in fields(RunSettings):
        meta = f.metadata.get(_META)
        if meta is None:
            continue
        default = f.default if f.default_factory is MISSING else f.default_factory()
        env_default = default if meta["env_default"] is MISSING else meta["env_default"]
        out.append(Setting(name=f.name, kind=_kind(hints[f.name]), help=meta["help"], env=meta["env"],
                           cli=meta["cli"], metavar=meta["metavar"], minimum=meta["minimum"], check=meta["check"],
                           default=default, env_default=env_default))
    return tuple(out)


def settings_from_env(environ: Mapping[str, str] | None = None) -> RunSettings:
    """Settings for `dagster dev` / `dagster definitions validate` (ASM_* environment variables), and
    for the step processes of a multiprocess run (which `settings_to_env` describes). A variable that
    is not set gives the setting's `env_default`."""
    environ = os.environ if environ is None else environ
    values = {}
    for s in run_settings():
        text = environ.get(s.env)
        values[s.name] = s.env_default if text is None else s.from_text(text)
    return RunSettings(**values)


def settings_to_env(settings: RunSettings) -> dict[str, str]:
    """The ASM_* variables that make `settings_from_env` return `settings` (but its run_tag)."""
    return {s.env: s.to_text(getattr(settings, s.name)) for s in run_settings()}
