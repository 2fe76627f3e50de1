"""G1-G4 on hand-built NPIs (PY 2027, reference year 2025)."""
from __future__ import annotations

import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.scoring import eligibility as g
from pipelines.engine.scoring.inputs import SideInputError

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
                        "cbsa_code": ["1", "1", "1", "2"], "zip5": ["10001"] * 4})
    att = pl.DataFrame({"tin": ["T", "T"], "npi": ["A", "B"], "cohort": ["HF", "HF"], "attributed_episodes": [20, 19]})
    tn = pl.DataFrame({"tin": ["T"] * 5, "npi": ["A", "B", "C", "D", "E"]})
    out = {r["npi"]: r for r in g.eligibility(tn, spec, loc, att, 20, P).iter_rows(named=True)}
    assert out["A"]["eligible"] and out["A"]["reason"] is None
    assert out["B"]["reason"] == "G4: 19 attributed episodes < 20" and out["B"]["eligible_location"]
    assert out["C"]["reason"].startswith("G2") and out["D"]["reason"].startswith("G3")
    assert out["E"]["reason"].startswith("G1")


def _zip_cbsa(rows, ratio=True):
    cols = ["zip5", "cbsa_code", "res_ratio"] if ratio else ["zip5", "cbsa_code"]
    return pl.DataFrame([r if ratio else r[:2] for r in rows], schema=cols, orient="row")


def test_G3_multi_cbsa_zip_goes_to_the_largest_residential_share():
    # 10001: 35620 (0.3) vs 11111 (0.7) -> 11111; 20002: a 0.5 / 0.5 tie -> the lower code 22222;
    # 30003 has one CBSA -> 'single'.
    zc = _zip_cbsa([("10001", "35620", 0.3), ("10001", "11111", 0.7), ("20002", "33333", 0.5),
                    ("20002", "22222", 0.5), ("30003", "44444", 1.0)])
    out = {r["zip5"]: (r["cbsa_code"], r["cbsa_rule"]) for r in g.zip_to_cbsa(zc, P).iter_rows(named=True)}
    assert out == {"10001": ("11111", "largest_res_ratio"), "20002": ("22222", "largest_res_ratio"),
                   "30003": ("44444", "single")}


def test_G3_multi_cbsa_zip_without_res_ratio_follows_the_configured_default():
    # no res_ratio column: the DEFAULT eligibility.multi_cbsa_zip = "lowest_cbsa_code" -> 11111
    zc = _zip_cbsa([("10001", "35620", None), ("10001", "11111", None), ("30003", "44444", None)], ratio=False)
    assert P.multi_cbsa_zip == "lowest_cbsa_code"
    out = {r["zip5"]: (r["cbsa_code"], r["cbsa_rule"]) for r in g.zip_to_cbsa(zc, P).iter_rows(named=True)}
    assert out == {"10001": ("11111", "lowest_cbsa_code"), "30003": ("44444", "single")}
    # "unknown": no CBSA, the clinician is not eligible with the reason (below)
    unknown = P.model_copy(update={"multi_cbsa_zip": "unknown"})
    out = {r["zip5"]: (r["cbsa_code"], r["cbsa_rule"]) for r in g.zip_to_cbsa(zc, unknown).iter_rows(named=True)}
    assert out == {"10001": (None, "several_cbsas"), "30003": ("44444", "single")}
    # "refuse": one line naming the ZIP and its CBSAs
    with pytest.raises(SideInputError) as err:
        g.zip_to_cbsa(zc, P.model_copy(update={"multi_cbsa_zip": "refuse"}))
    assert str(err.value) == ("zip_cbsa.csv: ZIP 10001 maps to 2 CBSAs (11111, 35620) and the file has no res_ratio "
                              "column; add res_ratio (HUD's residential share) or set eligibility.multi_cbsa_zip")


def test_G3_location_unknown_with_both_geography_files_is_not_eligible():
    # A: no ZIP anywhere; B: ZIP 99999 absent from zip_cbsa.csv; C: ZIP 10001 with two CBSAs and no
    # res_ratio under "unknown"; D: selected. With both files supplied, A-C are not eligible (G3).
    npis = pl.DataFrame({"npi": ["A", "B", "C", "D"]})
    claims = pl.DataFrame(schema={"npi": pl.Utf8, "zip5": pl.Utf8})
    providers = pl.DataFrame({"npi": ["B", "C", "D"], "zip5": ["99999", "10001", "30003"]})
    zc = _zip_cbsa([("10001", "35620", None), ("10001", "11111", None), ("30003", "44444", None)], ratio=False)
    selected = pl.DataFrame({"cbsa_code": ["44444", "11111"]})
    unknown = P.model_copy(update={"multi_cbsa_zip": "unknown"})
    loc = g.npi_location(npis, claims, providers, zc, selected, unknown)
    spec = pl.DataFrame({"npi": ["A", "B", "C", "D"], "specialty": ["06"] * 4})
    att = pl.DataFrame({"tin": ["T"] * 4, "npi": ["A", "B", "C", "D"], "cohort": ["HF"] * 4,
                        "attributed_episodes": [25] * 4})
    out = {r["npi"]: r for r in g.eligibility(att.select("tin", "npi"), spec, loc, att, 20, unknown).iter_rows(named=True)}
    assert [out[n]["location_status"] for n in "ABCD"] == ["unknown_zip", "unknown_cbsa", "several_cbsas", "selected_cbsa"]
    assert out["A"]["reason"] == "G3: no provider ZIP for the NPI (no PRVDR_ZIP on its claims, not in providers.csv)"
    assert out["B"]["reason"] == "G3: ZIP 99999 is not in zip_cbsa.csv"
    assert out["C"]["reason"] == ("G3: ZIP 10001 maps to several CBSAs and zip_cbsa.csv has no res_ratio "
                                  "(eligibility.multi_cbsa_zip = unknown)")
    assert [out[n]["eligible"] for n in "ABCD"] == [False, False, False, True]
    # without the geography files the same NPIs are all scored, flagged (G3)
    loose = g.npi_location(npis, claims, providers, None, None, P)
    assert set(loose["location_status"]) == {"unknown_no_reference_tables"}
