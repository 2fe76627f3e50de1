"""How much the results depend on our DEFAULT rules (issue 13): re-score a finished run under each
alternative value an alternatives file lists, one parameter at a time, and measure per alternative
how many participants change status and the spread (min / median / max) of their final-score and
dollar changes against the run's own parameters.

Reads the run's published tables; never re-ingests. Each alternative re-runs only the stages that
read its parameter, from the first one on, in a scratch output folder whose other tables are links
to the published ones:
  episodes, attribution, costs  -> the episode engine again from partb_lines (E, A, C), then G, R, scores
  eligibility, benchmarks       -> eligibility (G; benchmarks.case_minimum is also G4), then R, scores
  risk                          -> episode_risk (R1-R3), then scores
  quality, admissions, scoring, payment -> scores only (Q, S, P)
ingest parameters need a re-ingest and are refused. The baseline is the run's parameters re-scored
the same way (scores stage over the published tables), so every difference comes from the
alternative alone. Results are participant-level (TIN/NPI); no beneficiary id leaves the stages.
"""
from __future__ import annotations

import copy
import json
import shutil
import statistics
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import polars as pl

from pipelines.engine.methodology import SECTIONS, Methodology, MethodologyError
from pipelines.engine import registry, rerun
from pipelines.engine.paths import METHODOLOGY_DIR
from pipelines.engine.rerun import Run, run_stages, scratch_folder, scratch_settings
from pipelines.engine.warehouse import OutFolder
from pipelines.engine.tables import PARTICIPANT

DEFAULT_ALTERNATIVES = METHODOLOGY_DIR / "sensitivity.toml"
# The stages `asm sensitivity` re-runs (pipelines.engine.registry: after ingest, up to the scores); an
# alternative re-runs the first of them that reads its methodology section and every one downstream.
RESCORED = registry.STAGES[1:[s.name for s in registry.STAGES].index("scoring") + 1]
STAGE_OF_SECTION = {sec: next(s.name for s in RESCORED if sec in s.sections)
                    for sec in dict.fromkeys(sec for s in RESCORED for sec in s.sections)}
STAGE_LABEL = {s.name: s.name for s in RESCORED} | {"episodes": "episodes (re-run from partb_lines)"}
SUMMARY_SCHEMA = {"parameter": pl.Utf8, "value": pl.Utf8, "tag": pl.Utf8, "stage": pl.Utf8, "participants": pl.Int64,
                  "status_changed": pl.Int64, "score_n": pl.Int64, "score_min": pl.Float64, "score_median": pl.Float64,
                  "score_max": pl.Float64, "dollar_n": pl.Int64, "dollar_min": pl.Float64,
                  "dollar_median": pl.Float64, "dollar_max": pl.Float64, "dollar_total": pl.Float64,
                  "seconds": pl.Float64}


class SensitivityError(Exception):
    """An alternatives file or run folder that cannot be used. str() is one line."""


