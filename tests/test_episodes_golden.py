"""Golden tests for the episode engine (E1-E6, X1-X2, A1-A3, C1-C4, L): hand-built claim sets, each
answer worked out by hand in the comments. D0 = 2026-01-05; `line(on=n)` is a line on D0 + n days,
by default an HF-qualifying 99214 office visit (POS 11, dx I509 on line and claim, allowed 100.00)
billed by TIN T1 / NPI N1."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.episode_support import bene, day, line, methodology_with, parta_claim, run_engine


def _pairs(run, cohort=None):
    return [(e["trigger_date"], e["confirming_date"], e["end_date"]) for e in run.episodes(cohort)]


# ---------------------------------------------------------------- E2 confirming windows

def test_E2_confirming_on_day_180_counts_day_181_does_not(tmp_path):
    # B1: visits on day 0 and day 180 -> 180 - 0 = 180 <= 180 (HF window): one episode, trigger day 0.
    # B2: visits on day 0 and day 181 -> 181 > 180: no pair from day 0; day 181 has no later visit: none.
    run = run_engine(tmp_path, [line("B1", 0), line("B1", 180), line("B2", 0), line("B2", 181)])
    eps = run.episodes("HF")
    assert [(e["bene_id"], e["trigger_date"], e["confirming_date"]) for e in eps] == [("B1", day(0), day(180))]


def test_E2_LBP_confirming_on_day_60_counts_day_61_does_not(tmp_path):
    # LBP window 60 days: B1 day 0 + day 60 -> pair (60 <= 60); B2 day 0 + day 61 -> 61 > 60, none.
    lines = [line("B1", 0, dx="M5450"), line("B1", 60, dx="M5450"),
             line("B2", 0, dx="M5450"), line("B2", 61, dx="M5450")]
    eps = run_engine(tmp_path, lines).episodes("LBP")
    assert [(e["bene_id"], e["trigger_date"], e["confirming_date"]) for e in eps] == [("B1", day(0), day(60))]


def test_E2_same_day_second_visit_does_not_confirm(tmp_path):
    # Two qualifying lines on day 0 (two claims, same participant): 0 days apart, but E2 needs >= 1 day.
    # Nothing else: no episode. Adding a day-1 visit makes day 0 the trigger, confirmed on day 1.
    same_day = [line("B1", 0), line("B1", 0)]
    assert run_engine(tmp_path / "a", same_day).episodes() == []
    eps = run_engine(tmp_path / "b", same_day + [line("B1", 1)]).episodes()
    assert [(e["trigger_date"], e["confirming_date"]) for e in eps] == [(day(0), day(1))]


@pytest.mark.parametrize("pair_scope,expected", [("npi", []), ("tin", [(day(0), day(30), "T1", "N1", "N2")])])
def test_E2_pair_billed_by_two_npis_of_one_tin_under_each_pair_scope(tmp_path, pair_scope, expected):
    # Day 0 billed by T1/N1, day 30 by T1/N2. pair_scope 'npi' (same TIN and NPI): no pair.
    # pair_scope 'tin' (same TIN): trigger day 0 (N1), confirming day 30 (N2).
    run = run_engine(tmp_path, [line("B1", 0, npi="N1"), line("B1", 30, npi="N2")],
                     overrides={"episodes": {"pair_scope": pair_scope}})
    assert [(e["trigger_date"], e["confirming_date"], e["trigger_tin"], e["trigger_npi"], e["confirming_npi"])
            for e in run.episodes()] == expected


def test_E2_two_tins_never_pair_even_under_tin_scope(tmp_path):
    run = run_engine(tmp_path, [line("B1", 0, tin="T1"), line("B1", 30, tin="T2")],
                     overrides={"episodes": {"pair_scope": "tin"}})
    assert run.episodes() == []


def test_E2_earliest_trigger_with_a_confirmation_and_its_earliest_confirming_line(tmp_path):
    # N2 visits day 0 only (no confirmation). N1 visits days 10, 40, 50: trigger = day 10 (earliest
    # line that has a confirmation), confirming = day 40 (earliest), not 50. E6 keys point to those lines.
    lines = [line("B1", 0, npi="N2"), line("B1", 10, ccn="TRIG"), line("B1", 40, ccn="CONF"), line("B1", 50)]
    (e,) = run_engine(tmp_path, lines).episodes()
    assert (e["trigger_date"], e["confirming_date"]) == (day(10), day(40))
    assert (e["trigger_claim_control_number"], e["trigger_claim_id"], e["trigger_line_number"]) == ("TRIG", "IDTRIG", 1)
    assert (e["confirming_claim_control_number"], e["confirming_npi"]) == ("CONF", "N1")


# ---------------------------------------------------------------- E3 / E4 / E5

def test_E4_chained_episodes_and_a_new_trigger_inside_an_episode(tmp_path):
    # Episode 1: trigger day 0, confirmed day 20, end = day 364 (E3: 365 days inclusive).
    # Days 300 + 320 form a pair inside episode 1: ignored (E4, trigger 300 <= 364).
    # Day 364 + 380: trigger on the end date itself is not *after* the end: ignored.
    # Day 365 + 400: trigger after the end -> episode 2, day 365 .. day 729.
    lines = [line("B1", d) for d in (0, 20, 300, 320, 364, 380)] + [line("B1", 400), line("B1", 365)]
    assert _pairs(run_engine(tmp_path, lines)) == [(day(0), day(20), day(364)), (day(365), day(380), day(729))]


def test_E4_HF_and_LBP_episodes_of_one_beneficiary_are_independent(tmp_path):
    # The same days carry HF (I509) and LBP (M5450) visits: one episode in each cohort, overlapping.
    lines = [line("B1", 0), line("B1", 30), line("B1", 10, dx="M5450"), line("B1", 40, dx="M5450")]
    run = run_engine(tmp_path, lines)
    assert _pairs(run, "HF") == [(day(0), day(30), day(364))]
    assert _pairs(run, "LBP") == [(day(10), day(40), day(374))]


def test_E3_death_truncates_the_episode(tmp_path):
    # Trigger day 0, confirmed day 30, death on day 100: end = day 100 (not day 364), flagged.
    run = run_engine(tmp_path, [line("B1", 0), line("B1", 30)], benes=[bene("B1", death=day(100))])
    (e,) = run.episodes()
    assert (e["end_date"], e["truncated_at_death"], e["quarantined"]) == (day(100), True, False)


def test_E5_open_and_closed_against_the_last_service_date_and_PY_of_end_date(tmp_path):
    # B1: trigger 2026-01-05 (day 0), end day 364 = 2027-01-04 -> PY 2027.
    # B2 is seen on day 400 (= 2027-02-09), the data's last service date: B1's end is on/before it
    # -> closed. B2: trigger day 380 (2027-01-20), end 2028-01-19 > last date -> open, PY 2028.
    lines = [line("B1", 0), line("B1", 30), line("B2", 380), line("B2", 400)]
    eps = {e["bene_id"]: e for e in run_engine(tmp_path, lines).episodes()}
    assert (eps["B1"]["end_date"], eps["B1"]["status"], eps["B1"]["performance_year"]) == (date(2027, 1, 4), "closed", 2027)
    assert (eps["B2"]["status"], eps["B2"]["performance_year"], eps["B2"]["scorable"]) == ("open", 2028, False)
    assert eps["B1"]["scorable"] is True  # closed, PY 2027 = the run's PY, not excluded


def test_E5_open_episode_reports_cost_to_date(tmp_path):
    # Trigger day 0, end day 364, last service date day 200 -> open; cost to date = 3 lines x 100.
    run = run_engine(tmp_path, [line("B1", 0), line("B1", 30), line("B1", 200)])
    (c,) = run.rows("SELECT status, observed_cost FROM episode_costs")
    assert c == {"status": "open", "observed_cost": Decimal("300.00")}


# ---------------------------------------------------------------- X1 / X2

def test_X1_death_before_trigger_quarantines_and_X2_absent_beneficiary_is_flagged(tmp_path):
    # B1 died before its trigger (day 0): quarantined with the reason; episode not cut (death < start).
    # B2 is not in the demographics file: kept, demographics_missing = true.
    # B3 is 17 on the trigger date (born 2008-06-01, trigger 2026-01-05): excluded.
    lines = [line(b, d) for b in ("B1", "B2", "B3") for d in (0, 30)]
    benes = [bene("B1", death=day(-10)), bene("B3", birth=date(2008, 6, 1))]
    eps = {e["bene_id"]: e for e in run_engine(tmp_path, lines, benes=benes).episodes()}
    assert eps["B1"]["quarantined"] and "death before trigger" in eps["B1"]["quarantine_reason"]
    assert eps["B1"]["end_date"] == day(364) and not eps["B1"]["scorable"]
    assert (eps["B2"]["demographics_missing"], eps["B2"]["excluded"]) == (True, False)
    assert (eps["B3"]["excluded"], eps["B3"]["age_at_trigger"], eps["B3"]["demographics_missing"]) == (True, 17, False)
    assert eps["B3"]["exclusion_reason"].startswith("X1")


def test_X1_X2_do_not_apply_without_demographics(tmp_path):
    (e,) = run_engine(tmp_path, [line("B1", 0), line("B1", 30)]).episodes()
    assert (e["demographics_missing"], e["excluded"], e["quarantined"], e["age_at_trigger"]) == (None, False, False, None)


# ---------------------------------------------------------------- E1 and code lists (L)

def test_E1_diagnosis_only_on_claim_header_or_only_on_line_both_qualify(tmp_path):
    # B1: line dx I10 (not HF), claim dx [I10, I5022] -> qualifies through the header.
    # B2: line dx I509, claim dx [E119] -> qualifies through the line.
    # B3: I10 on line and header -> does not qualify: no episode.
    lines = [line("B1", d, dx="I10", claim_dx=["I10", "I5022"]) for d in (0, 30)]
    lines += [line("B2", d, dx="I509", claim_dx=["E119"]) for d in (0, 30)]
    lines += [line("B3", d, dx="I10", claim_dx=["I10"]) for d in (0, 30)]
    assert [e["bene_id"] for e in run_engine(tmp_path, lines).episodes()] == ["B1", "B2"]


@pytest.mark.parametrize("change,expected", [
    ({"hcpcs": "93306"}, 0),  # not a trigger E&M service
    ({"pos": "21"}, 0),  # inpatient hospital: place of service not allowed
    ({"allowed": "0.00"}, 0),  # net allowed must be > 0
    ({"claim_type": "72"}, 0),  # DMEPOS claim, not 71
    ({"hcpcs": "99347", "pos": "12"}, 1),  # home visit at home: qualifies
])
def test_E1_each_qualifying_condition(tmp_path, change, expected):
    # The confirming visit (day 30) qualifies; the day-0 line is altered by `change`.
    assert len(run_engine(tmp_path, [line("B1", 0, **change), line("B1", 30)]).episodes()) == expected


def test_L_icd10_code_valid_only_before_or_after_the_october_2024_update(tmp_path):
    # M5136 is valid through 2024-09-30, M51360 from 2024-10-01 (diagnoses.csv valid_from/valid_to).
    # B1: M5136 on 2024-09-01 and 2024-09-30 -> both qualify -> LBP episode.
    # B2: M5136 on 2024-09-30 and 2024-10-01 -> only the first qualifies -> none.
    # B3: M51360 on 2024-09-30 and 2024-10-01 -> only the second qualifies -> none.
    # B4: M51360 on 2024-10-01 and 2024-10-31 -> LBP episode.
    d = date
    lines = [line("B1", d(2024, 9, 1), dx="M5136"), line("B1", d(2024, 9, 30), dx="M5136"),
             line("B2", d(2024, 9, 30), dx="M5136"), line("B2", d(2024, 10, 1), dx="M5136"),
             line("B3", d(2024, 9, 30), dx="M51360"), line("B3", d(2024, 10, 1), dx="M51360"),
             line("B4", d(2024, 10, 1), dx="M51360"), line("B4", d(2024, 10, 31), dx="M51360")]
    assert [e["bene_id"] for e in run_engine(tmp_path, lines).episodes("LBP")] == ["B1", "B4"]


def test_E1_cancelled_trigger_line_does_not_trigger(tmp_path, input_dir):
    # Through ingest (N4): the day-0 visit is an original + its cancel -> netted away; the day-30 and
    # day-200 visits survive. The cancelled day 0 must not trigger: 200 - 30 = 170 <= 180, so the only
    # episode triggers on day 30 (2026-04-01), confirmed day 200 (2026-09-18).
    from pipelines.engine.episodes import EpisodeInputs, build_episode_tables, episode_params
    from pipelines.engine.ingest import run_ingest
    from pipelines.engine.duck import connect
    from pipelines.engine.settings import RunSettings
    from tests.cclf_builders import partb_line, write_csv

    def visit(uniq, ccn, when, adj="0", eff=None):
        return partb_line(CUR_CLM_UNIQ_ID=uniq, CLM_CNTL_NUM=ccn, CLM_LINE_FROM_DT=when, CLM_LINE_THRU_DT=when,
                          CLM_FROM_DT=when, CLM_THRU_DT=when, CLM_ADJSMT_TYPE_CD=adj, CLM_EFCTV_DT=eff or when)

    rows = [visit("0000000000010", "000000000000100", "2026-03-02"),
            visit("0000000000011", "000000000000100", "2026-03-02", adj="1", eff="2026-03-20"),
            visit("0000000000020", "000000000000200", "2026-04-01"),
            visit("0000000000030", "000000000000300", "2026-09-18")]
    write_csv(input_dir / "P.A1234.ACO.ZC5Y26.D261001.T1200000.csv", "cclf5", rows)
    settings = RunSettings(input_dir=input_dir, out_dir=tmp_path / "out", quiet=True)
    methodology = methodology_with()
    run_ingest(settings, methodology)
    con = connect(threads=1)
    build_episode_tables(con, EpisodeInputs.from_settings(settings), episode_params(methodology))
    assert con.execute("SELECT trigger_date, confirming_date FROM episodes").fetchall() == [
        (date(2026, 4, 1), date(2026, 9, 18))]
    assert con.execute("SELECT count(*) FROM cohort_lines WHERE claim_control_number = '000000000000100'").fetchone() == (0,)


# ---------------------------------------------------------------- A1-A3

def test_A2_three_clinicians_at_50_30_20_percent(tmp_path):
    # Episode day 0..364 with 10 qualifying lines: N1 5 (incl. trigger day 0 and confirming day 10),
    # N2 3, N3 2 -> shares 50%, 30%, 20%. Attributed: N1 and N2 (30% is inclusive), not N3.
    lines = [line("B1", d, npi="N1") for d in (0, 10, 20, 30, 40)]
    lines += [line("B1", d, npi="N2") for d in (50, 60, 70)] + [line("B1", d, npi="N3") for d in (80, 90)]
    rows = run_engine(tmp_path, lines).rows(
        "SELECT npi, qualifying_lines, share, attributed FROM episode_attribution ORDER BY npi")
    assert [(r["npi"], r["qualifying_lines"], r["share"], r["attributed"]) for r in rows] == [
        ("N1", 5, 0.5, True), ("N2", 3, 0.3, True), ("N3", 2, 0.2, False)]


def test_A2_share_of_29_9_percent_is_not_attributed_30_0_is(tmp_path):
    # 1000 qualifying lines in one episode (several per day over days 0..199).
    # Episode A (B1): N2 bills 299 lines = 29.9% -> not attributed; N1 701 = 70.1% -> attributed.
    # Episode B (B2): N2 bills 300 lines = 30.0% -> attributed (inclusive); N1 700 -> attributed.
    def episode(b, n2_lines):
        return [line(b, i // 5, npi="N2" if i >= 1000 - n2_lines else "N1") for i in range(1000)]

    rows = run_engine(tmp_path, episode("B1", 299) + episode("B2", 300)).rows(
        "SELECT bene_id, npi, qualifying_lines, attributed FROM episode_attribution ORDER BY bene_id, npi")
    assert [(r["bene_id"], r["npi"], r["qualifying_lines"], r["attributed"]) for r in rows] == [
        ("B1", "N1", 701, True), ("B1", "N2", 299, False), ("B2", "N1", 700, True), ("B2", "N2", 300, True)]


def test_A2_episode_with_no_participant_at_30_percent_is_kept_unattributed(tmp_path):
    # 4 participants at 25% each (N1 has trigger + confirming): episode kept, nobody attributed.
    lines = [line("B1", 0, npi="N1"), line("B1", 5, npi="N1")] + [line("B1", 10 + i, npi=n) for i, n in
                                                                   enumerate(["N2", "N2", "N3", "N3", "N4", "N4"])]
    run = run_engine(tmp_path, lines)
    assert len(run.episodes()) == 1
    assert run.rows("SELECT count(*) AS n, count(*) FILTER (WHERE attributed) AS a FROM episode_attribution") == [
        {"n": 4, "a": 0}]


def test_A1_qualifying_lines_outside_the_window_do_not_count(tmp_path):
    # Episode day 0..364 (N1 on days 0, 30). N2's lines on days 365, 366 are after the end (and form a
    # second pair: trigger 365 > 364 -> second episode). In episode 1, N1 has 2 of 2 = 100%.
    run = run_engine(tmp_path, [line("B1", 0), line("B1", 30), line("B1", 365, npi="N2"), line("B1", 366, npi="N2")])
    rows = run.rows("""SELECT e.episode_seq, a.npi, a.share FROM episode_attribution a JOIN episodes e USING (episode_id)
                       ORDER BY 1, 2""")
    assert [(r["episode_seq"], r["npi"], r["share"]) for r in rows] == [(1, "N1", 1.0), (2, "N2", 1.0)]


def test_A1_assigned_basis_and_A3_tin_view(tmp_path):
    # Qualifying lines: T1/N1 days 0, 30 (trigger pair); T1/N2 day 40; T2/N9 day 50 -> 4 lines.
    # Qualifying basis: N1 50%, N2 25%, N9 25% -> N1 only. A3 (TIN): T1 75% (attributed), T2 25%.
    # Basis assigned_allowed: add an echo (93306, I509) by T2/N9 on day 60 allowed 400.00:
    # allowed totals N1 200, N2 100, N9 100 + 400 = 500 of 800 -> N9 62.5% and N1 25%: N9 only.
    lines = [line("B1", 0), line("B1", 30), line("B1", 40, npi="N2"), line("B1", 50, tin="T2", npi="N9"),
             line("B1", 60, tin="T2", npi="N9", hcpcs="93306", allowed="400.00")]
    q = "SELECT npi, attributed FROM episode_attribution ORDER BY npi"
    run = run_engine(tmp_path / "q", lines)
    assert run.con.execute(q).fetchall() == [("N1", True), ("N2", False), ("N9", False)]
    assert run.con.execute("SELECT tin, share, attributed FROM episode_attribution_tin ORDER BY tin").fetchall() == [
        ("T1", 0.75, True), ("T2", 0.25, False)]
    run = run_engine(tmp_path / "a", lines, overrides={"attribution": {"basis": "assigned_allowed"}})
    assert run.con.execute(q).fetchall() == [("N1", False), ("N2", False), ("N9", True)]


# ---------------------------------------------------------------- C1-C4

def test_C1_C2_C3_assigned_lines_part_a_post_acute_and_drivers(tmp_path):
    # HF episode day 0..364 (visits day 0, 30). Assigned Part B lines (C1):
    #   echo 93306 with I509 on days 40 and 100 (condition service; BETOS absent -> imaging by range)
    #   BNP 83880 with dx E119 on day 50 (condition-related HCPCS, no cohort dx -> still assigned; tests)
    #   99213 with dx E119 on day 60: neither cohort dx nor HF service -> NOT assigned
    #   99214 I509 on day 400: outside the window -> NOT assigned
    # Part A: inpatient stay DRG 291 days 200-205 (assigned, 8000.00); SNF (type 20) from day 210
    #   = 5 days after discharge (<= 30) -> post-acute (3000.00); SNF from day 300 -> too late;
    #   inpatient with principal dx S72001A / DRG 470 -> not HF -> not assigned.
    # Cost: Part B 100 + 100 + 150 + 150 + 80 = 580.00; Part A 8000 + 3000 = 11000; observed 11580.00.
    lines = [line("B1", 0), line("B1", 30), line("B1", 40, hcpcs="93306", allowed="150.00"),
             line("B1", 100, hcpcs="93306", allowed="150.00"), line("B1", 50, hcpcs="83880", dx="E119", allowed="80.00"),
             line("B1", 60, hcpcs="99213", dx="E119"), line("B1", 400)]
    parta = [parta_claim(start=200, end=205, drg="291", payment="8000.00"),
             parta_claim(claim_type="20", start=210, end=230, dx="Z4789", drg="", payment="3000.00"),
             parta_claim(claim_type="20", start=300, end=310, dx="Z4789", drg="", payment="500.00"),
             parta_claim(start=250, end=255, dx="S72001A", drg="470", payment="20000.00")]
    run = run_engine(tmp_path, lines, parta=parta)
    cats = run.con.execute("""SELECT source, service_category, count(*), sum(cost_amount) FROM episode_lines
                              WHERE episode_id = (SELECT episode_id FROM episodes WHERE episode_seq = 1)
                              GROUP BY ALL ORDER BY ALL""").fetchall()
    assert cats == [("parta", "inpatient", 1, Decimal("8000.00")), ("parta", "post_acute", 1, Decimal("3000.00")),
                    ("partb", "em", 2, Decimal("200.00")), ("partb", "imaging", 2, Decimal("300.00")),
                    ("partb", "tests", 1, Decimal("80.00"))]
    (c,) = run.rows("SELECT * FROM episode_costs WHERE episode_id = (SELECT episode_id FROM episodes WHERE episode_seq = 1)")
    assert (c["observed_cost"], c["partb_cost"], c["parta_cost"]) == (Decimal("11580.00"), Decimal("580.00"), Decimal("11000.00"))
    # C3 drivers: 1 hospitalization, 1 post-acute after it, 2 echo dates -> 1 beyond the first.
    assert (c["hospitalizations"], c["post_acute_after_hospitalization"], c["echos_beyond_first"]) == (1, 1, 1)
    assert (c["cost_em"], c["cost_imaging"], c["cost_tests"], c["cost_inpatient"], c["cost_post_acute"]) == (
        Decimal("200.00"), Decimal("300.00"), Decimal("80.00"), Decimal("8000.00"), Decimal("3000.00"))


def test_C3_LBP_drivers_advanced_imaging_first_30_days_injections_and_spine_surgery(tmp_path):
    # LBP episode from day 0 (visits 0, 20). MRI 72148 on day 29 (= 30th day, inside the first 30) ->
    # advanced_imaging_early. Epidural 62323 day 40 (injection, procedures), fusion 22612 day 90 ->
    # spine_surgery; injections_or_procedures = 2. BETOS given on the MRI ("I2D") wins over ranges.
    lines = [line("B1", 0, dx="M5450"), line("B1", 20, dx="M5450"),
             line("B1", 29, hcpcs="72148", dx="M5450", betos="I2D"), line("B1", 40, hcpcs="62323", dx="M5416"),
             line("B1", 90, hcpcs="22612", dx="M4316")]
    (c,) = run_engine(tmp_path, lines).rows("SELECT * FROM episode_costs")
    assert (c["advanced_imaging_early"], c["injections_or_procedures"], c["spine_surgery"]) == (True, 2, True)
    assert (c["cost_imaging"], c["cost_procedures"]) == (Decimal("100.00"), Decimal("200.00"))
    # MRI on day 30 (the 31st day) is not "early".
    lines[2] = line("B1", 30, hcpcs="72148", dx="M5450")
    (c,) = run_engine(tmp_path / "late", lines).rows("SELECT advanced_imaging_early FROM episode_costs")
    assert c["advanced_imaging_early"] is False


def test_C4_cost_winsorized_at_the_cohorts_99th_percentile_raw_kept(tmp_path):
    # 101 closed HF episodes in PY 2027, costs 200, 300, ..., 10100 (episode k: two visits of 100 plus
    # one 100.00*(k-1) echo), and one episode with 1,000,000 extra. Costs sorted: 200..10100 (100 values)
    # then 1,000,200. quantile_cont(0.99) over 101 values = value at position 0.99*100 = 99 (0-based)
    # = the largest regular cost 10100 + 0.0 * (...) -> cap 10100.00; the outlier is cut to 10100.00.
    lines = []
    for k in range(1, 101):
        b = f"B{k:03d}"
        lines += [line(b, 0), line(b, 30), line(b, 40, hcpcs="93306", allowed=f"{100 * (k - 1)}.00")]
    lines += [line("BX", 0), line("BX", 30), line("BX", 40, hcpcs="93306", allowed="1000000.00"), line("BZ", 400)]
    run = run_engine(tmp_path, [x for x in lines if x["allowed_amount"] > 0])
    caps = run.rows("SELECT DISTINCT winsor_cap FROM episode_costs")
    assert caps == [{"winsor_cap": Decimal("10100.00")}]
    (x,) = run.rows("""SELECT c.observed_cost, c.observed_cost_winsorized FROM episode_costs c
                       JOIN episodes e USING (episode_id) WHERE e.bene_id = 'BX'""")
    assert (x["observed_cost"], x["observed_cost_winsorized"]) == (Decimal("1000200.00"), Decimal("10100.00"))


# ---------------------------------------------------------------- configuration

def test_config_file_with_a_90_day_LBP_window_changes_episodes_without_code_changes(tmp_path):
    # LBP visits on day 0 and day 75: 75 > 60 (DEFAULT window) -> no episode; with a user config
    # setting the LBP window to 90 days -> one episode (75 <= 90). Same code, same data.
    lines = [line("B1", 0, dx="M5450"), line("B1", 75, dx="M5450")]
    assert run_engine(tmp_path / "default", lines).episodes("LBP") == []
    cfg = tmp_path / "my.toml"
    cfg.write_text("[defaults.episodes]\nconfirming_window_days = { HF = 180, LBP = 90 }\n")
    run = run_engine(tmp_path / "custom", lines, methodology=methodology_with(config_file=cfg))
    assert _pairs(run, "LBP") == [(day(0), day(75), day(364))]


def test_config_threshold_and_bad_values_are_rejected_with_a_message(tmp_path):
    from pipelines.engine.episodes import episode_params
    from pipelines.engine.methodology import MethodologyError

    with pytest.raises(MethodologyError, match="pair_scope"):
        episode_params(methodology_with({"episodes": {"pair_scope": "clinic"}}))
    with pytest.raises(MethodologyError, match="attribution.basis"):
        episode_params(methodology_with({"attribution": {"basis": "visits"}}))
    # a 60% threshold: N2 at 3/10 loses, N1 at 50% too.
    lines = [line("B1", d, npi="N1") for d in (0, 10, 20, 30, 40)]
    lines += [line("B1", d, npi="N2") for d in (50, 60, 70)] + [line("B1", d, npi="N3") for d in (80, 90)]
    run = run_engine(tmp_path, lines, overrides={"attribution": {"threshold": 0.5}})
    assert run.con.execute("SELECT npi FROM episode_attribution WHERE attributed").fetchall() == [("N1",)]
