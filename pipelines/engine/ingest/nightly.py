"""A night's delivery costs what it touches (issue 20 item 2): Part B netting (N4) re-run only for the
netting groups a run's new deliveries touch, every other group's partb_lines row kept from the last run.

A netting group is (claim control number, current beneficiary id (N1), line number). A new delivery
touches the groups of its own rows and, through N2 (the newest copy of a (claim_id, line_number) is
kept across files), the groups of every older version whose (claim_id, line_number) it shares: those
versions may now be excluded, which changes their group. Every other group has the same versions, the
same N2 outcome and so the same netting and partb_lines row as a full rebuild would give.

That only holds when the last run's state matches this run's: the same staging-cache version (the
state lives in its folder), the same netting code, methodology and standardization factors, the same
resolved cross-walk (a new CCLF9 can regroup anything, N1), and Part B files only added since (none
changed or removed). Otherwise the run nets every version (the full path) and says why.

The state, OUT/.ingest/<stage version>/netting/: `state.json` (what it was built from), the
non-surviving groups (`netted_away.parquet`: 25_partb_netted_away needs every one of them) and the
partb_lines written (hard links to its files: no copy).
"""
from __future__ import annotations

import json
import os
import shutil
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.engine.duck import query_sql_file, sql_literal
from pipelines.engine.ingest.cache import StagedFile
from pipelines.engine.ingest.staging import STAGE_RELATION
from pipelines.engine.provenance import files_fingerprint
from pipelines.engine.shards import shard_expression, shard_file
from pipelines.engine.tables import sort_columns
from pipelines.engine.warehouse import atomic_path, parquet_files, rewrite_sorted, write_query

SQL_FOLDER = "10_ingest"
# What decides a netting group's outcome besides the staged rows (the staging cache's version covers those),
# and partb_lines' sort order (tables.toml), which the kept rows are merged in.
NETTING_SOURCES = ("pipelines/engine/ingest/nightly.py", "pipelines/engine/tables.toml", "sql/00_macros.sql",
                   "sql/10_ingest/22_partb_redeliveries.sql", "sql/10_ingest/23_partb_versions.sql",
                   "sql/10_ingest/24_partb_netting.sql", "sql/10_ingest/35_partb_lines.sql")
STATE_FOLDER, STATE_FILE, NETTED_AWAY, LINES = "netting", "state.json", "netted_away.parquet", "partb_lines"
GROUP = ("claim_control_number", "bene_id", "line_number")  # N4's netting group


@dataclass
class NettingPlan:
    """How this run nets Part B: "incremental" (only the groups new deliveries touch) or "full"."""

    mode: str
    reason: str
    new_files: list[str] = field(default_factory=list)
    affected_groups: int | None = None

    def line(self) -> str:
        """The ingest step's log line (file names and counts only: no beneficiary ids)."""
        if self.mode == "incremental":
            return (f"netting incremental: {len(self.new_files)} new Part B file(s), "
                    f"{self.affected_groups:,} netting group(s) re-netted")
        return f"netting full: {self.reason}"


def _partb_files(staged: dict[int, StagedFile]) -> dict[int, StagedFile]:
    return {fid: s for fid, s in sorted(staged.items()) if STAGE_RELATION[s.kind] == "stage_partb"}


def _fingerprints(con: duckdb.DuckDBPyConnection, methodology_fingerprint: str) -> dict[str, str]:
    """What must not change for the last run's groups to stand: code, methodology, N5 factors, N1 cross-walk."""
    def content(table: str, cols: str) -> str:
        n, h = con.execute(f"SELECT count(*), coalesce(sum(hash({cols})::HUGEINT), 0) FROM {table}").fetchone()
        return f"{n}:{h}"
    return {"code": files_fingerprint(NETTING_SOURCES), "methodology": methodology_fingerprint,
            "standardization_factors": content("standardization_factors", "provider_state, factor"),
            "crosswalk": content("bene_xref", "previous_bene_id, current_bene_id")}


