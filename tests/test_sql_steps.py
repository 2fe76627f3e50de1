"""Per-step SQL unit tests (issue 17 item 7): for each SQL step of sql/20_episodes, sql/30_episode_lines
and sql/40_attribution, *given* tiny inline rows in exactly the relations the step reads, *expected*
rows in the relation it creates. Each test runs one step alone (tests/sql_unit.py, 2027 methodology:
HF window 180 days, LBP 60, pair scope npi, episode 365 days, attribution basis qualifying_lines at
30%, post-acute 30 days) and works its expected rows out by hand in its comment, citing the rule
(docs: /work/shared/spec/asm-methodology.md)."""
from __future__ import annotations

import hashlib
import itertools
from datetime import date, timedelta
from decimal import Decimal

from tests.sql_unit import column_names, run_step

D0 = date(2027, 1, 4)  # day 0 of most cases; every code list used is valid then


def day(n: int) -> date:
    return D0 + timedelta(days=n)


# ----------------------------------------------------------------------------------------------------
# 20_code_lists.sql (L, N6): the code-list CSVs -> code_lists

def test_L_code_lists_dotless_upper_case_blank_validity_open(tmp_path):
    # L/N6: codes compared dotless and upper case ("i50.9 " -> I509), cohort upper, list name lower;
    # blank valid_from / valid_to are open (1900-01-01 / 9999-12-31); a blank service group is NULL; a row
    # without a code is dropped.
    csv = tmp_path / "diagnoses.csv"
    csv.write_text("code,description,cohort,list_name,valid_from,valid_to,service_group\n"
                   " i50.9 ,HF,hf , Diagnosis ,,,\n"
                   "M51.36,LBP,LBP,diagnosis,2015-10-01,2024-09-30,disc\n"
                   " ,nothing,HF,diagnosis,,,\n")
    rows = run_step("20_episodes", "20_code_lists.sql", {}, values={"files": [str(csv)]},
                    columns=["code", "cohort", "list_name", "valid_from", "valid_to", "service_group"])
    assert rows == [
        {"code": "I509", "cohort": "HF", "list_name": "diagnosis", "valid_from": date(1900, 1, 1),
         "valid_to": date(9999, 12, 31), "service_group": None},
        {"code": "M5136", "cohort": "LBP", "list_name": "diagnosis", "valid_from": date(2015, 10, 1),
         "valid_to": date(2024, 9, 30), "service_group": "disc"}]


# ----------------------------------------------------------------------------------------------------
# 21_cohort_lines.sql (E1, C1, L): partb_src + code_lists -> cohort_lines

COHORT_LINE_FLAGS = ["line_rowid", "cohort", "has_cohort_dx", "is_condition_service", "service_group",
                     "is_qualifying"]


def pb(rowid: int, on: int | date = 0, bene="B1", hcpcs="99214", pos="11", dx="I509", claim_dx=(),
       claim_type="71", allowed="100.00", tin="T1", npi="N1") -> dict:
    """One partb_src line; by default an HF qualifying line (E1: type 71, 99214 on the HF trigger list,
    POS 11 allowed, allowed > 0, I509 an HF diagnosis)."""
    return {"line_rowid": rowid, "claim_control_number": f"C{rowid}", "line_number": 1, "claim_id": f"ID{rowid}",
            "bene_id": bene, "service_date": day(on) if isinstance(on, int) else on, "claim_type": claim_type,
            "hcpcs": hcpcs, "place_of_service": pos, "line_dx": dx, "claim_dx": list(claim_dx), "tin": tin,
            "npi": npi, "allowed_amount": Decimal(allowed), "paid_amount": Decimal(allowed) * Decimal("0.8"),
            "cost_amount": Decimal(allowed)}


def cohort_lines(*lines: dict) -> list[dict]:
    return run_step("20_episodes", "21_cohort_lines.sql", {"partb_src": list(lines)}, columns=COHORT_LINE_FLAGS)


def flags(rowid, cohort="HF", dx=True, condition=False, group=None, qualifying=True) -> dict:
    return {"line_rowid": rowid, "cohort": cohort, "has_cohort_dx": dx, "is_condition_service": condition,
            "service_group": group, "is_qualifying": qualifying}


def test_E1_qualifying_line_hf_keeps_every_line_column():
    # E1: type 71, 99214 (HF trigger E&M), POS 11 (allowed), allowed 100 > 0, line dx I509 (HF) -> qualifying.
    # 99214 is no condition-related service (C1), so is_condition_service false, no service group.
    rows = run_step("20_episodes", "21_cohort_lines.sql", {"partb_src": [pb(1)]})
    assert rows == [{"line_rowid": 1, "cohort": "HF", "bene_id": "B1", "service_date": D0,
                     "claim_control_number": "C1", "line_number": 1, "claim_id": "ID1", "claim_type": "71",
                     "hcpcs": "99214", "betos": None, "place_of_service": "11", "tin": "T1", "npi": "N1",
                     "allowed_amount": Decimal("100.00"), "paid_amount": Decimal("80.00"),
                     "cost_amount": Decimal("100.00"), "has_cohort_dx": True, "is_condition_service": False,
                     "service_group": None, "is_qualifying": True}]


def test_E1_place_of_service_not_allowed():
    # Line 1 qualifies (E1). Line 2 is the same visit in POS 21 (inpatient hospital), not on the allowed
    # list (02, 10-13, 17, 19, 20, 22, 49, 50, 71, 72): it keeps its HF diagnosis (so it stays a cohort
    # line for C1) but is not qualifying.
    assert cohort_lines(pb(1), pb(2, pos="21")) == [flags(1), flags(2, qualifying=False)]


def test_E1_net_allowed_must_be_positive():
    # E1: net allowed > 0. 0.00 fails (line 2), a cent passes (line 3).
    assert cohort_lines(pb(1), pb(2, allowed="0.00"), pb(3, allowed="0.01")) == [
        flags(1), flags(2, qualifying=False), flags(3)]


def test_E1_claim_type_must_be_professional_71():
    # E1: only claim type 71 (episodes.qualifying_claim_types); a DMEPOS line (72) with the same codes is
    # a cohort line (has the dx) but not qualifying.
    assert cohort_lines(pb(1), pb(2, claim_type="72")) == [flags(1), flags(2, qualifying=False)]


def test_E1_hcpcs_not_on_trigger_list_is_not_qualifying():
    # E1: the E&M must be on the trigger list; 99221 (initial hospital care) is not (99202-99205,
    # 99211-99215, 99242-99245, 99341-99350).
    assert cohort_lines(pb(1), pb(2, hcpcs="99221")) == [flags(1), flags(2, qualifying=False)]


