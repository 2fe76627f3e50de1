"""Hand-built CCLF / RIF rows for tests: a line's fields by name, rendered in the real layouts."""
from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.engine.paths import LAYOUT_DIR

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "reference" / "samples"


def _layout(name: str) -> list[tuple[str, int, int]]:
    return [(r["field"], int(r["start"]), int(r["length"])) for r in csv.DictReader((LAYOUT_DIR / f"{name}.csv").open())]


def partb_line(**overrides) -> dict:
    """A valid, paid, original CCLF5 line; override any CCLF field by name."""
    row = {
        "CUR_CLM_UNIQ_ID": "0000000001001", "CLM_LINE_NUM": "0000000001", "BENE_MBI_ID": "1AA0AA0AA01",
        "CLM_TYPE_CD": "71", "CLM_FROM_DT": "2026-03-02", "CLM_THRU_DT": "2026-03-02",
        "RNDRG_PRVDR_TYPE_CD": "1", "RNDRG_PRVDR_FIPS_ST_CD": "36", "CLM_PRVDR_SPCLTY_CD": "06",
        "CLM_FED_TYPE_SRVC_CD": "1", "CLM_POS_CD": "11", "CLM_LINE_FROM_DT": "2026-03-02",
        "CLM_LINE_THRU_DT": "2026-03-02", "CLM_LINE_HCPCS_CD": "99214", "CLM_LINE_CVRD_PD_AMT": "00000000098.21",
        "CLM_LINE_DGNS_CD": "I509", "CLM_RNDRG_PRVDR_TAX_NUM": "001000002", "RNDRG_PRVDR_NPI_NUM": "1999900099",
        "CLM_CARR_PMT_DNL_CD": "1", "CLM_PRCSG_IND_CD": "A", "CLM_ADJSMT_TYPE_CD": "0",
        "CLM_EFCTV_DT": "2026-03-10", "CLM_IDR_LD_DT": "2026-03-11", "CLM_CNTL_NUM": "000000000007001",
        "CLM_LINE_ALOWD_CHRG_AMT": "0000000000125.33", "CLM_LINE_SRVC_UNIT_QTY": "000000000000000001.0000",
        "CLM_DISP_CD": "01", "CLM_DGNS_1_CD": "I509", "CLM_DGNS_2_CD": "I10", "DGNS_PRCDR_ICD_IND": "0",
        "HCPCS_BETOS_CD": "M1B", "CLM_RNDRG_PRVDR_NPI_NUM": "1999900099",
    }
    row.update(overrides)
    return row


def fixed_width(layout: str, rows: list[dict]) -> str:
    fields = _layout(layout)
    out = []
    for row in rows:
        rec = [" "] * (fields[-1][1] + fields[-1][2] - 1)
        for name, start, length in fields:
            value = str(row.get(name, ""))[:length].ljust(length)
            rec[start - 1:start - 1 + length] = value
        out.append("".join(rec))
    return "\n".join(out) + "\n"


def write_fixed(path: Path, layout: str, rows: list[dict]) -> Path:
    path.write_text(fixed_width(layout, rows))
    return path


def write_csv(path: Path, layout: str, rows: list[dict], extra: dict | None = None) -> Path:
    names = [f for f, _, _ in _layout(layout)] + list((extra or {}).keys())
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for row in rows:
            w.writerow([{**row, **(extra or {})}.get(n, "") for n in names])
    return path


def write_parquet(path: Path, layout: str, rows: list[dict]) -> Path:
    names = [f for f, _, _ in _layout(layout)]
    pq.write_table(pa.table({n: pa.array([r.get(n) or None for r in rows], pa.string()) for n in names}), path)
    return path


def xref_row(previous: str, current: str, effective: str = "2025-01-01") -> dict:
    return {"HICN_MBI_XREF_IND": "M", "CRNT_NUM": current, "PRVS_NUM": previous,
            "PRVS_ID_EFCTV_DT": effective, "PRVS_ID_OBSLT_DT": "9999-12-31"}