@dataclass(frozen=True)
class Alternative:
    section: str
    key: str
    value: Any

    @property
    def parameter(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def shown(self) -> str:
        return json.dumps(self.value, ensure_ascii=False)

    @property
    def stage(self) -> str:
        return STAGE_OF_SECTION[self.section]

    @property
    def tag(self) -> str:
        extra = SECTIONS[self.section].model_fields[self.key].json_schema_extra or {}
        return str(extra.get("tag", ""))  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ the alternatives file

def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SensitivityError(f"alternatives {path}: file not found") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SensitivityError(f"alternatives {path}: not a TOML file ({' '.join(str(exc).split())})") from None


def load_alternatives(path: Path, base: Methodology) -> list[Alternative]:
    """Every (parameter, value) of `[alternatives.<section>] key = [v1, v2, ...]`, each validated as the
    run's methodology with that one value changed. One-line SensitivityError naming the file and key."""
    tables = _read_toml(path).get("alternatives")
    if not isinstance(tables, dict) or not tables:
        raise SensitivityError(f"alternatives {path}: no [alternatives.<section>] tables "
                               f"(see {DEFAULT_ALTERNATIVES.name})")
    out = []
    for section, keys in tables.items():
        if section == "ingest":
            raise SensitivityError(f"alternatives {path}: ingest.* needs a re-ingest; asm sensitivity re-scores the "
                                   "run's tables (run asm run --config instead)")
        if section not in STAGE_OF_SECTION or not isinstance(keys, dict):
            raise SensitivityError(f"alternatives {path}: unknown section '{section}' "
                                   f"(known: {', '.join(STAGE_OF_SECTION)})")
        for key, values in keys.items():
            if key not in SECTIONS[section].model_fields:
                raise SensitivityError(f"alternatives {path}: unknown parameter '{section}.{key}'")
            if not isinstance(values, list) or not values:
                raise SensitivityError(f"alternatives {path}: {section}.{key} must be a list of alternative values")
            for value in values:
                alt = Alternative(section, key, value)
                alternative_methodology(base, alt, path)  # validate now, before any work
                out.append(alt)
    return out


def alternative_methodology(base: Methodology, alt: Alternative, path: Path | None = None) -> Methodology:
    """The run's methodology with one parameter changed, validated like any configuration."""
    params = copy.deepcopy(base.params)
    params[alt.section][alt.key] = copy.deepcopy(alt.value)
    m = Methodology(base.performance_year, f"{base.version}+sensitivity", params, base.sources)
    try:
        m.model  # noqa: B018 - validates
    except MethodologyError as exc:
        where = f"alternatives {path}: " if path else ""
        raise SensitivityError(f"{where}{exc}") from None
    return m


# ------------------------------------------------------------------------------ re-scoring

def rerun_stages(first_stage: str) -> tuple[registry.Stage, ...]:
    """`first_stage` and the re-scored stages downstream of it, in execution order."""
    return tuple(s for s in registry.downstream_stages(first_stage) if s in RESCORED)


def rescore(run: Run, m: Methodology, first_stage: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(participant_scores, payment_adjustments) of the run under `m`, re-running the stages from
    `first_stage` on (the registry's order) in a scratch folder under OUT/.sensitivity, removed afterwards
    (pipelines.engine.rerun)."""
    stages = rerun_stages(first_stage)
    with scratch_folder(OutFolder(run.out_dir).sensitivity_dir) as scratch:
        settings = scratch_settings(run, stages, scratch)
        run_stages(settings, stages, m)
        return settings.warehouse.read("participant_scores"), settings.warehouse.read("payment_adjustments")


# ------------------------------------------------------------------------------ comparing

def outcomes(scores: pl.DataFrame, pay: pl.DataFrame) -> pl.DataFrame:
    """Per participant: status, final score and dollar impact (no payment row: 0 dollars)."""
    return scores.select(*PARTICIPANT, "status", "final_score").join(
        pay.select(*PARTICIPANT, "dollar_impact"), on=PARTICIPANT, how="left").with_columns(pl.col("dollar_impact").fill_null(0.0))


def changes(base: pl.DataFrame, alt: pl.DataFrame) -> pl.DataFrame:
    """Participant by participant (`outcomes` of both): status before/after ('absent' when a participant
    exists in one run only), final-score change (both scored) and dollar change (absent = 0)."""
    j = base.join(alt, on=PARTICIPANT, how="full", coalesce=True, suffix="_alt")
    return j.select(
        *PARTICIPANT, pl.col("status").fill_null("absent"), pl.col("status_alt").fill_null("absent"),
        (pl.col("final_score_alt") - pl.col("final_score")).alias("score_change"),
        (pl.col("dollar_impact_alt").fill_null(0.0) - pl.col("dollar_impact").fill_null(0.0)).alias("dollar_change"),
    ).with_columns((pl.col("status") != pl.col("status_alt")).alias("status_changed"))


def _spread(values: list[float]) -> tuple[int, float | None, float | None, float | None]:
    if not values:
        return 0, None, None, None
    return len(values), min(values), statistics.median(values), max(values)


def summarize(alt: Alternative, diff: pl.DataFrame, seconds: float) -> dict:
    """One summary row: participants, status changes, spread of score and dollar changes. Dollar
    changes are over participants with a payment row in either run."""
    score = _spread(diff["score_change"].drop_nulls().to_list())
    paid = diff.filter((pl.col("dollar_change") != 0) | pl.col("status").is_in(["scored", "failed_minimum_submission"])
                       | pl.col("status_alt").is_in(["scored", "failed_minimum_submission"]))
    dollar = _spread(paid["dollar_change"].to_list())
    return {"parameter": alt.parameter, "value": alt.shown, "tag": alt.tag, "stage": STAGE_LABEL[alt.stage],
            "participants": diff.height, "status_changed": int(diff["status_changed"].sum()),
            "score_n": score[0], "score_min": score[1], "score_median": score[2], "score_max": score[3],
            "dollar_n": dollar[0], "dollar_min": dollar[1], "dollar_median": dollar[2], "dollar_max": dollar[3],
            "dollar_total": float(paid["dollar_change"].sum()), "seconds": round(seconds, 2)}


def run_sensitivity(run: Run, alternatives: list[Alternative],
                    progress: Callable[[str], None] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(summary: one row per alternative, SUMMARY_SCHEMA; changes: per participant and alternative)."""
    shutil.rmtree(OutFolder(run.out_dir).sensitivity_dir, ignore_errors=True)  # scratch left by an interrupted run
    t0 = time.perf_counter()
    base = outcomes(*rescore(run, run.methodology, "scoring"))
    if progress:
        progress(f"baseline re-scored in {time.perf_counter() - t0:.1f}s")
    rows, parts = [], []
    for alt in alternatives:
        t0 = time.perf_counter()
        diff = changes(base, outcomes(*rescore(run, alternative_methodology(run.methodology, alt), alt.stage)))
        rows.append(summarize(alt, diff, time.perf_counter() - t0))
        parts.append(diff.with_columns(pl.lit(alt.parameter).alias("parameter"), pl.lit(alt.shown).alias("value")))
        if progress:
            progress(f"{alt.parameter} = {alt.shown} ({STAGE_LABEL[alt.stage]}): {rows[-1]['status_changed']} status "
                     f"changes, {rows[-1]['seconds']:.1f}s")
    summary = pl.DataFrame(rows, schema=SUMMARY_SCHEMA)
    return summary, (pl.concat(parts) if parts else pl.DataFrame())


# ------------------------------------------------------------------------------ the run folder

def load_run(out_dir: Path, input_dir: Path | None = None, performance_year: int | None = None,
             config_file: Path | None = None, threads: int = 0) -> Run:
    """The run of OUT (pipelines.engine.rerun.load_run), its errors as SensitivityError."""
    try:
        return rerun.load_run(out_dir, input_dir, performance_year, config_file, threads)
    except rerun.RerunError as exc:
        raise SensitivityError(str(exc)) from None


# ------------------------------------------------------------------------------ the printed table

def _num(x: float | None, fmt: str) -> str:
    if x is None:
        return "-"
    text = format(x, fmt)
    return text if text.strip("+-0.,") else text.lstrip("+-")  # no "-0.00"


def render(summary: pl.DataFrame) -> str:
    """The table `asm sensitivity` prints: one line per alternative, then what the columns mean."""
    head = (f"{'DEFAULT = alternative':<46} {'tag':<7} {'re-run from':<12} {'status changed':>14}   "
            f"{'final score change min / median / max (n)':<42} {'dollar change min / median / max (n)'}")
    lines = [head, "-" * (len(head) + 4)]
    for r in summary.iter_rows(named=True):
        score = (f"{_num(r['score_min'], '+.2f')} / {_num(r['score_median'], '+.2f')} / "
                 f"{_num(r['score_max'], '+.2f')} ({r['score_n']})")
        dollar = (f"{_num(r['dollar_min'], '+,.0f')} / {_num(r['dollar_median'], '+,.0f')} / "
                  f"{_num(r['dollar_max'], '+,.0f')} ({r['dollar_n']})")
        stage = r["stage"].split(" ")[0]
        lines.append(f"{r['parameter'] + ' = ' + r['value']:<46} {r['tag']:<7} {stage:<12} "
                     f"{r['status_changed']:>5} of {r['participants']:<5}   {score:<42} {dollar}")
    lines.append("re-run from: episodes = the episode engine from partb_lines, then eligibility, episode_risk and "
                 "scores; n = participants with a final score (dollars: with a payment row) in either run")
    return "\n".join(lines)