def test_E1_cohort_dx_on_any_claim_diagnosis_counts():
    # E1: the cohort diagnosis may be on the line or on any claim diagnosis; line 1 has no line dx and
    # I509 as its 2nd claim dx -> qualifying. Line 2 has only Z0000 (not a cohort dx) and 99214 is not a
    # condition-related service: it touches no cohort and is dropped.
    assert cohort_lines(pb(1, dx=None, claim_dx=["Z0000", "I509"]), pb(2, dx="Z0000")) == [flags(1)]


def test_E1_beneficiary_without_any_qualifying_line_has_no_cohort_lines():
    # 21 keeps lines only for (beneficiary, cohort) pairs with a qualifying line: B1's HF-dx line in
    # POS 21 and its echo (93306, HF condition service) can never be used by E2, A1 or C1 -> no rows.
    assert cohort_lines(pb(1, pos="21"), pb(2, hcpcs="93306", dx=None)) == []


def test_E1_line_touching_two_cohorts_gives_one_row_per_cohort():
    # Line dx I509 (HF) and claim dx M5450 (LBP); 99214 and POS 11 are on both cohorts' lists -> the
    # line qualifies for HF and for LBP: one row per (line, cohort).
    assert cohort_lines(pb(1, claim_dx=["M5450"])) == [flags(1, "HF"), flags(1, "LBP")]


def test_C1_condition_service_without_dx_is_a_cohort_line():
    # B1 qualifies for HF (line 1). Line 2: echo 93306 without any diagnosis is on the HF
    # condition-related list (C1, service group echocardiography) -> kept, not qualifying (no dx, not an
    # E&M). Line 3 (B2): the same echo, but B2 has no qualifying line -> dropped.
    assert cohort_lines(pb(1), pb(2, hcpcs="93306", dx=None), pb(3, bene="B2", hcpcs="93306", dx=None)) == [
        flags(1), flags(2, dx=False, condition=True, group="echocardiography", qualifying=False)]


def test_L_diagnosis_counts_only_inside_its_validity_dates_inclusive():
    # L: M51.36 is valid to 2024-09-30, M51.360 from 2024-10-01 (both ends inclusive).
    # Line 1: M5136 on 2024-09-30 -> LBP dx -> qualifying. Line 2: M5136 on 2024-10-01 -> no longer a
    # cohort dx (and 99214 no condition service) -> dropped. Line 3: M51360 on 2024-10-01 -> qualifying.
    rows = cohort_lines(pb(1, date(2024, 9, 30), dx="M5136"), pb(2, date(2024, 10, 1), dx="M5136"),
                        pb(3, date(2024, 10, 1), dx="M51360"))
    assert rows == [flags(1, "LBP"), flags(3, "LBP")]


def test_E1_line_dx_counts_once_with_claim_diagnoses_missing_repeating_it_or_adding_more():
    # E1/C1 (a line's diagnoses are unnested once, the line dx only when no claim dx repeats it):
    # line 1 has no claim diagnoses at all (a NULL list): its line dx I509 alone makes it an HF line;
    # line 2 repeats I509 as claim dx 1 and adds I5022 (also HF): still one HF row; line 3 has no line
    # dx and two HF claim dx: one HF row. Each is qualifying (type 71, 99214, POS 11).
    no_claim_dx = pb(1) | {"claim_dx": None}
    assert cohort_lines(no_claim_dx, pb(2, claim_dx=["I509", "I5022"]), pb(3, dx=None, claim_dx=["I5022", "I509"])) == [
        flags(1), flags(2), flags(3)]


# ----------------------------------------------------------------------------------------------------
# 22_trigger_candidates.sql (E2): cohort_lines + cohort_params -> trigger_candidates

PAIR = ["bene_id", "cohort", "trigger_date", "confirming_date", "trigger_tin", "trigger_npi",
        "trigger_claim_control_number", "trigger_line_number", "confirming_npi", "confirming_claim_control_number"]


def ql(ccn: str, on: int, tin="T1", npi="N1", line=1, cohort="HF", bene="B1", qualifying=True) -> dict:
    """One cohort_lines row (a qualifying line by default)."""
    return {"line_rowid": int(ccn[1:]) * 10 + line, "cohort": cohort, "bene_id": bene, "service_date": day(on),
            "claim_control_number": ccn, "line_number": line, "claim_id": f"ID{ccn}", "claim_type": "71",
            "hcpcs": "99214", "tin": tin, "npi": npi, "has_cohort_dx": True, "is_condition_service": False,
            "is_qualifying": qualifying}


def candidates(*lines: dict, **values) -> list[dict]:
    return run_step("20_episodes", "22_trigger_candidates.sql", {"cohort_lines": list(lines)}, values=values,
                    columns=PAIR)


def pair(trigger: int, confirming: int, t_ccn: str, c_ccn: str, bene="B1", cohort="HF", tin="T1", npi="N1",
         c_npi=None, t_line=1) -> dict:
    return {"bene_id": bene, "cohort": cohort, "trigger_date": day(trigger), "confirming_date": day(confirming),
            "trigger_tin": tin, "trigger_npi": npi, "trigger_claim_control_number": t_ccn,
            "trigger_line_number": t_line,
            "confirming_npi": c_npi or npi, "confirming_claim_control_number": c_ccn}


def test_E2_confirming_line_within_180_days_hf():
    # E2, HF window 180, inclusive: B1 day 0 -> day 180 (180 - 0 = 180 <= 180) is a pair.
    # B2 day 0 -> day 181 (181 > 180) is not; a last visit day has no confirming line. One candidate.
    rows = run_step("20_episodes", "22_trigger_candidates.sql", {"cohort_lines": [
        ql("C1", 0), ql("C2", 180), ql("C3", 0, bene="B2"), ql("C4", 181, bene="B2")]})
    assert rows == [{"bene_id": "B1", "cohort": "HF", "trigger_date": day(0), "confirming_date": day(180),
                     "trigger_tin": "T1", "trigger_npi": "N1", "trigger_claim_id": "IDC1",
                     "trigger_claim_control_number": "C1", "trigger_line_number": 1, "confirming_tin": "T1",
                     "confirming_npi": "N1", "confirming_claim_id": "IDC2", "confirming_claim_control_number": "C2",
                     "confirming_line_number": 1}]


