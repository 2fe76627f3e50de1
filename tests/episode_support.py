"""Test helpers for the episode engine: hand-built partb_lines / parta_claims / beneficiaries
Parquet files in the ingest schema, and a runner that applies the episode SQL to them."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.engine.episodes import EpisodeInputs, build_episode_tables, episode_params
from pipelines.engine.duck import connect, fetch_dicts
from pipelines.engine.methodology import Methodology, _deep_merge, load_methodology

D0 = date(2026, 1, 5)  # a Monday; most cases count days from here
_ccn = itertools.count(1)

MONEY = pa.decimal128(18, 2)
PARTB_SCHEMA = pa.schema([
    ("claim_control_number", pa.string()), ("line_number", pa.int32()), ("claim_id", pa.string()),
    ("bene_id", pa.string()), ("service_date", pa.date32()), ("service_thru_date", pa.date32()),
    ("claim_type", pa.string()), ("hcpcs", pa.string()), ("betos", pa.string()), ("place_of_service", pa.string()),
    ("type_of_service", pa.string()), ("line_dx", pa.string()), ("claim_dx", pa.list_(pa.string())),
    ("tin", pa.string()), ("npi", pa.string()), ("specialty", pa.string()), ("provider_zip", pa.string()),
    ("provider_state", pa.string()), ("units", pa.float64()), ("allowed_amount", MONEY), ("paid_amount", MONEY),
    ("cost_amount", MONEY), ("standardization_factor", pa.float64()), ("versions", pa.int64()),
    ("cancels", pa.int64()), ("source_file", pa.string()), ("source_row", pa.int64()), ("source_layout", pa.string()),
])
PARTA_SCHEMA = pa.schema([
    ("claim_control_number", pa.string()), ("claim_id", pa.string()), ("bene_id", pa.string()),
    ("claim_type", pa.string()), ("from_date", pa.date32()), ("thru_date", pa.date32()),
    ("principal_dx", pa.string()), ("admitting_dx", pa.string()), ("drg", pa.string()),
    ("discharge_status", pa.string()), ("facility_npi", pa.string()), ("payment_amount", MONEY),
])
BENE_SCHEMA = pa.schema([("bene_id", pa.string()), ("birth_date", pa.date32()), ("sex", pa.string()),
                         ("death_date", pa.date32())])


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def line(bene="B1", on=0, tin="T1", npi="N1", hcpcs="99214", pos="11", dx="I509", claim_dx=None,
         allowed="100.00", claim_type="71", ccn=None, line_number=1, cost=None, betos=None) -> dict:
    """One partb_lines row. `on` is a day offset from D0 or a date. dx goes on the line; claim_dx is the
    header list (default: just the line dx)."""
    d = day(on) if isinstance(on, int) else on
    ccn = ccn or f"C{next(_ccn):08d}"
    return {
        "claim_control_number": ccn, "line_number": line_number, "claim_id": f"ID{ccn}", "bene_id": bene,
        "service_date": d, "service_thru_date": d, "claim_type": claim_type, "hcpcs": hcpcs, "betos": betos,
        "place_of_service": pos, "type_of_service": "1", "line_dx": dx,
        "claim_dx": [dx] if claim_dx is None and dx else list(claim_dx or []),
        "tin": tin, "npi": npi, "specialty": "06", "provider_zip": None, "provider_state": None, "units": 1.0,
        "allowed_amount": Decimal(str(allowed)), "paid_amount": Decimal(str(allowed)) * Decimal("0.8"),
        "cost_amount": Decimal(str(cost if cost is not None else allowed)), "standardization_factor": 1.0,
        "versions": 1, "cancels": 0, "source_file": "test", "source_row": 1, "source_layout": "test",
    }


def _write(path: Path, rows: list[dict], schema: pa.Schema) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


@dataclass
class EngineRun:
    con: duckdb.DuckDBPyConnection
    facts: dict

    def rows(self, sql: str) -> list[dict]:
        return fetch_dicts(self.con, sql)

    def episodes(self, cohort: str | None = None) -> list[dict]:
        where = f"WHERE cohort = '{cohort}'" if cohort else ""
        return self.rows(f"SELECT * FROM episodes {where} ORDER BY cohort, bene_id, start_date")


def methodology_with(overrides: dict | None = None, performance_year: int = 2027,
                     config_file: Path | None = None) -> Methodology:
    m = load_methodology(performance_year, config_file)
    if not overrides:
        return m
    return Methodology(m.performance_year, m.version, _deep_merge(m.params, overrides), m.sources)


def run_engine(tmp_path: Path, lines: list[dict], benes: list[dict] | None = None,
               parta: list[dict] | None = None, overrides: dict | None = None,
               methodology: Methodology | None = None) -> EngineRun:
    """Write the inputs as Parquet in tmp_path and run every episode SQL step on one connection."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    inputs = EpisodeInputs(
        _write(tmp_path / "partb_lines.parquet", lines, PARTB_SCHEMA),
        _write(tmp_path / "parta_claims.parquet", parta, PARTA_SCHEMA) if parta is not None else None,
        _write(tmp_path / "beneficiaries.parquet", benes, BENE_SCHEMA) if benes is not None else None,
    )
    con = connect(threads=1)
    facts = build_episode_tables(con, inputs, episode_params(methodology or methodology_with(overrides)))
    return EngineRun(con, facts)


def bene(bene_id="B1", birth=date(1950, 1, 1), death=None, sex="1") -> dict:
    return {"bene_id": bene_id, "birth_date": birth, "sex": sex, "death_date": death}


def parta_claim(bene="B1", claim_type="60", start=0, end=None, dx="I509", drg="291", payment="10000.00",
                ccn=None) -> dict:
    s = day(start)
    ccn = ccn or f"A{next(_ccn):08d}"
    return {"claim_control_number": ccn, "claim_id": f"ID{ccn}", "bene_id": bene, "claim_type": claim_type,
            "from_date": s, "thru_date": day(end if end is not None else start), "principal_dx": dx,
            "admitting_dx": None, "drg": drg, "discharge_status": "01", "facility_npi": "F1",
            "payment_amount": Decimal(payment)}
