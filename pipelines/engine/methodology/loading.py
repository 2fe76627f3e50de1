"""Loading the methodology configuration: the values live in `data/methodology/methodology.toml`
(`[defaults.<section>]`, overridden per PY by `[performance_year.<PY>.<section>]`); a user's
`asm run --config FILE` has the same structure and is merged on top. Precedence, lowest first: base
[defaults], base [performance_year.<PY>], config [defaults], config [performance_year.<PY>] (so a user's
default is never shadowed by a base per-PY value). Unknown keys are refused in every file and PY table,
and every PY is validated, whichever runs. The merged result is validated against the schema; any
problem is a one-line `MethodologyError` naming the file and the dotted key.

Code reads parameters only through `Methodology` (`m.get("risk.lookback_days")` for plain values, or
typed: `m.risk.lookback_days`), so changing a parameter is a data change that marks assets stale (the
fingerprint is part of each asset's code_version).
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipelines.engine.methodology.schema import DEFAULT_PERFORMANCE_YEAR, SECTIONS, MethodologyParams, _show
from pipelines.engine.paths import METHODOLOGY_DIR, REPO_ROOT

BASE_FILE = METHODOLOGY_DIR / "methodology.toml"
FILE_KEYS = ("version", "defaults", "performance_year")


class MethodologyError(ValueError):
    """A methodology configuration that cannot be used. str() is one line naming the file and the key."""

    def __init__(self, message: str):
        super().__init__(_one_line(message))


def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# ---------------------------------------------------------------------------------- the loaded config

@dataclass(frozen=True)
class Methodology:
    performance_year: int
    version: str
    params: dict[str, Any] = field(repr=False)
    sources: tuple[str, ...] = ()

    def get(self, dotted: str) -> Any:
        node: Any = self.params
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise MethodologyError(f"methodology parameter '{dotted}' is not set (PY {self.performance_year})")
            node = node[part]
        return node

    @property
    def fingerprint(self) -> str:
        """Hash of the effective (validated) values and the PY: any changed value changes it."""
        payload = json.dumps({"py": self.performance_year, "params": self.params}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """The version, plus '+<8 hex of the fingerprint>' when the values differ from the base file's."""
        try:
            default = _default_fingerprint(int(self.performance_year))
        except (MethodologyError, OSError, ValueError, TypeError):
            default = None
        return self.version if self.fingerprint == default else f"{self.version}+{self.fingerprint[:8]}"

    @functools.cached_property
    def model(self) -> MethodologyParams:
        """The validated, typed parameters of this PY."""
        try:
            return MethodologyParams.model_validate(self.params)
        except ValidationError as exc:
            raise MethodologyError(f"methodology parameters (PY {self.performance_year}): "
                                   f"{_describe(exc, [])[1]}") from None

    ingest = property(lambda self: self.model.ingest)
    risk = property(lambda self: self.model.risk)
    benchmarks = property(lambda self: self.model.benchmarks)
    quality = property(lambda self: self.model.quality)
    admissions = property(lambda self: self.model.admissions)
    scoring = property(lambda self: self.model.scoring)
    payment = property(lambda self: self.model.payment)
    eligibility = property(lambda self: self.model.eligibility)
    episodes = property(lambda self: self.model.episodes)
    attribution = property(lambda self: self.model.attribution)
    costs = property(lambda self: self.model.costs)
    projection = property(lambda self: self.model.projection)
    steering = property(lambda self: self.model.steering)


# ---------------------------------------------------------------------------------- loading

@dataclass(frozen=True)
class _File:
    label: str  # "config my.toml" / "methodology data/methodology/methodology.toml"
    path: Path
    raw: dict[str, Any]

    @property
    def defaults(self) -> dict[str, Any]:
        return self.raw.get("defaults", {})

    def year(self, py: str) -> dict[str, Any]:
        return self.raw.get("performance_year", {}).get(py, {})