def test_E2_confirming_line_within_60_days_lbp():
    # E2, LBP window 60: B1 day 0 -> 60 pairs; B2 day 0 -> 61 does not.
    assert candidates(ql("C1", 0, cohort="LBP"), ql("C2", 60, cohort="LBP"),
                      ql("C3", 0, cohort="LBP", bene="B2"), ql("C4", 61, cohort="LBP", bene="B2")) == [
        pair(0, 60, "C1", "C2", cohort="LBP")]


def test_E2_same_day_second_visit_never_confirms():
    # E2: 1 <= confirming date - trigger date: two qualifying lines on the same day are one visit day.
    assert candidates(ql("C1", 0), ql("C2", 0)) == []


def test_E2_visit_day_is_represented_by_lowest_claim_control_number_then_line():
    # E2 tie [DEFAULT]: within a visit day the line with the lowest (NPI, claim control number, line
    # number) represents it: day 0 has C2 line 1 and C1 line 2 -> C1 line 2 is the trigger line.
    assert candidates(ql("C2", 0), ql("C1", 0, line=2), ql("C3", 5)) == [pair(0, 5, "C1", "C3", t_line=2)]


def test_E2_only_qualifying_lines_trigger_or_confirm():
    # E2 pairs qualifying lines (E1) only: the non-qualifying line on day 5 neither confirms day 0 nor
    # triggers; day 0 is confirmed by day 100.
    assert candidates(ql("C1", 0), ql("C2", 5, qualifying=False), ql("C3", 100)) == [pair(0, 100, "C1", "C3")]


def test_E2_every_visit_day_with_a_next_visit_in_the_window_is_a_candidate():
    # E2 candidates (E4 picks among them later): days 0, 30, 100 -> (0, 30) and (30, 100); day 100 has no
    # next visit.
    assert candidates(ql("C1", 0), ql("C2", 30), ql("C3", 100)) == [
        pair(0, 30, "C1", "C2"), pair(30, 100, "C2", "C3")]


def test_E2_pair_needs_same_tin_and_npi():
    # E2 pair_scope npi: T1/N1 day 0 and T1/N2 day 10 are two participants -> no pair.
    assert candidates(ql("C1", 0, npi="N1"), ql("C2", 10, npi="N2")) == []


def test_E2_pair_scope_tin_pairs_npis_of_one_tin():
    # E2 alternative pair_scope = tin: the same two lines pair within TIN T1; trigger N1, confirming N2.
    assert candidates(ql("C1", 0, npi="N1"), ql("C2", 10, npi="N2"), pair_scope="tin") == [
        pair(0, 10, "C1", "C2", npi="N1", c_npi="N2")]


def test_E2_line_without_tin_cannot_pair():
    # E2: lines without a TIN are nobody's pair.
    assert candidates(ql("C1", 0, tin=None), ql("C2", 10, tin=None)) == []


def test_E2_tie_break_same_trigger_day_earliest_confirming_date_first():
    # E2 tie-break [DEFAULT]: on trigger day 0, T2 confirms on day 10 and T1 on day 20 -> T2's pair
    # (earliest confirming date) even though T1 is the lower TIN. One candidate per trigger day.
    assert candidates(ql("C1", 0, tin="T2"), ql("C2", 10, tin="T2"), ql("C3", 0, tin="T1"),
                      ql("C4", 20, tin="T1")) == [pair(0, 10, "C1", "C2", tin="T2")]


def test_E2_tie_break_same_trigger_and_confirming_day_lowest_tin():
    # E2 tie-break [DEFAULT]: both T2 and T1 pair day 0 -> day 10: the lowest TIN (T1) wins.
    assert candidates(ql("C1", 0, tin="T2"), ql("C2", 10, tin="T2"), ql("C3", 0, tin="T1"),
                      ql("C4", 10, tin="T1")) == [pair(0, 10, "C3", "C4", tin="T1")]


# ----------------------------------------------------------------------------------------------------
# 23_trigger_links.sql (E3, E4): trigger_candidates + bene_src -> trigger_links

LINK = ["bene_id", "cohort", "trigger_date", "death_date", "full_end_date", "end_date", "next_trigger_date",
        "is_first"]


def cand(on: int, bene="B1", cohort="HF") -> dict:
    return {"bene_id": bene, "cohort": cohort, "trigger_date": day(on), "confirming_date": day(on + 10),
            "trigger_tin": "T1", "trigger_npi": "N1", "trigger_claim_control_number": f"C{on}",
            "trigger_line_number": 1, "confirming_tin": "T1", "confirming_npi": "N1"}


def links(cands: list[dict], benes: list[dict] | None = None) -> list[dict]:
    return run_step("20_episodes", "23_trigger_links.sql", {"trigger_candidates": cands, "bene_src": benes or []},
                    columns=LINK)


def link_row(on, end=None, nxt=None, first=True, death=None, bene="B1", cohort="HF") -> dict:
    return {"bene_id": bene, "cohort": cohort, "trigger_date": day(on),
            "death_date": None if death is None else day(death),
            "full_end_date": day(on + 364), "end_date": day(on + 364 if end is None else end),
            "next_trigger_date": None if nxt is None else day(nxt), "is_first": first}


def test_E3_episode_lasts_365_days_end_is_start_plus_364():
    # E3: end = start + 364 (365 days, both ends inclusive); no demographics -> no death cut.
    assert links([cand(0)]) == [link_row(0)]


def test_E3_end_cut_at_death():
    # E3: end = death date when the death falls inside the 365 days. B1 dies day 100 -> end day 100;
    # B2 dies day 363 -> end 363; B3 dies on the trigger day -> end = trigger day; B4 dies day 364 (the
    # last day) -> end 364 either way; B5 dies the day before the trigger -> no cut (X1 quarantines it).
    deaths = {"B1": 100, "B2": 363, "B3": 0, "B4": 364, "B5": -1}
    benes = [{"bene_id": b, "death_date": day(d)} for b, d in deaths.items()]
    rows = links([cand(0, bene=b) for b in deaths], benes)
    assert rows == [link_row(0, end=100, death=100, bene="B1"), link_row(0, end=363, death=363, bene="B2"),
                    link_row(0, end=0, death=0, bene="B3"), link_row(0, end=364, death=364, bene="B4"),
                    link_row(0, end=364, death=-1, bene="B5")]


def test_E4_next_trigger_must_be_after_the_end():
    # E4: candidate day 0 ends day 364; the next candidate must trigger after that end: 364 is inside
    # (inclusive window), 365 is the first after. Day 364's episode ends 728, day 365's 729: nothing after.
    # Day 500 ends 864: nothing after. is_first marks the earliest candidate only.
    assert links([cand(0), cand(364), cand(365), cand(500)]) == [
        link_row(0, nxt=365), link_row(364, first=False), link_row(365, first=False), link_row(500, first=False)]


