"""The pipeline's shape, in one place: its stages and its tables.

Per stage: the methodology sections it reads, the tables and side files it reads, the tables it writes
and the engine function that runs it. Per table: the stage that writes it, the tables and side files it
is computed from (its lineage), its key, description, column descriptions (`tables.toml` beside this
file, pipelines.engine.tables) and its data contract (`expectations/<table>.json`). What derives from it: the Dagster asset
dependencies, groups, descriptions and column schemas (assets/), the tables `asm sensitivity`
re-runs and links, the tables a run of part of the graph pulls from an object store, and the
README's table list (`python -m pipelines.engine.registry --markdown`).
"""
from __future__ import annotations

import functools
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

from pipelines.engine.episodes import EPISODE_TABLES, INPUTS as EPISODE_INPUTS
from pipelines.engine.ingest import INGEST_TABLES
from pipelines.engine.ingest.files import SIDE_FILES
from pipelines.engine.paths import EXPECTATIONS_DIR
from pipelines.engine.projection import PROJECTION_INPUTS, PROJECTION_TABLES
from pipelines.engine.scoring.stage import SCORING_TABLES
from pipelines.engine.tables import CATALOG_FILE, TABLE_KEYS, catalog
CLAIMS = "claims_files"  # the CCLF / RIF deliveries of the input folder (read by ingest)
CMS_REFERENCE = "cms_reference"  # CMS's published MIPS benchmarks, national average costs and measure list
SIDE_INPUTS = (CLAIMS, *SIDE_FILES.values(), CMS_REFERENCE)


@dataclass(frozen=True)
class Stage:
    name: str
    run: str  # the engine function (module:function) that computes the stage's tables
    sections: tuple[str, ...]  # methodology sections whose parameters change its tables
    reads: tuple[str, ...]  # tables and side inputs it reads
    writes: tuple[str, ...]  # tables it writes (each table is written by exactly one stage)


STAGES: tuple[Stage, ...] = (
    Stage("ingest", "pipelines.engine.ingest:run_ingest", ("ingest",),
          (CLAIMS, "standardization_factors"), tuple(INGEST_TABLES)),
    Stage("episodes", "pipelines.engine.episodes:run_episodes", ("episodes", "attribution", "costs"),
          EPISODE_INPUTS, tuple(EPISODE_TABLES)),
    Stage("eligibility", "pipelines.engine.scoring.stage:run_eligibility", ("eligibility", "benchmarks"),
          ("partb_lines", "episodes", "episode_attribution", "providers", "zip_cbsa", "asm_selected_cbsas"),
          ("eligibility",)),
    Stage("episode_risk", "pipelines.engine.scoring.stage:run_episode_risk", ("risk",),
          ("episodes", "episode_costs", "partb_lines", "parta_diagnoses", "beneficiaries", "eligibility"),
          ("episode_risk", "risk_models")),
    Stage("scoring", "pipelines.engine.scoring.stage:run_scoring",
          ("benchmarks", "quality", "admissions", "scoring", "payment"),
          ("episode_risk", "eligibility", "episode_attribution", "partb_lines", "episodes", "parta_claims",
           "episode_costs", "quality_submissions", "practice_attestations", CMS_REFERENCE), SCORING_TABLES),
    Stage("projection", "pipelines.engine.projection:run_projection", ("projection",),
          (*PROJECTION_INPUTS, CMS_REFERENCE), PROJECTION_TABLES),
    # "What to fix" (issue 18): re-scores each lever with the scoring functions. The steering package sits
    # above the registry (its what-if re-runs registered stages), so its tables are named here.
    Stage("steering", "pipelines.engine.steering:run_steering", ("steering",),
          ("participant_scores", "payment_adjustments", "participant_measure_points", "quality_measure_points",
           "quality_benchmarks", "cost_measure_scores", "cost_benchmarks", "projected_scores",
           "projected_measure_points", "projected_quality_benchmarks", "episode_risk", "episode_attribution",
           "episode_costs", "partb_lines", "quality_submissions", "practice_attestations"),
          ("improvement_levers", "improvement_levers_tin")),
)

# Lineage inside a stage that writes several tables: what each table is computed from (the stage's other
# tables are computed from all of its reads). An auditor follows these edges from a score to claim lines.
_SCORE_INPUTS = ("episode_risk", "episode_attribution", "episodes")
_QUALITY_INPUTS = ("quality_submissions", "practice_attestations", "partb_lines", "cost_measure_scores",
                   "eligibility", "admission_rates", CMS_REFERENCE)
