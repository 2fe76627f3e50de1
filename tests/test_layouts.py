"""Our record layouts agree with CMS's (../shared/reference/cclf), and CCLF8 names never get past ingest."""
from __future__ import annotations

import csv

import pytest

from pipelines.engine.ingest.readers import layout
from tests.cclf_builders import SHARED, write_fixed

CMS_LAYOUTS = SHARED / "reference" / "cclf"


@pytest.mark.parametrize("name", ["cclf1", "cclf4", "cclf5", "cclf8", "cclf9"])
def test_layout_positions_match_cms_packet(name):
    src = CMS_LAYOUTS / f"{name}_layout.csv"
    if not src.exists():
        pytest.skip(f"CMS layouts not present at {CMS_LAYOUTS}")
    cms = {r["field"]: (int(r["start"]), int(r["length"])) for r in csv.DictReader(src.open())}
    ours = layout(name)
    assert ours.record_length == max(s + n - 1 for s, n in cms.values())
    for field, start, length in ours.fields:
        assert cms[field] == (start, length), field


def test_cclf8_names_and_addresses_are_never_read(input_dir, run_ingest_on):
    from tests.cclf_builders import partb_line

    write_fixed(input_dir / "P.A1.ACO.ZC5Y26.D260410.T1", "cclf5", [partb_line(BENE_MBI_ID="1AA0AA0AA01")])
    write_fixed(input_dir / "P.A1.ACO.ZC8Y26.D260410.T1", "cclf8", [{
        "BENE_MBI_ID": "1AA0AA0AA01", "BENE_DOB": "1950-04-01", "BENE_SEX_CD": "2", "BENE_1ST_NAME": "JANE",
        "BENE_LAST_NAME": "DOEPATIENT", "BENE_LINE_1_ADR": "12 SECRET STREET", "BENE_DEATH_DT": "~",
        "BENE_DUAL_STUS_CD": "02", "BENE_MDCR_STUS_CD": "10",
    }])
    assert not {"BENE_1ST_NAME", "BENE_LAST_NAME", "BENE_LINE_1_ADR"} & set(layout("cclf8").field_names)
    _, q = run_ingest_on(input_dir)
    rows = q("SELECT * FROM {beneficiaries}")
    assert len(rows) == 1
    text = repr(rows)
    assert "JANE" not in text and "DOEPATIENT" not in text and "SECRET" not in text
    assert q("SELECT birth_date::VARCHAR, sex, dual_status, death_date FROM {beneficiaries}") == [("1950-04-01", "2", "02", None)]