def test_E4_links_stay_within_beneficiary_and_cohort():
    # E4: HF and LBP (and beneficiaries) are independent: B1 HF day 0 links to HF day 400, not to LBP
    # day 380; B1 LBP day 380 and B2 HF day 370 are each their own first candidate.
    assert links([cand(0), cand(400), cand(380, cohort="LBP"), cand(370, bene="B2")]) == [
        link_row(0, nxt=400), link_row(400, first=False), link_row(380, cohort="LBP"),
        link_row(370, bene="B2")]


# ----------------------------------------------------------------------------------------------------
# 24_episode_chain.sql (E4): trigger_links -> episode_chain

def tl(on: int, nxt: int | None = None, first=False, bene="B1", cohort="HF") -> dict:
    return {**cand(on, bene, cohort), "full_end_date": day(on + 364), "end_date": day(on + 364),
            "next_trigger_date": None if nxt is None else day(nxt), "is_first": first}


def chain(*rows: dict) -> list[dict]:
    return run_step("20_episodes", "24_episode_chain.sql", {"trigger_links": list(rows)},
                    columns=["bene_id", "cohort", "trigger_date", "end_date", "episode_seq"])


def test_E4_no_overlap_next_trigger_after_end():
    # E4: start at the first candidate (day 0, ends 364), jump to its link (365, ends 729, no link):
    # episodes 1 and 2. Day 100 (inside episode 1) and day 465 (inside episode 2) never start one.
    assert chain(tl(0, nxt=365, first=True), tl(100, nxt=465), tl(365), tl(465)) == [
        {"bene_id": "B1", "cohort": "HF", "trigger_date": day(0), "end_date": day(364), "episode_seq": 1},
        {"bene_id": "B1", "cohort": "HF", "trigger_date": day(365), "end_date": day(729), "episode_seq": 2}]


def test_E4_hf_and_lbp_chains_are_independent():
    # E4: B1's LBP episode (day 10) overlaps its HF episode (day 0) and is kept; B2's HF chain follows
    # 0 -> 400 -> 800 (episodes 1, 2, 3).
    rows = chain(tl(0, first=True), tl(10, first=True, cohort="LBP"), tl(0, nxt=400, first=True, bene="B2"),
                 tl(400, nxt=800, bene="B2"), tl(800, bene="B2"))
    assert [(r["bene_id"], r["cohort"], r["trigger_date"], r["episode_seq"]) for r in rows] == [
        ("B1", "HF", day(0), 1), ("B1", "LBP", day(10), 1), ("B2", "HF", day(0), 1), ("B2", "HF", day(400), 2),
        ("B2", "HF", day(800), 3)]


def test_E4_chain_drops_the_link_columns():
    # episode_chain = trigger_links without next_trigger_date and is_first, plus episode_seq.
    assert column_names("20_episodes", "24_episode_chain.sql") == [
        c for c in column_names("20_episodes", "23_trigger_links.sql") if c not in ("next_trigger_date", "is_first")
    ] + ["episode_seq"]
    rows = run_step("20_episodes", "24_episode_chain.sql", {"trigger_links": [tl(0, first=True)]})
    assert list(rows[0]) == column_names("20_episodes", "24_episode_chain.sql")


# ----------------------------------------------------------------------------------------------------
# 25_episodes.sql (E3, E5, E6, X1, X2): episode_chain + bene_src -> episodes

T = date(2026, 3, 1)  # trigger; + 364 days = 2027-02-28 (2026 and 2027 are not leap years)
END = date(2027, 2, 28)
FLAGS = ["bene_id", "trigger_date", "end_date", "performance_year", "status", "age_at_trigger",
         "demographics_missing", "excluded", "exclusion_reason", "quarantined", "quarantine_reason",
         "counts_for_scoring", "scorable"]


def ch(bene="B1", trigger=T, end=None, death=None, cohort="HF") -> dict:
    full = trigger + timedelta(days=364)
    return {"bene_id": bene, "cohort": cohort, "trigger_date": trigger, "confirming_date": trigger + timedelta(days=10),
            "trigger_tin": "T1", "trigger_npi": "N1", "trigger_claim_id": "IDC1", "trigger_claim_control_number": "C1",
            "trigger_line_number": 1, "confirming_tin": "T1", "confirming_npi": "N1", "confirming_claim_id": "IDC2",
            "confirming_claim_control_number": "C2", "confirming_line_number": 2, "death_date": death,
            "full_end_date": full, "end_date": end or full, "episode_seq": 1}


def episodes(chains: list[dict], benes: list[dict], last: date = date(2027, 12, 31)) -> list[dict]:
    return run_step("20_episodes", "25_episodes.sql",
                    {"episode_chain": chains, "bene_src": benes}, values={"last_service_date": last}, columns=FLAGS)


def ep(bene="B1", trigger=T, end=END, py=2027, status="closed", age=None, missing=None, excluded=False,
       quarantined=False, counts=True, scorable=True) -> dict:
    return {"bene_id": bene, "trigger_date": trigger, "end_date": end, "performance_year": py, "status": status,
            "age_at_trigger": age, "demographics_missing": missing, "excluded": excluded,
            "exclusion_reason": "X1: age under 18 on the trigger date" if excluded else None,
            "quarantined": quarantined,
            "quarantine_reason": ("X1: death before trigger date (inconsistent beneficiary data)"
                                  if quarantined else None),
            "counts_for_scoring": counts, "scorable": scorable}


def episode_id(bene: str, cohort: str, trigger: date) -> str:
    return f"{cohort}-" + hashlib.md5(f"{bene}|{cohort}|{trigger.isoformat()}".encode()).hexdigest()[:16]


