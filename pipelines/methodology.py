"""The methodology configuration: one versioned TOML file of DEFAULT parameters keyed by PY.

Every DEFAULT number of the spec lives in `data/methodology/methodology.toml`; code reads it only
through `Methodology`, so changing a parameter is a data change that marks assets stale
(the config's fingerprint is part of each asset's code_version).
"""
from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.paths import METHODOLOGY_DIR

BASE_FILE = METHODOLOGY_DIR / "methodology.toml"
PERFORMANCE_YEARS = (2027, 2028, 2029, 2030, 2031)


class MethodologyError(ValueError):
    """A methodology configuration that cannot be used (unknown PY, bad override file)."""


def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class Methodology:
    performance_year: int
    version: str
    params: dict[str, Any] = field(repr=False)
    sources: tuple[str, ...] = ()

    def section(self, name: str) -> dict[str, Any]:
        return self.params.get(name, {})

    def get(self, dotted: str) -> Any:
        node: Any = self.params
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise MethodologyError(f"methodology parameter '{dotted}' is not set (PY {self.performance_year})")
            node = node[part]
        return node

    @property
    def fingerprint(self) -> str:
        payload = json.dumps({"py": self.performance_year, "params": self.params}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def load_methodology(performance_year: int = 2027, override_file: str | Path | None = None) -> Methodology:
    raw = tomllib.loads(BASE_FILE.read_text())
    sources = [str(BASE_FILE)]
    if override_file:
        path = Path(override_file)
        if not path.is_file():
            raise MethodologyError(f"config file not found: {path}")
        try:
            raw = _deep_merge(raw, tomllib.loads(path.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise MethodologyError(f"config file {path} is not valid TOML: {exc}") from exc
        sources.append(str(path))
    years = raw.get("performance_year", {})
    if str(performance_year) not in years:
        known = ", ".join(sorted(years)) or "none"
        raise MethodologyError(f"performance year {performance_year} is not configured (known: {known})")
    params = _deep_merge(raw.get("defaults", {}), years[str(performance_year)] or {})
    return Methodology(performance_year, str(raw.get("version", "unversioned")), params, tuple(sources))