class NightlyNetting:
    """The hooks "net_partb" (creates partb_netting) and "write_partb_lines", and the state they keep."""

    def __init__(self, cache_dir: Path, methodology_fingerprint: str):
        self.dir = Path(cache_dir) / STATE_FOLDER
        self.methodology_fingerprint = methodology_fingerprint
        self.plan = NettingPlan("full", "not decided")
        self._fingerprints: dict[str, str] = {}
        self._shards = 1

    def _load(self) -> dict | None:
        try:
            state = json.loads((self.dir / STATE_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        lines = self.dir / LINES
        if not (self.dir / NETTED_AWAY).is_file() or not lines.exists():
            return None
        return state

    def decide(self, con: duckdb.DuckDBPyConnection, staged: dict[int, StagedFile]) -> NettingPlan:
        self._fingerprints = _fingerprints(con, self.methodology_fingerprint)
        state = self._load()
        current = {s.name: s.sha256 for s in _partb_files(staged).values()}
        if state is None:
            return NettingPlan("full", "no state of an earlier run")
        for what, value in self._fingerprints.items():
            if state["fingerprints"].get(what) != value:
                return NettingPlan("full", f"{what.replace('_', ' ')} changed since the last run")
        before = state["partb_files"]
        changed = sorted(n for n, sha in before.items() if n in current and current[n] != sha)
        removed = sorted(n for n in before if n not in current)
        if changed or removed:
            return NettingPlan("full", f"{len(changed)} Part B file(s) changed, {len(removed)} removed since the last run")
        return NettingPlan("incremental", "Part B files only added", sorted(n for n in current if n not in before))

    # ----------------------------------------------------------------------------------------
    # Hook "net_partb"

    def net(self, con: duckdb.DuckDBPyConnection, staged: dict[int, StagedFile]) -> None:
        """partb_netting (24_partb_netting.sql, N4): in a full run every group; in an incremental run the
        groups new deliveries touch, re-netted, and every other non-surviving group kept from the last run
        (the surviving ones are kept as partb_lines rows: `partb_lines_kept`)."""
        self.plan = self.decide(con, staged)
        netting = query_sql_file(con, f"{SQL_FOLDER}/24_partb_netting.sql")
        if self.plan.mode == "full":
            con.execute(f"CREATE OR REPLACE TEMP TABLE partb_netting AS {netting}")
            return
        state = json.loads((self.dir / STATE_FILE).read_text())
        partb = _partb_files(staged)
        new_paths = [s.stage_path for s in partb.values() if s.name in self.plan.new_files]
        using = ", ".join(GROUP)
        # the groups of the new rows and of every older version sharing a (claim_id, line_number) with them (N2)
        if new_paths:
            con.execute(f"""CREATE OR REPLACE TEMP TABLE partb_affected_groups AS
                SELECT DISTINCT {using} FROM partb_versions
                SEMI JOIN (SELECT DISTINCT claim_id, line_number FROM read_parquet({sql_literal(new_paths)})
                           WHERE quarantine_reason IS NULL) USING (claim_id, line_number)""")
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE partb_affected_groups AS "
                        f"SELECT {using} FROM partb_versions WHERE false")
        self.plan.affected_groups = con.execute("SELECT count(*) FROM partb_affected_groups").fetchone()[0]
        # the last run's version keys (source_file_id << 40 | source_row) in this run's file ids
        ids = {s.name: fid for fid, s in partb.items()}
        remap = [(old, ids[name]) for name, old in state["file_ids"].items()]
        con.execute("CREATE OR REPLACE TEMP TABLE _file_id_remap (old_id BIGINT, new_id BIGINT)")
        con.executemany("INSERT INTO _file_id_remap VALUES (?, ?)", remap)
        key = "attribute_version_key"
        con.execute(f"""CREATE OR REPLACE TEMP TABLE partb_netting AS
            WITH partb_versions AS (SELECT * FROM partb_versions SEMI JOIN partb_affected_groups USING ({using}))
            SELECT * FROM ({netting})
            UNION ALL BY NAME
            SELECT k.* REPLACE ((r.new_id << 40) + ({key} & ((1::BIGINT << 40) - 1)) AS {key})
            FROM read_parquet({sql_literal(str(self.dir / NETTED_AWAY))}) AS k
            LEFT JOIN _file_id_remap AS r ON r.old_id = ({key} >> 40)  -- no key: a group of cancels only
            ANTI JOIN partb_affected_groups USING ({using})""")
        con.execute(f"""CREATE OR REPLACE TEMP VIEW partb_lines_kept AS
            SELECT * FROM read_parquet({sql_literal(parquet_files(self.dir / LINES))})
            ANTI JOIN partb_affected_groups USING ({using})""")

    # ----------------------------------------------------------------------------------------
    # Hook "write_partb_lines"

    def write_lines(self, con: duckdb.DuckDBPyConnection, values: dict, target: Path, shards: int) -> int:
        """partb_lines (35_partb_lines.sql: N4, N5, N6) of the groups netted in this run, plus, in an
        incremental run, the last run's rows of every group it did not touch: each of the last run's files
        (one, or one per shard) passed over once, the touched groups' rows dropped and the re-netted ones
        merged in at their place in the sort order (warehouse.rewrite_sorted), not the table sorted again."""
        sql = query_sql_file(con, f"{SQL_FOLDER}/35_partb_lines.sql", default_factor=values["default_factor"])
        self._shards = shards
        if self.plan.mode == "full":
            return write_query(con, sql, target, shards)
        before = parquet_files(self.dir / LINES)
        if len(before) != shards:  # the last run wrote another shard count: its rows, sorted again
            return write_query(con, f"{sql}\nUNION ALL BY NAME SELECT * FROM partb_lines_kept", target, shards)
        using = ", ".join(GROUP)
        order = ", ".join(f'"{c}"' for c in sort_columns("partb_lines", list(GROUP)))
        con.execute(f"CREATE OR REPLACE TEMP TABLE _renetted_lines AS SELECT *, {shard_expression(shards)} AS _shard "
                    f"FROM ({sql})")
        rows = 0
        with atomic_path(target) if shards > 1 else nullcontext(target) as folder:
            if shards > 1:
                folder.mkdir()
            for k, previous in enumerate(before):
                drop = [r for (r,) in con.execute(
                    f"""SELECT file_row_number FROM read_parquet({sql_literal(previous)}, file_row_number = true)
                        SEMI JOIN partb_affected_groups USING ({using})""").fetchall()]
                added = con.sql(f"SELECT * EXCLUDE (_shard) FROM _renetted_lines WHERE _shard = {k} "
                                f"ORDER BY {order}").to_arrow_table()
                rows += rewrite_sorted(previous, drop, added, shard_file(folder, k, shards) if shards > 1 else folder,
                                       "partb_lines")
        con.execute("DROP TABLE _renetted_lines")
        return rows

    # ----------------------------------------------------------------------------------------
    # After a successful ingest

    def save(self, con: duckdb.DuckDBPyConnection, staged: dict[int, StagedFile], lines: Path) -> None:
        """The state the next run starts from: built from this run, replacing the last one whole."""
        partb = _partb_files(staged)
        state = {"fingerprints": self._fingerprints, "partb_files": {s.name: s.sha256 for s in partb.values()},
                 "shards": self._shards,
                 "file_ids": {s.name: fid for fid, s in partb.items()}}
        with atomic_path(self.dir) as tmp:
            tmp.mkdir()
            con.execute(f"COPY (SELECT * FROM partb_netting WHERE NOT survives) TO "
                        f"{sql_literal(str(tmp / NETTED_AWAY))} (FORMAT parquet, COMPRESSION zstd)")
            (tmp / LINES).mkdir()
            for i, f in enumerate(parquet_files(lines)):
                link = tmp / LINES / f"{i:05d}.parquet"
                try:
                    os.link(f, link)
                except OSError:  # another file system: copy
                    shutil.copyfile(f, link)
            (tmp / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True))