def test_E6_episode_keeps_trigger_and_confirming_ids_and_a_stable_id():
    # E3 start = trigger 2026-03-01, end 2027-02-28; E5 PY 2027, closed (end <= last service date
    # 2027-12-31), scorable in the run's PY 2027. E6: trigger and confirming claim id / control number /
    # line / TIN / NPI are carried. episode_id = cohort + md5(bene|cohort|trigger date)[:16].
    # No demographics: X columns NULL, not excluded, not quarantined.
    rows = run_step("20_episodes", "25_episodes.sql", {"episode_chain": [ch()], "bene_src": []},
                    values={"last_service_date": date(2027, 12, 31)})
    assert rows == [{
        "episode_id": episode_id("B1", "HF", T), "cohort": "HF", "bene_id": "B1", "episode_seq": 1,
        "trigger_date": T, "confirming_date": date(2026, 3, 11), "start_date": T, "end_date": END,
        "performance_year": 2027, "status": "closed", "trigger_tin": "T1", "trigger_npi": "N1",
        "trigger_claim_id": "IDC1", "trigger_claim_control_number": "C1", "trigger_line_number": 1,
        "confirming_tin": "T1", "confirming_npi": "N1", "confirming_claim_id": "IDC2",
        "confirming_claim_control_number": "C2", "confirming_line_number": 2, "death_date": None,
        "truncated_at_death": False, "age_at_trigger": None, "demographics_missing": None, "excluded": False,
        "exclusion_reason": None, "quarantined": False, "quarantine_reason": None, "counts_for_scoring": True,
        "scorable": True}]


def test_E3_episode_truncated_at_death_is_flagged():
    # E3: the chain's end was cut at death (2026-06-09 < full end 2027-02-28) -> truncated_at_death; PY
    # = year of the (cut) end, 2026 (E5), so not scorable in PY 2027 though it counts for scoring.
    death = date(2026, 6, 9)
    rows = run_step("20_episodes", "25_episodes.sql",
                    {"episode_chain": [ch(end=death, death=death), ch("B2")],
                     "bene_src": [{"bene_id": "B1", "birth_date": date(1950, 1, 1), "death_date": death},
                                  {"bene_id": "B2", "birth_date": date(1950, 1, 1)}]},
                    values={"last_service_date": date(2027, 12, 31)},
                    columns=["bene_id", "start_date", "end_date", "truncated_at_death", "performance_year", "scorable"])
    assert rows == [
        {"bene_id": "B1", "start_date": T, "end_date": death, "truncated_at_death": True, "performance_year": 2026,
         "scorable": False},
        {"bene_id": "B2", "start_date": T, "end_date": END, "truncated_at_death": False, "performance_year": 2027,
         "scorable": True}]


def test_E5_open_only_when_end_after_last_service_date():
    # E5: last service date 2027-02-28. B1 ends that very day -> closed ("on or before"), scorable.
    # B2 triggers a day later and ends 2027-03-01 -> open: PY 2027 but never scored.
    rows = episodes([ch("B1"), ch("B2", trigger=date(2026, 3, 2))], [], last=END)
    assert rows == [ep("B1"), ep("B2", trigger=date(2026, 3, 2), end=date(2027, 3, 1), status="open",
                                 counts=False, scorable=False)]


def test_E5_performance_year_is_year_of_end_date():
    # E5: B1 2025-06-01 .. 2026-05-31 belongs to PY 2026: closed, counts for scoring (any PY) but is not
    # scorable in the run's PY 2027. B2 ends 2027-02-28: PY 2027, scorable.
    rows = episodes([ch("B1", trigger=date(2025, 6, 1)), ch("B2")], [])
    assert rows == [ep("B1", trigger=date(2025, 6, 1), end=date(2026, 5, 31), py=2026, scorable=False), ep("B2")]


def test_X1_age_under_18_on_trigger_date_excluded():
    # X1: B1 born 2008-03-01 turns 18 on the trigger day 2026-03-01 -> 18, kept. B2 born 2008-03-02 is
    # 17 on 2026-03-01 -> excluded with the reason; excluded episodes neither count nor score.
    benes = [{"bene_id": "B1", "birth_date": date(2008, 3, 1)}, {"bene_id": "B2", "birth_date": date(2008, 3, 2)}]
    assert episodes([ch("B1"), ch("B2")], benes) == [
        ep("B1", age=18, missing=False), ep("B2", age=17, missing=False, excluded=True, counts=False, scorable=False)]


def test_X1_birthday_on_29_february_is_reached_on_1_march():
    # X1/R1 age [DEFAULT]: born 2008-02-29; 2026 has no 29 February. On 2026-02-28 (B1) the birthday is
    # not reached -> 17, excluded; on 2026-03-01 (B2) it is -> 18. B1 ends 2027-02-27, B2 2027-02-28.
    benes = [{"bene_id": b, "birth_date": date(2008, 2, 29)} for b in ("B1", "B2")]
    rows = episodes([ch("B1", trigger=date(2026, 2, 28)), ch("B2")], benes)
    assert rows == [ep("B1", trigger=date(2026, 2, 28), end=date(2027, 2, 27), age=17, missing=False, excluded=True,
                       counts=False, scorable=False),
                    ep("B2", age=18, missing=False)]


def test_X1_death_before_trigger_quarantined():
    # X1: B1 died 2026-02-28, the day before its trigger -> quarantined with the reason, not counted.
    # B2 died on the trigger day: consistent (the chain's end would be cut there, E3) -> not quarantined.
    benes = [{"bene_id": "B1", "birth_date": date(1950, 1, 1), "death_date": date(2026, 2, 28)},
             {"bene_id": "B2", "birth_date": date(1950, 1, 1), "death_date": T}]
    rows = episodes([ch("B1", death=date(2026, 2, 28)), ch("B2", end=T, death=T)], benes)
    assert rows == [ep("B1", age=76, missing=False, quarantined=True, counts=False, scorable=False),
                    ep("B2", end=T, py=2026, age=76, missing=False, scorable=False)]


def test_X2_beneficiary_absent_from_demographics_kept_and_flagged():
    # X2: demographics are supplied (B2 is in them) but B1 is absent -> kept, demographics_missing, no
    # age, not excluded (X1 cannot apply), counts and scores.
    benes = [{"bene_id": "B2", "birth_date": date(1950, 1, 1)}]
    assert episodes([ch("B1"), ch("B2")], benes) == [ep("B1", missing=True), ep("B2", age=76, missing=False)]


# ----------------------------------------------------------------------------------------------------
# 30_service_categories.sql (C3): service_categories.csv -> service_categories

def test_C3_service_category_ranges_read_trimmed_lowercased_blank_dates_open(tmp_path):
    # C3: codes upper case and trimmed, category lower case, priority an integer, blank validity open
    # (1900-01-01 .. 9999-12-31).
    csv = tmp_path / "service_categories.csv"
    csv.write_text("hcpcs_from,hcpcs_to,service_category,priority,description,valid_from,valid_to\n"
                   " g0402 , g0402 , EM ,1,Preventive,,\n"
                   "93303,93352,Imaging,1,Echo,2020-01-01,2030-12-31\n")
    rows = run_step("30_episode_lines", "30_service_categories.sql", {},
                    values={"service_categories_file": str(csv)})
    assert rows == [
        {"hcpcs_from": "93303", "hcpcs_to": "93352", "service_category": "imaging", "priority": 1,
         "valid_from": date(2020, 1, 1), "valid_to": date(2030, 12, 31)},
        {"hcpcs_from": "G0402", "hcpcs_to": "G0402", "service_category": "em", "priority": 1,
         "valid_from": date(1900, 1, 1), "valid_to": date(9999, 12, 31)}]