def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    if not path.exists():
        raise MethodologyError(f"{label}: config file not found")
    if not path.is_file():
        raise MethodologyError(f"{label}: not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MethodologyError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MethodologyError(f"{label}: is not valid TOML: not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                               f"offset {exc.start}; binary file?)") from None
    if "\x00" in text:
        raise MethodologyError(f"{label}: is not valid TOML: contains NUL bytes (binary file?)")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MethodologyError(f"{label}: is not valid TOML: {exc}") from None


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _known(names) -> str:
    return ", ".join(names)


def _check_file(f: _File, known_years: list[str] | None) -> None:
    """Structure and key names of one file (base or override); values are checked after merging."""
    for key in f.raw:
        if key not in FILE_KEYS:
            raise MethodologyError(f"{f.label}: unknown key '{key}' (known: {_known(FILE_KEYS)})")
    version = f.raw.get("version")
    if (version is not None or known_years is None) and (not isinstance(version, str) or not version.strip()):
        raise MethodologyError(f"{f.label}: version = {_show(version)}: must be a non-empty string")
    tables = [("", "defaults", f.raw.get("defaults", {}))]
    years = f.raw.get("performance_year", {})
    if not isinstance(years, dict):
        raise MethodologyError(f"{f.label}: performance_year = {_show(years)}: must be a table of PY tables")
    for py, table in years.items():
        if known_years is None and not (py.isdigit() and len(py) == 4):
            raise MethodologyError(f"{f.label}: performance_year.{py}: must be a four-digit year")
        if known_years is not None and py not in known_years:
            raise MethodologyError(f"{f.label}: unknown performance year 'performance_year.{py}' "
                                   f"(known: {_known(known_years)})")
        tables.append((f" [performance_year.{py}]", f"performance_year.{py}", table))
    for where, dotted, table in tables:
        if not isinstance(table, dict):
            raise MethodologyError(f"{f.label}: {dotted} = {_show(table)}: must be a table")
        for name, section in table.items():
            if name not in SECTIONS:
                raise MethodologyError(f"{f.label}{where}: unknown section '{name}' (known: {_known(SECTIONS)})")
            if not isinstance(section, dict):
                raise MethodologyError(f"{f.label}: {dotted}.{name} = {_show(section)}: must be a table")
            fields = SECTIONS[name].model_fields
            for key in section:
                if key not in fields:
                    raise MethodologyError(f"{f.label}{where}: unknown key '{name}.{key}' (known: {_known(fields)})")


_BOUND = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"), "less_than_equal": ("<=", "le"),
          "less_than": ("<", "lt")}
_TYPE = {"int_type": "an integer", "int_parsing": "an integer", "float_type": "a number",
         "float_parsing": "a number", "string_type": "a string", "bool_type": "true or false",
         "list_type": "a list", "dict_type": "a table", "model_type": "a table",
         "model_attributes_type": "a table"}


def _explain(err: dict) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _BOUND:
        op, bound = _BOUND[kind]
        limit = ctx[bound]
        return f"must be {op} {int(limit) if isinstance(limit, float) and limit.is_integer() else limit}"
    if kind in _TYPE:
        return f"must be {_TYPE[kind]}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx['pattern']}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} item(s)"
    if kind == "missing":
        return "is not set"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"]


def _dotted(loc: tuple) -> tuple[str, list[str]]:
    """('costs', 'betos_category', 'm', '[key]') -> ('costs.betos_category.m', path parts for provenance)."""
    text, parts = "", []
    for item in loc:
        if item == "[key]":
            continue
        if isinstance(item, int):
            text += f"[{item}]"
        else:
            text += f".{item}" if text else str(item)
            parts.append(str(item))
    return text, parts


