"""Reference data (§L of the methodology): one home for the code lists, the C3 service categories
and cost drivers, and how the engine reads them. SQL and Python read the same files through here.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.engine.duck import connect, query_sql_file
from pipelines.engine.paths import REPO_ROOT

# L: the code-list files of `episodes.code_list_dir`, and the list name each holds.
CODE_LIST_FILES = {
    "diagnoses.csv": "diagnosis",
    "trigger_services.csv": "trigger_service",
    "places_of_service.csv": "place_of_service",
    "condition_services.csv": "condition_service",
    "drgs.csv": "drg",
}
SERVICE_CATEGORY_FILE = "service_categories.csv"  # C3: HCPCS ranges -> category, for lines without BETOS
CODE_LISTS_SQL = "20_episodes/20_code_lists.sql"

# C3: the service categories, in report order, with the words reports use. `other` takes whatever
# no other category does. episode_costs has one cost_<category> column per entry.
SERVICE_CATEGORIES: dict[str, str] = {
    "em": "E&M visits",
    "imaging": "Imaging",
    "procedures": "Procedures",
    "tests": "Tests",
    "dme": "DME",
    "inpatient": "Inpatient (Part A)",
    "post_acute": "Post-acute (Part A)",
    "other": "Other",
}
RESIDUAL_CATEGORY = "other"

# C3: driver flags of episode_costs (column -> words, and the cohort it applies to; None = both).
COST_DRIVERS: dict[str, tuple[str, str | None]] = {
    "hospitalizations": ("Hospitalizations", None),
    "post_acute_after_hospitalization": ("Post-acute after a stay", None),
    "echos_beyond_first": ("Echocardiograms beyond the first", "HF"),
    "advanced_imaging_early": ("Advanced imaging in the first 30 days", "LBP"),
    "injections_or_procedures": ("Injections or procedures", None),
    "spine_surgery": ("Spine surgery", "LBP"),
}


def resolve_dir(path: str | Path) -> Path:
    """A folder from the configuration: absolute, or relative to the repository root."""
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


def code_list_files(code_list_dir: Path) -> list[Path]:
    return [code_list_dir / name for name in CODE_LIST_FILES]


def read_code_lists(code_list_dir: Path, list_name: str | None = None, cohort: str | None = None) -> pl.DataFrame:
    """L: the code lists as the episode SQL sees them (sql/20_episodes/20_code_lists.sql: dotless upper-case
    codes, blank valid_from/valid_to = open), optionally one list of one cohort. Columns: code,
    description, cohort, list_name, valid_from, valid_to, service_group, source_file."""
    con = connect()
    try:
        sql = query_sql_file(con, CODE_LISTS_SQL, files=[str(f) for f in code_list_files(code_list_dir)])
        df = pl.from_arrow(con.sql(sql).to_arrow_table())
    finally:
        con.close()
    if list_name is not None:
        df = df.filter(pl.col("list_name") == list_name)
    if cohort is not None:
        df = df.filter(pl.col("cohort") == cohort)
    return df


def category_cost_sums(alias: str = "l") -> str:
    """C3: the SQL aggregates `sum(cost) FILTER (category)` per category, for 51_episode_costs.sql."""
    named = [c for c in SERVICE_CATEGORIES if c != RESIDUAL_CATEGORY]
    parts = [f"sum({alias}.cost_amount) FILTER (WHERE {alias}.service_category = '{c}') AS cost_{c}" for c in named]
    listed = ", ".join(f"'{c}'" for c in named)
    parts.append(f"sum({alias}.cost_amount) FILTER (WHERE {alias}.service_category NOT IN ({listed})) "
                 f"AS cost_{RESIDUAL_CATEGORY}")
    return ",\n           ".join(parts)


def category_cost_columns(alias: str = "a") -> str:
    """C3: one DECIMAL cost_<category> column per category (0 when the episode has none)."""
    return ",\n           ".join(f"CAST(coalesce({alias}.cost_{c}, 0) AS DECIMAL(38, 2)) AS cost_{c}"
                                 for c in SERVICE_CATEGORIES)