# ----------------------------------------------------------------------------------------------------
# 31_episode_lines_partb.sql (C1, C3, E6): cohort_lines + episodes (+ service_categories,
# betos_categories) -> episode_lines_partb

EP1 = {"episode_id": "HF-e1", "cohort": "HF", "bene_id": "B1", "start_date": day(0), "end_date": day(364),
       "performance_year": 2028, "status": "closed", "excluded": False, "quarantined": False, "scorable": False}


def cl(rowid: int, on: int = 10, bene="B1", cohort="HF", hcpcs="99214", betos=None, tin="T1", npi="N1",
       qualifying=True, allowed="100.00") -> dict:
    return {"line_rowid": rowid, "cohort": cohort, "bene_id": bene, "service_date": day(on),
            "claim_control_number": f"C{rowid}", "line_number": 1, "claim_id": f"ID{rowid}", "claim_type": "71",
            "hcpcs": hcpcs, "betos": betos, "place_of_service": "11", "tin": tin, "npi": npi,
            "allowed_amount": Decimal(allowed), "paid_amount": Decimal(allowed), "cost_amount": Decimal(allowed),
            "has_cohort_dx": True, "is_condition_service": False, "is_qualifying": qualifying}


def partb_lines(lines: list[dict], columns: list[str]) -> list[dict]:
    return run_step("30_episode_lines", "31_episode_lines_partb.sql",
                    {"cohort_lines": lines, "episodes": [EP1]}, columns=columns)


def test_C1_partb_lines_inside_the_window_inclusive_are_assigned():
    # C1: window [day 0, day 364], both ends inclusive: lines on day 0 (2) and 364 (3) are assigned with
    # episode_day 0 and 364; day -1 (1) and 365 (4) are not; nor B1's LBP line (5, other cohort) nor
    # B2's line (6). E6: the line keeps its claim control number and line number.
    lines = [cl(1, -1), cl(2, 0), cl(3, 364), cl(4, 365), cl(5, 100, cohort="LBP"), cl(6, 100, bene="B2")]
    assert partb_lines(lines, ["episode_id", "source", "claim_control_number", "line_number", "episode_day",
                               "line_rowid"]) == [
        {"episode_id": "HF-e1", "source": "partb", "claim_control_number": "C2", "line_number": 1, "episode_day": 0,
         "line_rowid": 2},
        {"episode_id": "HF-e1", "source": "partb", "claim_control_number": "C3", "line_number": 1,
         "episode_day": 364, "line_rowid": 3}]


def test_C3_service_category_from_betos_then_hcpcs_range_then_other():
    # C3 [DEFAULT]: 1 BETOS I1A -> imaging (BETOS wins over the E&M range of 99214);
    # 2 no BETOS, 93306 -> echo range 93303-93352 imaging (priority 1 beats cardiovascular tests 93000-93799,
    #   priority 2); 3 no BETOS, J1234 -> in no range -> other;
    # 4 BETOS Q99 (letter not in costs.betos_category) -> the range: 99214 in 99202-99499 -> em;
    # 5 no BETOS, "9921" sorts inside 99202-99499 but has 4 characters (ranges need equal length) -> other;
    # 6 BETOS T1A -> tests (BETOS wins over the echo range).
    lines = [cl(1, betos="I1A"), cl(2, hcpcs="93306"), cl(3, hcpcs="J1234"), cl(4, betos="Q99"),
             cl(5, hcpcs="9921"), cl(6, hcpcs="93306", betos="T1A")]
    rows = partb_lines(lines, ["line_rowid", "service_category"])
    assert rows == [{"line_rowid": 1, "service_category": "imaging"}, {"line_rowid": 2, "service_category": "imaging"},
                    {"line_rowid": 3, "service_category": "other"}, {"line_rowid": 4, "service_category": "em"},
                    {"line_rowid": 5, "service_category": "other"}, {"line_rowid": 6, "service_category": "tests"}]


# ----------------------------------------------------------------------------------------------------
# 32_episode_lines_parta.sql (C1, C2, C3): parta_src + episodes (+ code_lists, institutional_types)
# -> episode_lines_parta

PARTA = ["claim_control_number", "episode_day", "service_category", "service_group", "after_stay_claim_control_number",
         "line_number", "cost_amount"]


def pa(ccn: str, claim_type: str, start: int, end: int | None = None, dx="I509", drg=None, payment="1000.00",
       bene="B1") -> dict:
    return {"claim_control_number": ccn, "claim_id": f"ID{ccn}", "bene_id": bene, "claim_type": claim_type,
            "from_date": day(start), "thru_date": day(start if end is None else end), "principal_dx": dx, "drg": drg,
            "facility_npi": "F1", "payment_amount": Decimal(payment)}


def parta_lines(claims: list[dict]) -> list[dict]:
    return run_step("30_episode_lines", "32_episode_lines_parta.sql", {"parta_src": claims, "episodes": [EP1]},
                    columns=PARTA)


def pl_row(ccn, on, category, group=None, after=None, cost="1000.00") -> dict:
    return {"claim_control_number": ccn, "episode_day": on, "service_category": category, "service_group": group,
            "after_stay_claim_control_number": after, "line_number": 0, "cost_amount": Decimal(cost)}


def test_C1_parta_institutional_claims_starting_inside_window_with_cohort_dx_or_drg():
    # C1, C2, C3: window [day 0, 364]. A1 inpatient (60) day 10, dx I509 -> inpatient. A2 inpatient day 20,
    # dx Z0000 but MS-DRG 291 (HF list, group heart_failure) -> inpatient. A3 outpatient (40) day 30 dx I509 ->
    # 'other'. A4 inpatient starting on day 364 -> in (inclusive). A5 starts day 365 -> out; A6 starts day -1
    # (before the window, ends day 2) -> out; A7 no cohort dx, no listed DRG -> out; A8 SNF (20) on day 200
    # with I509 is no institutional type and follows no stay within 30 days -> out. Cost = payment (C2),
    # line_number 0 (a claim header).
    claims = [pa("A1", "60", 10, 15), pa("A2", "60", 20, dx="Z0000", drg="291"), pa("A3", "40", 30),
              pa("A4", "60", 364), pa("A5", "60", 365), pa("A6", "60", -1, 2), pa("A7", "60", 40, dx="Z0000"),
              pa("A8", "20", 200)]
    assert parta_lines(claims) == [pl_row("A1", 10, "inpatient"), pl_row("A2", 20, "inpatient", "heart_failure"),
                                   pl_row("A3", 30, "other"), pl_row("A4", 364, "inpatient")]