def _describe(exc: ValidationError, layers: list[tuple[str, dict]]) -> tuple[str, str]:
    """(label of the file/table that supplied the first bad value, one-line explanation)."""
    errors = exc.errors()
    err = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    loc = tuple(err["loc"])
    ctx = err.get("ctx") or {}
    if err["type"] == "cross_field":
        prefix, _ = _dotted(loc)
        keys = [f"{prefix}.{k}" if prefix else k for k in ctx["keys"].split(",")]
        where = _source(layers, [k.split(".") for k in keys])
        return where, f"{', '.join(keys)}: {ctx['message']}{more}"
    key, parts = _dotted(loc)
    where = _source(layers, [parts])
    if err["type"] == "missing":
        return where, f"{key}: {_explain(err)} (required){more}"
    if loc and loc[-1] == "[key]":
        return where, f"{key}: key {_show(err['input'])} {_explain(err)}{more}"
    return where, f"{key} = {_show(err['input'])}: {_explain(err)}{more}"


def _depth(table: dict, parts: list[str]) -> int:
    node: Any = table
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            return depth
        node = node[part]
    return len(parts)


def _source(layers: list[tuple[str, dict]], paths: list[list[str]]) -> str:
    """The highest-priority layer that sets the full path (section.key[.subkey]) of any of the paths, else
    one that sets its section.key (a table merged from several layers); else the base file."""
    for need in (lambda parts: len(parts), lambda parts: min(2, len(parts))):
        for label, table in reversed(layers):
            if any(parts and _depth(table, parts) >= need(parts) for parts in paths):
                return label
    return layers[0][0] if layers else "methodology parameters"


def _layers(base: _File, override: _File | None, py: str) -> list[tuple[str, dict]]:
    layers = [(base.label, base.defaults), (f"{base.label} [performance_year.{py}]", base.year(py))]
    if override is not None:
        layers += [(override.label, override.defaults),
                   (f"{override.label} [performance_year.{py}]", override.year(py))]
    return layers


def _validate(base: _File, override: _File | None, py: str) -> tuple[dict[str, Any], MethodologyParams]:
    layers = _layers(base, override, py)
    merged: dict[str, Any] = {}
    for _, table in layers:
        merged = _deep_merge(merged, table)
    try:
        model = MethodologyParams.model_validate(merged)
    except ValidationError as exc:
        where, text = _describe(exc, layers)
        raise MethodologyError(f"{where}: {text}") from None
    return model.model_dump(mode="python"), model


@functools.lru_cache(maxsize=4)
def _base_cached(path: str, mtime_ns: int, size: int) -> _File:
    p = Path(path)
    f = _File(f"methodology {_display(p)}", p, _read_toml(p, f"methodology {_display(p)}"))
    _check_file(f, None)
    return f


def _base() -> _File:
    try:
        st = BASE_FILE.stat()
    except OSError:
        raise MethodologyError(f"methodology {_display(BASE_FILE)}: file not found") from None
    return _base_cached(str(BASE_FILE), st.st_mtime_ns, st.st_size)


def _default_fingerprint(performance_year: int) -> str:
    st = BASE_FILE.stat()
    return _default_fingerprint_cached(performance_year, str(BASE_FILE), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _default_fingerprint_cached(performance_year: int, path: str, mtime_ns: int, size: int) -> str:
    return load_methodology(performance_year).fingerprint


def load_methodology(performance_year: int = DEFAULT_PERFORMANCE_YEAR, override_file: str | Path | None = None) -> Methodology:
    """The validated parameters of one PY: the base file, its [performance_year.<PY>], then the override
    file (same structure). Raises MethodologyError (one line naming the file and the key)."""
    base = _base()
    known = sorted(base.raw.get("performance_year", {}))
    sources = [str(BASE_FILE)]
    override = None
    if override_file:
        path = Path(override_file)
        label = f"config {path}"
        override = _File(label, path, _read_toml(path, label))
        _check_file(override, known)
        sources.append(str(path))
    py = str(performance_year)
    if py not in known:
        raise MethodologyError(f"{base.label}: performance year {performance_year} is not configured "
                               f"(known: {_known(known)})")
    params, model = _validate(base, override, py)
    for other in known:  # a problem in another PY's table is refused too, whichever PY runs
        if other != py:
            _validate(base, override, other)
    version = (override.raw.get("version") if override else None) or base.raw["version"]
    m = Methodology(int(py), str(version), params, tuple(sources))
    m.__dict__["model"] = model  # already validated (cached_property slot)
    return m
