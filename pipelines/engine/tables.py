"""The key of every warehouse table (from tables.toml beside this file, the catalogue) and the participant grain.

The warehouse writers (`pipelines.engine.warehouse.write_frame` / `write_query`) sort every table they write
by its key, then by every other column as a tie-break (or by the table's `tie_break` columns only, where
tables.toml says why those make the order total), so the same input and configuration give byte-identical
Parquet files (issue 11 item 5: a checksum proves a rerun). A test checks that every
table asset of the code location has a key here and that each key is unique on the demo run.
Nothing here imports Dagster.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

PARTICIPANT = ("performance_year", "cohort", "tin", "npi")

CATALOG_FILE = Path(__file__).with_name("tables.toml")


def catalog() -> dict[str, dict]:
    """tables.toml: per published table its key, description and column descriptions."""
    return tomllib.loads(CATALOG_FILE.read_text(encoding="utf-8"))


TABLE_KEYS: dict[str, tuple[str, ...]] = {name: tuple(entry["key"]) for name, entry in catalog().items()}
# tables whose key plus these columns is unique by construction (tables.toml `tie_break`, with the reason):
# sorting by fewer columns is what makes writing millions of episode lines cheaper (issue 20 item 3)
TIE_BREAKS: dict[str, tuple[str, ...]] = {name: tuple(entry["tie_break"]) for name, entry in catalog().items()
                                          if "tie_break" in entry}


def table_name(path) -> str:
    """The table a warehouse path holds: `<table>.parquet` (a file or a folder of shards), or one shard
    file `<table>.parquet/shard-<k>-of-<n>.parquet` of it (pipelines.engine.shards)."""
    path = Path(path)
    if path.name.startswith("shard-") and path.parent.name.endswith(".parquet"):
        path = path.parent
    return path.name.removesuffix(".parquet")


def sort_columns(table: str, columns: list[str]) -> list[str]:
    """The write order of a table: its key, then every other column (a total order, so rows that tie
    on the key are still written in one order), or its declared tie-break columns when the key and they
    are all there (unique by construction: the same order, fewer columns to sort by). Unknown tables are
    sorted by every column."""
    key = [c for c in TABLE_KEYS.get(table, ()) if c in columns]
    ties = TIE_BREAKS.get(table)
    if ties is not None and len(key) == len(TABLE_KEYS[table]) and set(ties) <= set(columns):
        return key + list(ties)
    return key + [c for c in columns if c not in key]