def test_C1_post_acute_within_30_days_after_discharge():
    # C1 post-acute [DEFAULT 30 days]: stay S1 (60) days 10-20. P1 SNF (20) from day 50 = discharge + 30 -> in;
    # P2 home health (10) from day 51 = +31 -> out; P3 SNF (30) on the discharge day (+0) -> in. O1 is an
    # outpatient claim (40, 'other') on day 100: P4 SNF on day 105 follows no inpatient stay -> out.
    # S2 inpatient days 360-363; P5 SNF day 370 is after the window's end (364) but within 30 days of S2's
    # discharge -> in (post-acute need not start inside the window).
    claims = [pa("S1", "60", 10, 20), pa("P1", "20", 50, dx="Z0000"), pa("P2", "10", 51, dx="Z0000"),
              pa("P3", "30", 20, dx="Z0000"), pa("O1", "40", 100), pa("P4", "20", 105, dx="Z0000"),
              pa("S2", "60", 360, 363), pa("P5", "20", 370, dx="Z0000")]
    assert parta_lines(claims) == [
        pl_row("O1", 100, "other"), pl_row("P1", 50, "post_acute", after="S1"),
        pl_row("P3", 20, "post_acute", after="S1"),
        pl_row("P5", 370, "post_acute", after="S2"), pl_row("S1", 10, "inpatient"), pl_row("S2", 360, "inpatient")]


def test_C1_post_acute_after_two_stays_counted_once_after_the_first_to_end():
    # C1: P1 (SNF day 25) is within 30 days of three stays: A0 ends day 22, A1 and A2 end day 20.
    # Counted once, after the first stay to end (day 20), the tie going to the lower claim control number
    # A1.
    claims = [pa("A0", "60", 5, 22), pa("A2", "60", 10, 20), pa("A1", "60", 12, 20), pa("P1", "20", 25, dx="Z0000")]
    assert parta_lines(claims) == [pl_row("A0", 5, "inpatient"), pl_row("A1", 12, "inpatient"),
                                   pl_row("A2", 10, "inpatient"), pl_row("P1", 25, "post_acute", after="A1")]


# ----------------------------------------------------------------------------------------------------
# 33_episode_lines.sql (C1, E6): episode_lines_partb + episode_lines_parta -> episode_lines

def test_C1_episode_lines_is_both_sources_without_line_rowid():
    # C1/E6: every Part B and Part A assigned service, one row each, keyed (episode, source, claim control
    # number, line number); the helper line_rowid is dropped.
    partb = {"episode_id": "HF-e1", "cohort": "HF", "source": "partb", "claim_control_number": "C1", "line_number": 1,
             "cost_amount": Decimal("100.00"), "line_rowid": 11}
    parta = {"episode_id": "HF-e1", "cohort": "HF", "source": "parta", "claim_control_number": "A1", "line_number": 0,
             "cost_amount": Decimal("1000.00")}
    rows = run_step("30_episode_lines", "33_episode_lines.sql",
                    {"episode_lines_partb": [partb], "episode_lines_parta": [parta]})
    assert list(rows[0]) == column_names("30_episode_lines", "31_episode_lines_partb.sql")[:-1]
    assert "line_rowid" not in rows[0]
    assert [(r["source"], r["claim_control_number"], r["line_number"], r["cost_amount"]) for r in rows] == [
        ("parta", "A1", 0, Decimal("1000.00")), ("partb", "C1", 1, Decimal("100.00"))]


# ----------------------------------------------------------------------------------------------------
# 41_episode_attribution.sql (A1, A2): episodes + episode_lines -> episode_attribution
# The cohort lines of a case go through 31 and 33 first (C1: the assigned lines of the episode), as in the
# stage: A1's qualifying lines are the assigned Part B lines flagged is_qualifying.

ATTR = ["tin", "npi", "qualifying_lines", "basis_value", "basis_total", "share", "attributed"]


_rowid = itertools.count(1)


def lines_of(npi: str | None, n: int, on: int = 10, tin="T1", **kw) -> list[dict]:
    """n cohort_lines of one biller on one day (qualifying HF lines of B1 by default)."""
    return [cl(next(_rowid), on=on, tin=tin, npi=npi, **kw) for _ in range(n)]


def assigned_lines(lines: list[dict], parta: list[dict] | None = None) -> list[dict]:
    """episode_lines of EP1 from its cohort lines (31) and Part A rows (33), as the stage makes them."""
    partb = run_step("30_episode_lines", "31_episode_lines_partb.sql", {"cohort_lines": lines, "episodes": [EP1]})
    return run_step("30_episode_lines", "33_episode_lines.sql",
                    {"episode_lines_partb": partb, "episode_lines_parta": parta or []})


def attribution(lines: list[dict], parta: list[dict] | None = None, columns=ATTR, **values) -> list[dict]:
    return run_step("40_attribution", "41_episode_attribution.sql",
                    {"episodes": [EP1], "episode_lines": assigned_lines(lines, parta)},
                    values=values, columns=columns)


def share(npi, lines, total, attributed, tin="T1", value=None) -> dict:
    return {"tin": tin, "npi": npi, "qualifying_lines": lines,
            "basis_value": Decimal(lines if value is None else value).quantize(Decimal("0.01")),
            "basis_total": Decimal(total).quantize(Decimal("0.01")),
            "share": (lines if value is None else value) / total,
            "attributed": attributed}


def test_A2_share_of_exactly_30_percent_is_attributed():
    # A1: 10 qualifying lines in the window: N1 3, N2 5, N3 2 -> shares 0.3, 0.5, 0.2.
    # A2 (>= 30%, inclusive): N1 and N2 attributed (several participants can be), N3 not.
    rows = attribution(lines_of("N1", 3) + lines_of("N2", 5) + lines_of("N3", 2))
    assert rows == [share("N1", 3, 10, True), share("N2", 5, 10, True), share("N3", 2, 10, False)]