TABLE_READS: dict[str, tuple[str, ...]] = {
    "cost_measure_scores": _SCORE_INPUTS,  # R4-R5
    "cost_benchmarks": ("cost_measure_scores", "eligibility"),  # B1-B3
    "episode_admissions": ("episode_risk", "episodes", "episode_attribution", "parta_claims"),  # Q6
    "admission_rates": ("episode_admissions",),  # Q6
    "quality_submission_issues": ("quality_submissions", "practice_attestations", "partb_lines", CMS_REFERENCE),
    "quality_benchmarks": _QUALITY_INPUTS,  # Q5 over the pool's rates
    "quality_measure_points": (*_QUALITY_INPUTS, "quality_benchmarks"),  # Q2-Q5
    "participant_measure_points": ("quality_measure_points",),  # Q7
    "participant_scores": ("cost_measure_scores", "cost_benchmarks", "quality_measure_points",
                           "participant_measure_points", "eligibility", "practice_attestations", "partb_lines",
                           *_SCORE_INPUTS),  # S1-S7 (S4 from the attributed episodes' risk)
    "payment_adjustments": ("participant_scores", "partb_lines"),  # P1-P4
    "score_distribution": ("participant_scores", "payment_adjustments"),
    "tin_summary": ("participant_scores", "payment_adjustments", "cost_benchmarks", "partb_lines"),
    "tin_cost_drivers": ("episode_costs", "episode_risk", "episode_attribution"),
    "clinician_cost_drivers": ("episode_costs", "episode_risk", "episode_attribution"),
    "cohort_cost_drivers": ("episode_costs", "episode_risk"),
    "cohort_summary": ("cost_benchmarks", "cohort_cost_drivers", "eligibility", "partb_lines"),
    "improvement_levers_tin": ("improvement_levers",),
}


@dataclass(frozen=True)
class Table:
    name: str
    stage: str
    key: tuple[str, ...]
    description: str
    columns: dict[str, str]  # column -> description
    reads: tuple[str, ...]  # tables and side inputs it is computed from

    @property
    def contract(self) -> Path | None:
        """Its data contract (the GX suite the blocking checks run), if it has one."""
        path = EXPECTATIONS_DIR / f"{self.name}.json"
        return path if path.is_file() else None


class RegistryError(ValueError):
    pass


def run(s: Stage, settings, methodology):
    """Run a stage's engine function (it writes the stage's tables)."""
    module, function = s.run.split(":")
    return getattr(importlib.import_module(module), function)(settings, methodology)


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(name)


def stage_of(table: str) -> Stage:
    for s in STAGES:
        if table in s.writes:
            return s
    raise KeyError(table)


@functools.lru_cache(maxsize=1)
def tables() -> dict[str, Table]:
    """Every warehouse table, in the stages' order, from `tables.toml` and the stages above."""
    entries = catalog()
    out = {}
    for s in STAGES:
        for name in s.writes:
            entry = entries.get(name)
            if entry is None:
                raise RegistryError(f"{CATALOG_FILE.name}: no entry for table {name} (stage {s.name})")
            out[name] = Table(name, s.name, TABLE_KEYS[name], " ".join(entry["description"].split()),
                              dict(entry.get("columns", {})), TABLE_READS.get(name, s.reads))
    return out


def table(name: str) -> Table:
    return tables()[name]


def in_lineage_order(names: tuple[str, ...]) -> tuple[str, ...]:
    """`names` (tables of one stage) ordered so each comes after the tables it is computed from, otherwise in
    the given order (Dagster wants a multi-asset's outputs yielded in that order)."""
    todo, done = list(names), []
    while todo:
        ready = next(n for n in todo if not set(TABLE_READS.get(n, ())) & (set(todo) - {n}))
        todo.remove(ready)
        done.append(ready)
    return tuple(done)


def downstream_stages(first: str) -> tuple[Stage, ...]:
    """`first` and every stage after it that reads, directly or not, what it writes (execution order)."""
    names = [s.name for s in STAGES]
    changed = set(stage(first).writes)
    out = [stage(first)]
    for s in STAGES[names.index(first) + 1:]:
        if changed & set(s.reads):
            out.append(s)
            changed |= set(s.writes)
    return tuple(out)


def stages_reading_section(section: str) -> tuple[Stage, ...]:
    return tuple(s for s in STAGES if section in s.sections)


def inputs_of(assets: set[str]) -> set[str]:
    """The tables a run that materializes `assets` reads but does not write (a run of part of the graph
    reads them from the published warehouse)."""
    reads = {r for s in STAGES if set(s.writes) & assets for r in s.reads}
    return {r for r in reads if r not in SIDE_INPUTS} - assets


def markdown() -> str:
    """The README's table list: stage, table, key, description."""
    lines = ["| stage | table | key | what it holds |", "|---|---|---|---|"]
    for t in tables().values():
        lines.append(f"| {t.stage} | `{t.name}` | {', '.join(t.key)} | {t.description} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m pipelines.engine.registry --markdown
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m pipelines.engine.registry --markdown")
    print(markdown())
