"""Tests of the synthetic claims generator (pipelines.synthetic)."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from pipelines.synthetic import SCALES, core, generate, qpp
from pipelines.synthetic import world as W
from pipelines.synthetic.job import LINES_PER_PATIENT, MIN_PRACTICES, Plan
from pipelines.synthetic.practice import ATTESTATION_SHARES, PERFORMANCE_YEAR, PI_SHARES, practice_files
from pipelines.synthetic.reference import SYNTH_DIR, selected_text, zip_cbsa_text
from pipelines.synthetic.render import load_layout, load_rif_columns
from pipelines.synthetic.world import npi_check_digit, npi_is_valid

SCALE = 20_000


def _hashes(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fixed(tmp_path_factory):
    d = tmp_path_factory.mktemp("fixed")
    msgs = []
    s = generate(d, scale=SCALE, seed=7, fmt="fixed", progress=msgs.append)
    return d, s, msgs


@pytest.fixture(scope="module")
def manifest(fixed):
    return json.loads((fixed[0] / "_truth" / "manifest.json").read_text())


def test_determinism_same_seed_identical_files(fixed, tmp_path):
    d, _, _ = fixed
    generate(tmp_path / "again", scale=SCALE, seed=7, fmt="fixed")
    assert _hashes(d) == _hashes(tmp_path / "again")


def test_determinism_parquet_same_seed_identical_files(tmp_path):
    # Parquet too: Part A batches are collected into row groups by row count only
    for d in ("a", "b"):
        generate(tmp_path / d, scale=SCALE, seed=7, fmt="parquet")
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")


def test_determinism_other_seed_differs(fixed, tmp_path):
    d, _, _ = fixed
    generate(tmp_path / "other", scale=SCALE, seed=8, fmt="fixed")
    a, b = _hashes(d), _hashes(tmp_path / "other")
    cclf5 = [k for k in a if ".ZC5" in k]
    assert cclf5 and all(a[k] != b.get(k) for k in cclf5)


def test_no_temp_files_left_and_expected_files(fixed):
    d, s, msgs = fixed
    names = {p.name for p in d.iterdir()}
    assert not [n for n in names if ".tmp" in n]
    assert sum(".ZC5Y" in n for n in names) == 36
    # Part A months with no claims are not written (CMS sends no empty fixed-width files)
    m = json.loads((d / "_truth" / "manifest.json").read_text())
    assert sum(".ZC1Y" in n for n in names) == sum(1 for f in m["parta"]["files"] if f["rows"])
    assert sum(".ZC4Y" in n for n in names) == sum(1 for f in m["parta"]["cclf4_files"] if f["rows"])
    assert all(p.stat().st_size > 0 for p in d.iterdir() if p.is_file())
    assert sum(".ZC8Y" in n for n in names) == 1 and sum(".ZC9Y" in n for n in names) == 2
    for n in ("providers.csv", "quality_submissions.csv", "practice_attestations.csv", "zip_cbsa.csv",
              "asm_selected_cbsas.csv"):
        assert n in names
    assert {p.name for p in (d / "_truth").iterdir()} == {"manifest.json", "patients.parquet", "participants.parquet"}
    assert "P.A9999.ACO.ZC5Y25.D250210.T1200000" in names and "P.A9999.ACO.ZC5Y28.D280110.T1200000" in names
    assert any(m.startswith("wrote ") for m in msgs)
    # progress messages never carry beneficiary ids
    ids = set(pq.read_table(d / "_truth" / "patients.parquet", columns=["bene_id"]).column(0).to_pylist())
    assert not any(tok in ids for m in msgs for tok in m.replace("(", " ").split())


def test_failed_generation_leaves_no_files(tmp_path, monkeypatch):
    # every file is written under a temporary name and renamed only when all blocks succeeded
    import pipelines.synthetic.core as core
    import pipelines.synthetic.job as job

    monkeypatch.setattr(job, "BLOCK_LINES", 10_000)  # several blocks
    gen_block = core.gen_block

    def fail_in_third_block(bi, *args, **kwargs):
        if bi == 2:
            raise RuntimeError("planted failure")
        return gen_block(bi, *args, **kwargs)

    monkeypatch.setattr(core, "gen_block", fail_in_third_block)
    for fmt in ("fixed", "parquet"):
        with pytest.raises(RuntimeError, match="planted failure"):
            generate(tmp_path / fmt, scale=40_000, seed=1, fmt=fmt)
        assert not [p for p in (tmp_path / fmt).rglob("*") if p.is_file()]


def test_fixed_record_lengths_except_planted(fixed, manifest):
    d, _, _ = fixed
    wrong = {(m["file"], m["row"]) for m in manifest["malformed"] if m["kind"] == "wrong_length"}
    assert len(wrong) >= 3
    lengths = {"ZC5": 388, "ZC1": 437, "ZC4": 112, "ZC8": 549, "ZC9": 55}
    for code, n in lengths.items():
        assert load_layout("cclf" + code[-1]).reclen == n
    found = set()
    for p in d.iterdir():
        code = p.name[12:15] if p.name.startswith("P.A9999") else None
        if code not in lengths:
            continue
        data = p.read_bytes()
        assert data == b"" or data.endswith(b"\n")
        for i, rec in enumerate(data.split(b"\n")[:-1], start=1):
            if len(rec) != lengths[code]:
                found.add((p.name, i))
    assert found == wrong


def test_manifest_counts_match_files(fixed, manifest):
    d, s, _ = fixed
    total = 0
    for st in manifest["partb_files"]:
        rows = (d / st["file"]).read_bytes().count(b"\n")
        assert rows == st["lines"]
        total += rows
        assert st["malformed"] <= max(0.005 * st["lines"], 0)
    assert total == manifest["partb_lines"] == s["partb_lines"]
    assert 0.5 * SCALE < total < 1.5 * SCALE
    # version kinds, denials and processing indicators against the raw fields
    L = load_layout("cclf5")

    def field(rec, name):
        i = L.index(name)
        return rec[L.starts[i]:L.starts[i] + L.lengths[i]].decode().strip()

    adj = {"1": 0, "2": 0}
    denied = non_a = 0
    keys = {}
    redelivered = 0
    for st in manifest["partb_files"]:
        for rec in (d / st["file"]).read_bytes().split(b"\n")[:-1]:
            if len(rec) != 388:
                continue
            a = field(rec, "CLM_ADJSMT_TYPE_CD")
            if a in adj:
                adj[a] += 1
            denied += field(rec, "CLM_CARR_PMT_DNL_CD") == "0"
            non_a += field(rec, "CLM_PRCSG_IND_CD") != "A"
            k = (field(rec, "CUR_CLM_UNIQ_ID"), field(rec, "CLM_LINE_NUM"))
            if k[0]:
                redelivered += k in keys
                keys[k] = st["file"]
    assert adj["1"] == manifest["cancel_versions"] > 0
    assert adj["2"] == manifest["adjustment_versions"] > 0
    assert denied == manifest["denied_lines"] > 0
    assert non_a == manifest["non_a_lines"] > 0
    assert redelivered == manifest["redelivered_copies"] > 0
    assert manifest["cclf8"]["rows"] == (d / manifest["cclf8"]["file"]).read_bytes().count(b"\n")
    c9 = manifest["cclf9"]
    assert c9[0]["rows"] < c9[1]["rows"]


def test_cancel_versions_mirror_their_original(fixed, manifest):
    d, _, _ = fixed
    L = load_layout("cclf5")
    cols = {f: (s, s + w) for f, s, w in zip(L.fields, L.starts, L.lengths)}
    recs = [r for st in manifest["partb_files"] for r in (d / st["file"]).read_bytes().split(b"\n")[:-1]
            if len(r) == 388]

    def g(r, f):
        a, b = cols[f]
        return r[a:b].decode().strip()

    orig = {(g(r, "CLM_CNTL_NUM"), g(r, "CLM_LINE_NUM")): r for r in recs if g(r, "CLM_ADJSMT_TYPE_CD") == "0"}
    n = 0
    for r in recs:
        if g(r, "CLM_ADJSMT_TYPE_CD") == "1":
            o = orig[(g(r, "CLM_CNTL_NUM"), g(r, "CLM_LINE_NUM"))]
            assert g(o, "CUR_CLM_UNIQ_ID") != g(r, "CUR_CLM_UNIQ_ID")
            for f in ("CLM_LINE_ALOWD_CHRG_AMT", "CLM_LINE_CVRD_PD_AMT", "CLM_LINE_HCPCS_CD", "CLM_LINE_FROM_DT"):
                assert g(o, f) == g(r, f)
            assert g(r, "CLM_EFCTV_DT") > g(o, "CLM_EFCTV_DT")
            n += 1
    assert n > 0


def test_malformed_rows_where_manifest_says(fixed, manifest):
    d, _, _ = fixed
    L = load_layout("cclf5")
    cols = {f: (s, s + w) for f, s, w in zip(L.fields, L.starts, L.lengths)}
    counts = manifest["malformed_counts"]
    assert set(counts) == {"wrong_length", "bad_amount", "bad_date", "missing_claim_id", "blank_bene_id",
                           "thru_before_from"}
    assert all(v >= 3 for v in counts.values())
    cache = {}
    for m in manifest["malformed"]:
        recs = cache.setdefault(m["file"], (d / m["file"]).read_bytes().split(b"\n"))
        r = recs[m["row"] - 1]

        def g(f):
            a, b = cols[f]
            return r[a:b].decode().strip()

        if m["kind"] == "wrong_length":
            assert len(r) < 388
        elif m["kind"] == "bad_amount":
            assert g("CLM_LINE_ALOWD_CHRG_AMT") == "0000000000ABC.DE"
        elif m["kind"] == "bad_date":
            assert g("CLM_LINE_FROM_DT") == "2026-13-45"
        elif m["kind"] == "missing_claim_id":
            assert g("CUR_CLM_UNIQ_ID") == ""
        elif m["kind"] == "blank_bene_id":
            assert g("BENE_MBI_ID") == ""
        elif m["kind"] == "thru_before_from":
            assert g("CLM_LINE_THRU_DT") < g("CLM_LINE_FROM_DT")
        if m["kind"] != "missing_claim_id" and m["kind"] != "wrong_length":
            assert g("CUR_CLM_UNIQ_ID") == m["claim_id"]


def test_npis_pass_luhn(fixed):
    d, _, _ = fixed
    assert npi_is_valid("1234567893") and not npi_is_valid("1234567890")
    assert int(npi_check_digit(np.array([123456789]))[0]) == 3
    with open(d / "providers.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 50
    assert all(npi_is_valid(r["npi"]) for r in rows)
    parts = pq.read_table(d / "_truth" / "participants.parquet").to_pylist()
    assert all(npi_is_valid(p["npi"]) and len(p["tin"]) == 9 for p in parts)
    assert len({p["tin"] for p in parts}) == Plan.for_target(SCALE).practices
    assert any(p["npi_tin_count"] == 2 for p in parts)


def test_truth_patients_and_crosswalk(fixed, manifest):
    d, _, _ = fixed
    t = pq.read_table(d / "_truth" / "patients.parquet").to_pylist()
    ids = [r["bene_id"] for r in t]
    assert len(set(ids)) == len(ids) and all(len(i) == 11 and i.isalnum() and i.isupper() for i in ids)
    epi = [r for r in t if r["expect_episode"]]
    assert epi and all(r["trigger_date"] < r["confirming_date"] for r in epi)
    for r in epi:
        w = 180 if r["cohort"] == "HF" else 60
        assert 1 <= (r["confirming_date"] - r["trigger_date"]).days <= w
    assert {r["cohort"] for r in t} == {"HF", "LBP", "none"}
    # CCLF9: at least one chain A->B->C, one self-mapping, one 2-cycle
    L = load_layout("cclf9")
    latest = manifest["cclf9"][1]["file"]
    pairs = [(r[1:12].decode(), r[12:23].decode()) for r in (d / latest).read_bytes().split(b"\n")[:-1]]
    crnt_of = {p: c for c, p in pairs}
    assert any(c == p for c, p in pairs)
    assert any(crnt_of.get(c) == p and c != p for c, p in pairs)
    assert any(crnt_of.get(c) not in (None, c) and crnt_of.get(crnt_of[c]) is not None for c, p in pairs)
    assert L.reclen == 55


def test_quality_and_attestation_files(fixed):
    d, _, _ = fixed
    with open(d / "quality_submissions.csv") as fh:
        q = list(csv.DictReader(fh))
    assert {r["measure_id"] for r in q} == {"Q008", "Q005", "Q236", "Q377", "Q134", "Q128", "Q220", "Q238"}
    assert any(r["npi"] == "" for r in q) and any(r["npi"] for r in q)
    with open(d / "practice_attestations.csv") as fh:
        a = list(csv.DictReader(fh))
    assert a and any(r["pi_score"] == "" for r in a) or len(a) > 0
    assert (d / "zip_cbsa.csv").read_text() == zip_cbsa_text() == (SYNTH_DIR / "zip_cbsa.csv").read_text()
    assert (d / "asm_selected_cbsas.csv").read_text() == selected_text()
    assert "SYNTHETIC" in selected_text()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "rif"])
def test_other_formats_readable(fmt, tmp_path, fixed):
    s = generate(tmp_path, scale=SCALE, seed=7, fmt=fmt)
    m = json.loads((tmp_path / "_truth" / "manifest.json").read_text())
    fixed_m = json.loads((fixed[0] / "_truth" / "manifest.json").read_text())
    assert m["partb_lines"] == fixed_m["partb_lines"] == s["partb_lines"]  # same world
    assert "wrong_length" not in m["malformed_counts"]
    con = duckdb.connect()
    cclf5 = list(load_layout("cclf5").fields)
    rif = load_rif_columns()
    for st in m["partb_files"]:
        p = str(tmp_path / st["file"])
        if fmt == "csv":
            rel = con.read_csv(p, header=True, all_varchar=True)
        elif fmt == "parquet":
            rel = con.read_parquet(p)
        else:
            rel = con.read_csv(p, header=True, delimiter="|", all_varchar=True, quotechar="")
        assert rel.columns == (rif if fmt == "rif" else cclf5)
        assert rel.aggregate("count(*)").fetchall()[0][0] == st["lines"]
    # planted malformed rows at the stated 1-based data rows
    amt = "LINE_ALOWD_CHRG_AMT" if fmt == "rif" else "CLM_LINE_ALOWD_CHRG_AMT"
    for mm in m["malformed"]:
        p = tmp_path / mm["file"]
        if fmt == "parquet":
            t = pq.read_table(p)
            row = {k: v[0] for k, v in t.slice(mm["row"] - 1, 1).to_pydict().items()}
        else:
            with open(p, newline="") as fh:
                rows = list(csv.DictReader(fh, delimiter="|" if fmt == "rif" else ","))
            row = rows[mm["row"] - 1]
        if mm["kind"] == "bad_amount":
            assert row[amt] == m["malformed_values"]["bad_amount"]
        elif mm["kind"] == "missing_claim_id":
            assert row["CLM_ID" if fmt == "rif" else "CUR_CLM_UNIQ_ID"] == ""
        elif mm["kind"] == "blank_bene_id":
            assert row["BENE_ID" if fmt == "rif" else "BENE_MBI_ID"] == ""
        elif mm["kind"] == "bad_date":
            assert row["LINE_1ST_EXPNS_DT" if fmt == "rif" else "CLM_LINE_FROM_DT"] == m["malformed_values"]["bad_date"]
    if fmt == "rif":
        r = con.sql(f"select FINAL_ACTION, PRVDR_ZIP, LINE_1ST_EXPNS_DT from read_csv('{tmp_path}/carrier_2026_03.txt',"
                    " delim='|', header=true, all_varchar=true) limit 1").fetchall()[0]
        assert r[0] in ("F", "N") and len(r[1]) == 9 and len(r[2]) == 11


# ------------------------------------------------------------------------------------------------
# A realistic world (issue 13, item 6): CMS-calibrated costs and quality rates, realistic peer pools
# and the scoring scenarios, checked on the generator's output and on an engine run of the demo.
def _cdf_gap(met: np.ndarray, den: np.ndarray, values) -> float:
    """Largest gap between CMS's percentile levels k and the submitted rates' distribution at CMS's
    percentile values v, allowing each rate its rounding to whole patients: the share of rows whose
    rate is below v beyond rounding must not exceed k, the share at most v within rounding must
    reach k (so p10, p20 ... p90 of the rates all land where CMS's do)."""
    gaps = []
    for k, v in zip(qpp.LEVELS, values):
        thr = den * v / 100.0
        below = float(np.mean(met + 0.5 < thr))
        at_most = float(np.mean(met - 0.5 <= thr))
        gaps.append(max(below - k / 100, k / 100 - at_most, 0.0))
    return max(gaps)


def _rates_by_measure_and_type(rows: list[dict]) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    out: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for r in rows:
        met, not_met = int(r["performance_met"]), int(r["performance_not_met"])
        if met + not_met > 0:
            out.setdefault((r["measure_id"], r["collection_type"]), []).append((met, met + not_met))
    return {k: (np.array([m for m, _ in v]), np.array([d for _, d in v])) for k, v in out.items()}


def _assert_rates_follow_cms(rows: list[dict], min_rows: int) -> int:
    """Every (measure, collection type) with at least min_rows rows is within the KS 99% bound
    (1.63 / sqrt(n)) of CMS's percentiles; returns how many pairs were checked."""
    dists = qpp.rate_distributions(PERFORMANCE_YEAR)
    checked = 0
    for key, (met, den) in sorted(_rates_by_measure_and_type(rows).items()):
        if len(met) < min_rows:
            continue
        gap = _cdf_gap(met, den, dists[key].values)
        assert gap <= 1.63 / np.sqrt(len(met)), f"{key}: {len(met)} rates, gap {gap:.3f} from {dists[key].source}"
        checked += 1
    return checked


@pytest.fixture(scope="module")
def big_world():
    """A world of 1,500 practices (about 19,000 participants) and its side files."""
    wd = W.build_world(np.random.default_rng([11, 0]), 1500)
    return wd, practice_files(wd, np.random.default_rng([11, 3]))


@pytest.fixture(scope="module")
def big_world_quality(big_world) -> list[dict]:
    """quality_submissions.csv of the big world."""
    return list(csv.DictReader(io.StringIO(big_world[1].quality_csv)))


def test_Q2_quality_rates_follow_cms_percentiles_per_measure_and_collection_type(big_world_quality):
    pairs = {(m, t) for m, types in qpp.collection_types().items() for t in types}
    assert _assert_rates_follow_cms(big_world_quality, min_rows=300) == len(pairs) == 17


def test_Q2_submissions_use_only_the_collection_types_each_measure_has(big_world_quality):
    # mips_measures_2027.csv: Q005, Q008, Q377 have no claims type, Q220 is MIPS CQM only, Q377 eCQM
    # only; Q492 is computed from Part A (Q6), never submitted
    types = qpp.collection_types()
    assert types["Q220"] == ("mips_cqm",) and types["Q377"] == ("ecqm",) and "Q492" not in types
    assert all("claims" not in types[m] for m in ("Q005", "Q008", "Q377"))
    seen = {(r["measure_id"], r["collection_type"]) for r in big_world_quality}
    assert seen == {(m, t) for m, ts in types.items() for t in ts}
    assert all(r["performance_year"] == str(PERFORMANCE_YEAR) for r in big_world_quality)


def test_qpp_reference_ships_in_the_repository_and_inverse_percentiles_ascend():
    # the generator reads CMS's files from data/reference/qpp/, never from ../shared
    assert qpp.QPP_DIR == Path(__file__).resolve().parents[1] / "data" / "reference" / "qpp"
    src = "".join(p.read_text() for p in Path(qpp.__file__).parent.glob("*.py"))
    assert "shared/reference" not in src and "../shared" not in src
    # Q238 (lower is better): p1 ... p99 ascend in value like every other measure, so p1 is the best
    # performers' rate, not the worst (checked on every row of the file)
    with open(qpp.QPP_DIR / "mips_quality_benchmarks.csv") as fh:
        rows = list(csv.DictReader(fh))
    inverse = [r for r in rows if r["is_inverse"] == "True"]
    assert {r["measure_id"] for r in inverse} == {"238", "492"}
    for r in rows:
        values = [float(r[f"p{k}"]) for k in qpp.LEVELS]
        assert values == sorted(values), r
    # placeholder rows (p_k = k) carry no distribution: the measure's eCQM percentiles stand in
    q236 = qpp.rate_distributions(PERFORMANCE_YEAR)
    assert q236[("Q236", "claims")].values == q236[("Q236", "ecqm")].values
    assert qpp.national_average_cost(PERFORMANCE_YEAR) == {"HF": 14994.38, "LBP": 1930.26}


def test_world_grows_with_the_scale():
    small, medium = Plan.for_target(SCALES["small"]), Plan.for_target(SCALES["medium"])
    assert Plan.for_target(SCALE).practices == MIN_PRACTICES < small.practices < medium.practices
    assert medium.practices / small.practices == pytest.approx(medium.patients / small.patients, rel=0.01)
    a = W.build_world(np.random.default_rng([1, 0]), small.practices)
    b = W.build_world(np.random.default_rng([1, 0]), medium.practices)
    assert len(b.p_tin) > 5 * len(a.p_tin)


# ------------------------------------------------------------------------------------------------
# The world on CMS's scale (issue 18, item 7): Q492 rates on CMS's published curve, IA/PI attestations
# as practice.ATTESTATION_SHARES / PI_SHARES say.
def test_S2_S3_S6_attestation_shares_follow_the_documented_assumption(big_world):
    wd, files = big_world
    n = len(wd.tins)
    rows = {r["tin"]: r for r in csv.DictReader(io.StringIO(files.attestations_csv))}
    state = {t: s for t, s in zip(files.participants.column("tin").to_pylist(),
                                  files.participants.column("tin_attestation").to_pylist())}

    def kind(tin: str) -> str:
        if tin not in rows:
            return "no_row"
        answers = (rows[tin]["ia1_done"], rows[tin]["ia2_done"])
        return {("Y", "Y"): "both", ("Y", "N"): "one", ("N", "Y"): "one", ("N", "N"): "neither",
                ("", ""): "blank"}[answers]

    kinds = [kind(t) for t in wd.tins]
    # exact shares of the practices (world.quota), at most one practice moved to plant an S6 failure
    for k, share in ATTESTATION_SHARES.items():
        assert abs(kinds.count(k) - share * n) <= 2, (k, kinds.count(k), share * n)
    # the truth table says the same (S6: no row / blank answers)
    for t, k in zip(wd.tins, kinds):
        if t in state:
            assert state[t] == {"no_row": "none", "blank": "blank"}.get(k, "row")
    # every practice size alike: large groups (> 15 clinicians) attest both IAs about as often
    large = [k for k, size in zip(kinds, wd.tin_size) if size > 15]
    assert len(large) > 200 and abs(large.count("both") / len(large) - ATTESTATION_SHARES["both"]) < .08
    # S3: PI scores in their bands at PI_SHARES, blank = not reported
    pi = [rows[t]["pi_score"] for t in wd.tins if t in rows]
    for bounds, share in PI_SHARES.items():
        hit = [v for v in pi if (v == "" if bounds is None else v != "" and bounds[0] <= int(v) <= bounds[1])]
        assert abs(len(hit) / len(pi) - share) < .02, (bounds, len(hit) / len(pi), share)
    assert all(v == "" or 0 <= int(v) <= 100 for v in pi)


def _planted_admission_rates(seed: int, target: int) -> dict[str, np.ndarray]:
    """Q6 on the generator's own arrays (one block: the whole world at this scale), per main HF
    clinician with >= 20 episodes closing in the PY (R5): `admissions`, its unplanned cardiovascular
    admissions inside them (inpatient type 60, not elective, principal diagnosis I00-I99, which holds
    the HF list; one per day), `hf_admissions` those with an HF principal diagnosis (the planted ones),
    `person_years` (days / 365.25) and `planned` (world.p_admission_rate, per 100 person-years)."""
    plan = Plan.for_target(target)
    assert plan.blocks == 1
    wd = W.build_world(np.random.default_rng([seed, 0]), plan.practices)
    blk = core.gen_block(0, 0, plan.block_patients(0), wd, seed, core.Counters(0, 0, 0, 0),
                         lines_hint=int(plan.patients * LINES_PER_PATIENT))
    t, pa = blk.truth, blk.parta
    hf = t["cohort"] == core.COHORT_HF
    first, second = hf & (t["trigger"] >= 0), hf & (t["second_trigger"] >= 0)
    pat = np.r_[np.flatnonzero(first), np.flatnonzero(second)]
    start = np.r_[t["trigger"][first], t["second_trigger"][second]]
    end = start + 364
    in_py = (end >= core.day(f"{PERFORMANCE_YEAR}-01-01")) & (end <= core.END)
    pat, start, end = pat[in_py], start[in_py], end[in_py]
    main = t["main"][pat]
    episodes = np.bincount(main, minlength=len(wd.p_tin))
    keep = np.flatnonzero(episodes >= 20)
    dx = np.array(W.DX.values)[pa["pdx"]]
    unplanned = (pa["ctype"] == 60) & ~pa["elective"]
    out = {}
    for name, mask in (("admissions", unplanned & (dx >= "I00") & (dx < "J")),
                       ("hf_admissions", unplanned & np.isin(dx, W.HF_DX))):
        days: dict[int, set[int]] = {}
        for p, d in zip(pa["pat"][mask].tolist(), pa["frm"][mask].tolist()):
            days.setdefault(p, set()).add(d)
        adm = np.array([sum(s <= d <= e for d in days.get(p, ())) for p, s, e in zip(pat.tolist(), start, end)])
        out[name] = np.bincount(main, weights=adm, minlength=len(wd.p_tin))[keep]
    out["person_years"] = np.bincount(main, weights=(end - start + 1) / 365.25, minlength=len(wd.p_tin))[keep]
    out["planned"] = wd.p_admission_rate[keep]
    return out


@pytest.mark.parametrize("seed", [42, 7])
def test_Q6_planted_admission_rates_follow_cms_published_percentiles(seed):
    # CMS's 2024 Q492 curve (administrativeClaims, per 100 person-years): p1 58.28 ... p50 67.43 ...
    # p99 78.4; the 2025/2026 rows are cost-score thresholds, not percentiles (qpp.ADMISSION_RATE_PY)
    cms = qpp.admission_rate_distribution()
    assert cms.performance_year == 2024 and cms.values[0] == 58.28 and cms.values[5] == 67.43
    assert cms.values[-1] == 78.4
    w = _planted_admission_rates(seed, SCALES["small"])
    admissions, person_years = w["admissions"], w["person_years"]
    n = len(admissions)
    assert n >= 100
    # each clinician's planted HF admissions land within one of its plan (systematic allocation;
    # Poisson counts would miss by several); other cardiovascular stays add a few on top
    miss = np.abs(w["hf_admissions"] - w["planned"] * person_years / 100)
    assert np.all(miss < 1 + 1e-9), miss.max()
    assert 0 <= (admissions - w["hf_admissions"]).sum() <= .02 * admissions.sum()
    # the rates follow CMS's curve: within the KS 99% bound at every published percentile (each
    # count allowed its rounding to a whole admission), and few beyond CMS's p99
    rates = 100 * admissions / person_years
    assert _cdf_gap(admissions, person_years, cms.values) <= 1.63 / np.sqrt(n)
    assert np.mean(rates > cms.values[-1]) <= .03
    cohort_rate = 100 * admissions.sum() / person_years.sum()
    assert abs(cohort_rate - 67.72) < 2.0  # CMS's average 67.72 (2024)


def test_parquet_row_groups_keep_only_the_dictionary_values_they_use(tmp_path):
    """Issue 20 (100 M world): Parquet stores an Arrow dictionary whole in every row group, so a world-sized
    NPI vocabulary in each row group made the 100 M input 56 GB. A long dictionary is cut to the values the
    row group uses; the values read back are the same, the dictionary type stays."""
    import pyarrow as pa

    from pipelines.synthetic.render import COMPACT_DICTIONARY_OVER, compact_dictionaries, open_sink

    vocabulary = pa.array([f"{1000000000 + i}" for i in range(50 * COMPACT_DICTIONARY_OVER)])
    small = pa.array(["A", "B"])
    rows = np.array([7, 3, 7, 40_000, 3], dtype=np.int32)
    t = pa.table({"NPI": pa.DictionaryArray.from_arrays(pa.array(rows), vocabulary),
                  "CODE": pa.DictionaryArray.from_arrays(pa.array(np.array([0, 1, 0, 1, 1], np.int32)), small)})
    compact = compact_dictionaries(t)
    assert compact.schema == t.schema
    assert len(compact["NPI"].chunk(0).dictionary) == 3  # the three NPIs used
    assert compact["CODE"].chunk(0).dictionary.equals(small)  # short dictionaries are left whole
    assert compact.cast(pa.schema([("NPI", pa.string()), ("CODE", pa.string())])).equals(
        t.cast(pa.schema([("NPI", pa.string()), ("CODE", pa.string())])))

    with open_sink(tmp_path / "x.parquet", "parquet") as sink:
        sink.write_table(t)
        sink.write_table(t)
    meta = pq.ParquetFile(tmp_path / "x.parquet").metadata
    assert meta.num_row_groups == 2
    npi = [meta.row_group(g).column(0).total_compressed_size for g in range(2)]
    assert max(npi) < 1000, npi  # 3 values a row group, not the 51,200 of the vocabulary (~600 kB)
    assert pq.read_table(tmp_path / "x.parquet").column("NPI").to_pylist() == [str(1000000000 + i) for i in rows] * 2