def test_A2_share_just_below_30_percent_is_not_attributed():
    # A1/A2: N1 3 of 11 lines = 27.3% < 30% -> not attributed; N2 8 of 11 = 72.7% -> attributed.
    rows = attribution(lines_of("N1", 3) + lines_of("N2", 8))
    assert rows == [share("N1", 3, 11, False), share("N2", 8, 11, True)]


def test_A1_share_counts_qualifying_lines_inside_the_window_only():
    # A1: window [day 0, day 364] inclusive. N1: 4 lines on day 0 and 4 on day 364 (all in). N2: 2 lines in
    # the window, 3 on day -1 and 3 on day 365 (outside), 4 non-qualifying lines inside; N3's line is an
    # LBP line (other cohort). In the window: N1 8, N2 2 -> 10 lines; N1 0.8 attributed, N2 0.2 not
    # (counting the outside or non-qualifying lines would have given N2 12/20 or 6/14).
    lines = (lines_of("N1", 4, on=0) + lines_of("N1", 4, on=364) + lines_of("N2", 2) + lines_of("N2", 3, on=-1)
             + lines_of("N2", 3, on=365) + lines_of("N2", 4, on=20, qualifying=False)
             + lines_of("N3", 1, on=30, cohort="LBP"))
    assert attribution(lines) == [share("N1", 8, 10, True), share("N2", 2, 10, False)]


def test_A1_lines_without_npi_count_in_the_total_but_are_nobodys_share():
    # A1: N1 3 lines, 7 lines of T1 without an NPI: total 10, N1 3/10 = 30% -> attributed (A2 inclusive);
    # the NPI-less lines have no participant row.
    assert attribution(lines_of("N1", 3) + lines_of(None, 7)) == [share("N1", 3, 10, True)]


def test_A2_episode_with_no_participant_at_30_percent_is_unattributed():
    # A2: four participants with 1 of 4 lines each (25%): every row kept, none attributed.
    rows = attribution(lines_of("N1", 1) + lines_of("N2", 1) + lines_of("N3", 1) + lines_of("N4", 1))
    assert rows == [share(n, 1, 4, False) for n in ("N1", "N2", "N3", "N4")]


def test_A1_assigned_allowed_basis_shares_allowed_amounts_of_partb_lines():
    # A1 basis assigned_allowed: assigned Part B lines N1 30.00 (qualifying), N2 40.00 + 20.00 (not
    # qualifying), N3 10.00 (qualifying); the Part A claim (no TIN) is not Part B and is ignored. Total
    # 100.00: N1 30% attributed (inclusive), N2 60% attributed (a row without any qualifying line: its
    # assigned lines give it a share), N3 10% not. The episode's columns come along.
    lines = (lines_of("N1", 1, allowed="30.00") + lines_of("N2", 1, allowed="40.00", qualifying=False)
             + lines_of("N2", 1, allowed="20.00", qualifying=False) + lines_of("N3", 1, allowed="10.00"))
    parta = [{"episode_id": "HF-e1", "cohort": "HF", "source": "parta", "claim_control_number": "A1", "line_number": 0,
              "npi": "F1", "allowed_amount": Decimal("1000.00"), "cost_amount": Decimal("1000.00")}]
    rows = attribution(lines, parta, columns=None, basis="assigned_allowed")
    common = {"episode_id": "HF-e1", "cohort": "HF", "bene_id": "B1", "performance_year": 2028, "status": "closed",
              "tin": "T1", "basis": "assigned_allowed", "basis_total": Decimal("100.00"), "excluded": False,
              "quarantined": False, "scorable": False}
    assert rows == [
        {**common, "npi": "N1", "qualifying_lines": 1, "assigned_lines": 1, "assigned_allowed": Decimal("30.00"),
         "basis_value": Decimal("30.00"), "share": 0.3, "attributed": True},
        {**common, "npi": "N2", "qualifying_lines": 0, "assigned_lines": 2, "assigned_allowed": Decimal("60.00"),
         "basis_value": Decimal("60.00"), "share": 0.6, "attributed": True},
        {**common, "npi": "N3", "qualifying_lines": 1, "assigned_lines": 1, "assigned_allowed": Decimal("10.00"),
         "basis_value": Decimal("10.00"), "share": 0.1, "attributed": False}]


# ----------------------------------------------------------------------------------------------------
# 42_episode_attribution_tin.sql (A3): episode_attribution -> episode_attribution_tin

def npi_share(tin: str, npi: str, lines: int, total: int) -> dict:
    return {"episode_id": "HF-e1", "cohort": "HF", "bene_id": "B1", "performance_year": 2028, "status": "closed",
            "tin": tin, "npi": npi, "qualifying_lines": lines, "assigned_lines": 0, "assigned_allowed": Decimal(0),
            "basis": "qualifying_lines", "basis_value": Decimal(lines), "basis_total": Decimal(total),
            "share": lines / total, "attributed": lines / total >= 0.3, "excluded": False, "quarantined": False,
            "scorable": False}


def tin_view(*rows: dict) -> list[dict]:
    return run_step("40_attribution", "42_episode_attribution_tin.sql", {"episode_attribution": list(rows)},
                    columns=["tin", "npis", "qualifying_lines", "basis_value", "basis_total", "share", "attributed"])


def test_A3_tin_share_sums_npis():
    # A3: T1's NPIs hold 2/10 and 1/10 (neither attributed alone); T1 = 3/10 = 30% -> attributed (same
    # inclusive threshold). T2's N3 7/10 -> 70%, attributed.
    rows = tin_view(npi_share("T1", "N1", 2, 10), npi_share("T1", "N2", 1, 10), npi_share("T2", "N3", 7, 10))
    assert rows == [
        {"tin": "T1", "npis": 2, "qualifying_lines": 3, "basis_value": Decimal("3.00"),
         "basis_total": Decimal("10.00"), "share": 0.3, "attributed": True},
        {"tin": "T2", "npis": 1, "qualifying_lines": 7, "basis_value": Decimal("7.00"),
         "basis_total": Decimal("10.00"), "share": 0.7, "attributed": True}]


def test_A3_tin_below_threshold_is_not_attributed():
    # A3: T1 = 1/10 + 1/10 = 20% < 30% -> not attributed; T2 8/10 -> attributed.
    rows = tin_view(npi_share("T1", "N1", 1, 10), npi_share("T1", "N2", 1, 10), npi_share("T2", "N3", 8, 10))
    assert [(r["tin"], r["share"], r["attributed"]) for r in rows] == [("T1", 0.2, False), ("T2", 0.8, True)]
