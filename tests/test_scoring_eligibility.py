"""G1-G4 on hand-built NPIs (PY 2027, reference year 2025)."""
from __future__ import annotations

import polars as pl

from pipelines.methodology import load_methodology
from pipelines.scoring import eligibility as g

P = load_methodology(2027).eligibility


def test_G1_specialty_plurality_ties_and_fallback():
    counts = pl.DataFrame({
        "npi": ["A", "A", "A", "B", "B", "C", "D", "D"],
        "year": [2025, 2025, 2027, 2025, 2025, 2027, 2025, 2025],
        "specialty": ["06", "11", "20", "20", "06", "72", "05", "09"],
        "lines": [3, 3, 50, 4, 4, 7, 2, 2],
        "allowed": [100.0, 200.0, 1.0, 50.0, 50.0, 1.0, 10.0, 10.0],
    })
    out = {r["npi"]: r for r in g.specialty_by_plurality(counts, 2027, P).iter_rows(named=True)}
    assert out["A"]["specialty"] == "11"  # 3 vs 3 lines in 2025: larger allowed wins; 2027 lines ignored
    assert out["B"]["specialty"] == "06"  # tie on lines and allowed: lower code
    assert out["C"]["specialty"] == "72" and out["C"]["specialty_year_fallback"]  # no 2025 data: PY, flagged
    assert not out["A"]["specialty_year_fallback"]
    assert out["D"]["specialty"] == "05"


def test_G2_cohort_of_specialty():
    df = pl.DataFrame({"specialty": ["06", "05", "09", "14", "20", "25", "72", "11"]})
    assert df.select(g.cohort_of_specialty_expr(P))["specialty"].to_list() == ["HF"] + ["LBP"] * 6 + [None]


def _location(with_tables=True):
    npis = pl.DataFrame({"npi": ["A", "B", "C", "D"]})
    zips = g.zip_by_plurality(pl.DataFrame({
        "npi": ["A", "A", "B"], "year": [2025, 2025, 2025], "zip5": ["10001", "10002", "99999"], "lines": [2, 2, 5]}),
        2027, P)
    providers = pl.DataFrame({"npi": ["A", "C"], "zip5": ["60601", "60601"]})
    zip_cbsa = pl.DataFrame({"zip5": ["10001", "60601", "99999"], "cbsa_code": ["35620", "16980", "11111"]})
    selected = pl.DataFrame({"cbsa_code": ["35620"]})
    if not with_tables:
        zip_cbsa = selected = None
    return {r["npi"]: r for r in g.npi_location(npis, zips, providers, zip_cbsa, selected, P).iter_rows(named=True)}


def test_G3_location():
    loc = _location()
    # A: claims ZIPs tie 2-2 -> lower 10001 (claims before providers) -> CBSA 35620, selected
    assert (loc["A"]["zip5"], loc["A"]["zip_source"], loc["A"]["location_status"]) == ("10001", "claims", "selected_cbsa")
    assert loc["B"]["location_status"] == "not_selected_cbsa" and loc["B"]["in_selected_cbsa"] is False
    assert loc["C"]["zip_source"] == "providers" and loc["C"]["cbsa_code"] == "16980"
    assert loc["D"]["location_status"] == "unknown_zip" and loc["D"]["in_selected_cbsa"] is None


def test_G3_without_reference_tables_location_is_unknown_for_everyone():
    loc = _location(with_tables=False)
    assert {r["location_status"] for r in loc.values()} == {"unknown_no_reference_tables"}


def test_G1_G4_eligibility_reasons():
    spec = pl.DataFrame({"npi": ["A", "B", "C", "D"], "specialty": ["06", "06", "11", "20"]})
    loc = pl.DataFrame({"npi": ["A", "B", "C", "D"], "location_status": ["selected_cbsa", "selected_cbsa",
                                                                        "selected_cbsa", "not_selected_cbsa"],
                        "cbsa_code": ["1", "1", "1", "2"]})
    att = pl.DataFrame({"tin": ["T", "T"], "npi": ["A", "B"], "cohort": ["HF", "HF"], "attributed_episodes": [20, 19]})
    tn = pl.DataFrame({"tin": ["T"] * 5, "npi": ["A", "B", "C", "D", "E"]})
    out = {r["npi"]: r for r in g.eligibility(tn, spec, loc, att, 20, P).iter_rows(named=True)}
    assert out["A"]["eligible"] and out["A"]["reason"] is None
    assert out["B"]["reason"] == "G4: 19 attributed episodes < 20" and out["B"]["eligible_location"]
    assert out["C"]["reason"].startswith("G2") and out["D"]["reason"].startswith("G3")
    assert out["E"]["reason"].startswith("G1")
