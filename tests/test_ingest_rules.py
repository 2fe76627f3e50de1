"""Golden tests for the ingest rules N1-N6 on hand-built claim lines.

Each test builds a tiny delivery, runs the ingest stage and checks partb_lines / ingest_audit /
quarantine against answers worked out by hand in the comments.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from pipelines.engine.ingest import crosswalk
from tests.cclf_builders import partb_line, write_csv, write_fixed, write_parquet, xref_row

ZC5 = "P.A1234.ACO.ZC5Y26.D{d}.T1200000"
ZC9 = "P.A1234.ACO.ZC9Y26.D{d}.T1200000"


def _packet_example_lines() -> list[dict]:
    """CMS CCLF packet §5.3.2: one claim control number, two originals and one cancel.

    claim 1067 original (effective 2025-08-15): 99214 485.00/380.00, 93000 290.00/227.00, 36415 3.00/0.00
    claim 1066 original (effective 2025-09-02): 99214 485.00/380.00, 93000 290.00/227.00, 80053 127.00/100.00
    claim 1065 cancel   (effective 2025-09-02): the three lines of 1067 (amounts as delivered, positive)
    """
    common = dict(CLM_CNTL_NUM="000000000007016", BENE_MBI_ID="9TT0FK0XX23", CLM_LINE_FROM_DT="2025-08-01",
                  CLM_LINE_THRU_DT="2025-08-01", CLM_FROM_DT="2025-08-01", CLM_THRU_DT="2025-08-01")
    rows = []
    for claim, adj, eff, lines in [
        ("0000000001067", "0", "2025-08-15", [("99214", "485.00", "380.00"), ("93000", "290.00", "227.00"), ("36415", "3.00", "0.00")]),
        ("0000000001066", "0", "2025-09-02", [("99214", "485.00", "380.00"), ("93000", "290.00", "227.00"), ("80053", "127.00", "100.00")]),
        ("0000000001065", "1", "2025-09-02", [("99214", "485.00", "380.00"), ("93000", "290.00", "227.00"), ("36415", "3.00", "0.00")]),
    ]:
        for n, (hcpcs, allowed, paid) in enumerate(lines, start=1):
            rows.append(partb_line(**common, CUR_CLM_UNIQ_ID=claim, CLM_LINE_NUM=f"{n:010d}", CLM_ADJSMT_TYPE_CD=adj,
                                   CLM_EFCTV_DT=eff, CLM_LINE_HCPCS_CD=hcpcs, CLM_LINE_ALOWD_CHRG_AMT=allowed.zfill(16),
                                   CLM_LINE_CVRD_PD_AMT=paid.zfill(14)))
    return rows


def test_N4_packet_example_two_originals_one_cancel_nets_to_707(input_dir, run_ingest_on):
    # Per line (N4: cancels negative, survive while originals outnumber cancels: 2 > 1):
    #   line 1: paid 380 + 380 - 380 = 380; line 2: 227 + 227 - 227 = 227; line 3: 0 + 100 - 0 = 100
    #   total net paid = 707 (the packet's answer). Allowed: 485 + 290 + (3 + 127 - 3) = 902.
    # Attributes from the latest original (claim 1066, effective 2025-09-02): line 3 is 80053, not 36415.
    write_fixed(input_dir / ZC5.format(d="251208"), "cclf5", _packet_example_lines())
    result, q = run_ingest_on(input_dir)
    rows = q("SELECT line_number, claim_id, hcpcs, allowed_amount, paid_amount, versions, cancels "
             "FROM {partb_lines} ORDER BY line_number")
    assert rows == [
        (1, "0000000001066", "99214", Decimal("485.00"), Decimal("380.00"), 2, 1),
        (2, "0000000001066", "93000", Decimal("290.00"), Decimal("227.00"), 2, 1),
        (3, "0000000001066", "80053", Decimal("127.00"), Decimal("100.00"), 2, 1),
    ]
    assert q("SELECT sum(paid_amount) FROM {partb_lines}") == [(Decimal("707.00"),)]
    # nothing excluded: all nine versions are loaded into the three netted lines
    assert result.files[0]["rows_read"] == 9 and result.files[0]["rows_loaded"] == 9


def test_N4_packet_example_in_tuva_fixture(input_dir, run_ingest_on):
    """The same example as delivered in Tuva's CCLF5 CSV fixture (CSV with FILE_NAME/FILE_DATE)."""
    from tests.cclf_builders import SAMPLES

    src = SAMPLES / "tuva_cclf_fixture"
    if not src.is_dir():
        pytest.skip(f"shared samples not present at {src}")
    (input_dir / (ZC5.format(d="260209") + ".csv")).write_bytes((src / "partb_physicians.csv").read_bytes())
    (input_dir / (ZC9.format(d="260209") + ".csv")).write_bytes((src / "beneficiary_xref.csv").read_bytes())
    result, q = run_ingest_on(input_dir)
    assert q("SELECT sum(paid_amount) FROM {partb_lines} WHERE claim_control_number = '000000000007016'") == [
        (Decimal("707.00"),)
    ]
    # claim 1042 delivered in D251110 and again in D251208: the older copies are N2 exclusions
    assert q("SELECT count(*) FROM {ingest_audit} WHERE rule = 'N2' AND claim_id = '0000000001042'") == [(2,)]
    # claim 1044 denied (CLM_CARR_PMT_DNL_CD 0), 1045 processing indicator N: N3
    assert sorted(q("SELECT claim_id FROM {ingest_audit} WHERE rule = 'N3'")) == [("0000000001044",), ("0000000001045",)]
    # control 7007: original under ...XX80, cancel + type-2 adjustment under ...XX14 (XX80 -> XX14 in CCLF9):
    # one group, 2 versions > 1 cancel, net paid 98.21 - 98.21 + 101.40 = 101.40
    assert q("SELECT bene_id, paid_amount FROM {partb_lines} WHERE claim_control_number = '000000000007007'") == [
        ("9TT0FK0XX14", Decimal("101.40"))
    ]
    # control 7018: one original and one cancel per line -> netted away (N4), nothing loaded
    assert q("SELECT count(*) FROM {partb_lines} WHERE claim_control_number = '000000000007018'") == [(0,)]
    assert all(f["reconciled"] for f in result.files)


def test_N2_redelivered_line_counts_once_and_newest_file_wins(input_dir, run_ingest_on):
    # The same (claim id, line) in January and February deliveries; February's copy carries a
    # different BETOS (blank). N2 keeps the newest delivery and audits January's copy.
    line = partb_line()
    write_fixed(input_dir / ZC5.format(d="260110"), "cclf5", [line])
    write_fixed(input_dir / ZC5.format(d="260209"), "cclf5", [{**line, "HCPCS_BETOS_CD": ""}])
    result, q = run_ingest_on(input_dir)
    assert q("SELECT count(*), any_value(betos), any_value(source_file) FROM {partb_lines}") == [
        (1, None, ZC5.format(d="260209"))
    ]
    assert q("SELECT source_file, source_row, rule FROM {ingest_audit}") == [(ZC5.format(d="260110"), 1, "N2")]


def test_N3_denied_claims_and_non_A_processing_excluded_but_audited(input_dir, run_ingest_on):
    rows = [
        partb_line(CUR_CLM_UNIQ_ID="0000000000001", CLM_CNTL_NUM="C1"),  # paid: loaded
        partb_line(CUR_CLM_UNIQ_ID="0000000000002", CLM_CNTL_NUM="C2", CLM_CARR_PMT_DNL_CD="0"),  # denied
        partb_line(CUR_CLM_UNIQ_ID="0000000000003", CLM_CNTL_NUM="C3", CLM_PRCSG_IND_CD="R"),  # not A
        partb_line(CUR_CLM_UNIQ_ID="0000000000004", CLM_CNTL_NUM="C4", CLM_PRCSG_IND_CD=""),  # blank: not A
    ]
    write_fixed(input_dir / ZC5.format(d="260110"), "cclf5", rows)
    result, q = run_ingest_on(input_dir)
    assert q("SELECT claim_control_number FROM {partb_lines}") == [("C1",)]
    assert q("SELECT source_row, rule FROM {ingest_audit} ORDER BY source_row") == [(2, "N3"), (3, "N3"), (4, "N3")]
    f = result.files[0]
    assert (f["rows_read"], f["rows_loaded"], f["rows_excluded"], f["rows_quarantined"]) == (4, 1, 3, 0)


def test_N4_fully_cancelled_line_is_netted_away_and_audited(input_dir, run_ingest_on):
    # one original + one cancel: originals (1) do not outnumber cancels (1) -> no partb_line
    rows = [partb_line(CUR_CLM_UNIQ_ID="0000000000010"),
            partb_line(CUR_CLM_UNIQ_ID="0000000000011", CLM_ADJSMT_TYPE_CD="1", CLM_EFCTV_DT="2026-04-01")]
    write_fixed(input_dir / ZC5.format(d="260410"), "cclf5", rows)
    result, q = run_ingest_on(input_dir)
    assert q("SELECT count(*) FROM {partb_lines}") == [(0,)]
    assert q("SELECT rule, count(*) FROM {ingest_audit} GROUP BY rule") == [("N4", 2)]
    assert result.files[0]["reconciled"]


def test_N4_type2_adjustment_replaces_attributes_and_amounts(input_dir, run_ingest_on):
    # original 99214 paid 98.21, cancel 98.21, adjustment (type 2) 99215 paid 135.60:
    # net paid = 98.21 - 98.21 + 135.60 = 135.60; 2 versions > 1 cancel; attributes from the type-2 version.
    rows = [
        partb_line(CUR_CLM_UNIQ_ID="0000000001068", CLM_EFCTV_DT="2025-09-17"),
        partb_line(CUR_CLM_UNIQ_ID="0000000001069", CLM_ADJSMT_TYPE_CD="1", CLM_EFCTV_DT="2025-11-04"),
        partb_line(CUR_CLM_UNIQ_ID="0000000001070", CLM_ADJSMT_TYPE_CD="2", CLM_EFCTV_DT="2025-11-04",
                   CLM_LINE_HCPCS_CD="99215", CLM_LINE_CVRD_PD_AMT="00000000135.60",
                   CLM_LINE_ALOWD_CHRG_AMT="0000000000173.04"),
    ]
    write_fixed(input_dir / ZC5.format(d="260112"), "cclf5", rows)
    _, q = run_ingest_on(input_dir)
    assert q("SELECT claim_id, hcpcs, paid_amount, allowed_amount FROM {partb_lines}") == [
        ("0000000001070", "99215", Decimal("135.60"), Decimal("173.04"))
    ]


def test_N4_latest_effective_date_then_highest_claim_id_supplies_attributes(input_dir, run_ingest_on):
    # two originals with the same effective date: the higher CUR_CLM_UNIQ_ID (numerically) wins
    rows = [partb_line(CUR_CLM_UNIQ_ID="0000000000900", CLM_LINE_HCPCS_CD="99213"),
            partb_line(CUR_CLM_UNIQ_ID="0000000001000", CLM_LINE_HCPCS_CD="99215")]
    write_fixed(input_dir / ZC5.format(d="260410"), "cclf5", rows)
    _, q = run_ingest_on(input_dir)
    assert q("SELECT claim_id, hcpcs, versions FROM {partb_lines}") == [("0000000001000", "99215", 2)]


def test_N1_chain_maps_old_ids_to_newest_and_nets_across_ids(input_dir, run_ingest_on):
    # CCLF9 (latest delivery): A -> B, B -> C. The original is under A, its cancel under C: after N1
    # both are C, so they net away; a second line under B is loaded as C.
    write_fixed(input_dir / ZC9.format(d="260110"), "cclf9", [xref_row("AAAAAAAAAA1", "ZZZZZZZZZZ9")])  # older: ignored
    write_fixed(input_dir / ZC9.format(d="260209"), "cclf9",
                [xref_row("AAAAAAAAAA1", "BBBBBBBBBB2"), xref_row("BBBBBBBBBB2", "CCCCCCCCCC3")])
    rows = [
        partb_line(CUR_CLM_UNIQ_ID="0000000000001", BENE_MBI_ID="AAAAAAAAAA1", CLM_CNTL_NUM="K1"),
        partb_line(CUR_CLM_UNIQ_ID="0000000000002", BENE_MBI_ID="CCCCCCCCCC3", CLM_CNTL_NUM="K1", CLM_ADJSMT_TYPE_CD="1"),
        partb_line(CUR_CLM_UNIQ_ID="0000000000003", BENE_MBI_ID="BBBBBBBBBB2", CLM_CNTL_NUM="K2"),
    ]
    write_fixed(input_dir / ZC5.format(d="260209"), "cclf5", rows)
    result, q = run_ingest_on(input_dir)
    assert q("SELECT claim_control_number, bene_id FROM {partb_lines}") == [("K2", "CCCCCCCCCC3")]
    assert q("SELECT previous_bene_id, current_bene_id FROM {bene_xref} ORDER BY 1") == [
        ("AAAAAAAAAA1", "CCCCCCCCCC3"), ("BBBBBBBBBB2", "CCCCCCCCCC3")
    ]
    # the older cross-walk delivery's row is audited with rule N1
    assert q("SELECT rule, source_file FROM {ingest_audit} WHERE rule = 'N1'") == [("N1", ZC9.format(d="260110"))]
    assert all(f["reconciled"] for f in result.files)


def test_N1_resolution_follows_chains_and_survives_cycles():
    edges = crosswalk.choose_edges([
        ("A", "B", None), ("B", "C", None),  # chain A -> B -> C
        ("X", "Y", None), ("Y", "X", None),  # 2-cycle: both map to min(X, Y) = X
        ("P", "Q", None), ("Q", "R", None), ("R", "Q", None),  # tail P into cycle Q <-> R: all to Q
        ("S", "S", None),  # self-mapping: ignored
    ])
    assert crosswalk.resolve(edges) == {"A": "C", "B": "C", "Y": "X", "P": "Q", "R": "Q"}


def test_N1_conflicting_rows_latest_effective_date_wins():
    from datetime import date

    edges = crosswalk.choose_edges([("A", "B", date(2020, 1, 1)), ("A", "C", date(2023, 1, 1))])
    assert edges == {"A": "C"}


def test_N5_standardization_factor_applies_by_state(input_dir, run_ingest_on):
    # allowed 125.33 in state 36 with factor 0.9 -> cost 112.80 (112.797 rounded); state 06 has no factor -> 1.0
    write_fixed(input_dir / ZC5.format(d="260410"), "cclf5", [
        partb_line(CUR_CLM_UNIQ_ID="0000000000001", CLM_CNTL_NUM="S1"),
        partb_line(CUR_CLM_UNIQ_ID="0000000000002", CLM_CNTL_NUM="S2", RNDRG_PRVDR_FIPS_ST_CD="06"),
    ])
    (input_dir / "standardization_factors.csv").write_text("provider_state,factor\n36,0.9\n")
    result, q = run_ingest_on(input_dir)
    assert q("SELECT claim_control_number, cost_amount, cost_basis FROM {partb_lines} ORDER BY 1") == [
        ("S1", Decimal("112.80"), "standardized allowed amount"), ("S2", Decimal("125.33"), "allowed, not standardized")
    ]
    assert result.cost_basis == {"standardized allowed amount": 1, "allowed, not standardized": 1}


def test_N5_without_factor_table_cost_is_allowed_not_standardized(input_dir, run_ingest_on):
    write_fixed(input_dir / ZC5.format(d="260410"), "cclf5", [partb_line()])
    result, q = run_ingest_on(input_dir)
    assert q("SELECT cost_amount, allowed_amount FROM {partb_lines}") == [(Decimal("125.33"), Decimal("125.33"))]
    assert result.cost_basis == {"allowed, not standardized": 1}


def test_N6_tilde_blank_sentinel_and_dotted_diagnoses(input_dir, run_ingest_on):
    write_fixed(input_dir / ZC5.format(d="260410"), "cclf5", [partb_line(
        CLM_LINE_DGNS_CD="i50.9", CLM_DGNS_1_CD="~", CLM_DGNS_2_CD="M54.50", CLM_DGNS_3_CD="",
        CLM_LINE_THRU_DT="9999-12-31", CLM_LINE_HCPCS_CD="~",
    )])
    _, q = run_ingest_on(input_dir)
    assert q("SELECT line_dx, claim_dx, service_date::VARCHAR, service_thru_date, hcpcs FROM {partb_lines}") == [
        ("I509", ["M5450"], "2026-03-02", None, None)
    ]


@pytest.mark.parametrize("fmt", ["fixed", "csv", "parquet"])
def test_readers_fixed_csv_parquet_give_identical_lines(input_dir, run_ingest_on, fmt):
    rows = _packet_example_lines()
    name = ZC5.format(d="251208")
    if fmt == "fixed":
        write_fixed(input_dir / name, "cclf5", rows)
    elif fmt == "csv":
        write_csv(input_dir / f"{name}.csv", "cclf5", rows, extra={"FILE_NAME": name, "FILE_DATE": "2025-12-08"})
    else:
        write_parquet(input_dir / f"{name}.parquet", "cclf5", rows)
    result, q = run_ingest_on(input_dir)
    # source_file names the delivery: the file itself, or FILE_NAME when the CSV carries it
    src = f"{name}.parquet" if fmt == "parquet" else name
    assert q("SELECT line_number, hcpcs, paid_amount, source_file FROM {partb_lines} ORDER BY 1") == [
        (1, "99214", Decimal("380.00"), src), (2, "93000", Decimal("227.00"), src), (3, "80053", Decimal("100.00"), src)
    ]
    assert result.files[0]["format"] == fmt and result.files[0]["reconciled"]


def _parta(claim: str, ccn: str, **kw) -> dict:
    row = {"CUR_CLM_UNIQ_ID": claim, "BENE_MBI_ID": "1AA0AA0AA01", "CLM_TYPE_CD": "60", "CLM_FROM_DT": "2026-05-01",
           "CLM_THRU_DT": "2026-05-06", "PRNCPL_DGNS_CD": "I5023", "CLM_PMT_AMT": "0000000012000.00",
           "DGNS_DRG_CD": "0291", "CLM_ADJSMT_TYPE_CD": "0", "CLM_EFCTV_DT": "2026-05-20", "CLM_CNTL_NUM": ccn,
           "BENE_PTNT_STUS_CD": "01"}
    row.update(kw)
    return row


def test_N4_part_a_headers_net_by_control_number_and_nonpayment_is_excluded(input_dir, run_ingest_on):
    # H1: original 12,000 + cancel 12,000 + adjustment 11,500 -> survives (2 > 1), net 11,500, DRG 291
    # H2: original with a non-payment reason -> excluded (N3 applied to Part A, DEFAULT)
    # H3: original + cancel -> netted away (N4)
    write_fixed(input_dir / "P.A1.ACO.ZC1Y26.D260610.T1", "cclf1", [
        _parta("0000000000101", "H1"),
        _parta("0000000000102", "H1", CLM_ADJSMT_TYPE_CD="1", CLM_EFCTV_DT="2026-06-01"),
        _parta("0000000000103", "H1", CLM_ADJSMT_TYPE_CD="2", CLM_EFCTV_DT="2026-06-01", CLM_PMT_AMT="0000000011500.00"),
        _parta("0000000000201", "H2", CLM_MDCR_NPMT_RSN_CD="B"),
        _parta("0000000000301", "H3"),
        _parta("0000000000302", "H3", CLM_ADJSMT_TYPE_CD="1"),
    ])
    write_fixed(input_dir / "P.A1.ACO.ZC4Y26.D260610.T1", "cclf4", [
        {"CUR_CLM_UNIQ_ID": "0000000000103", "BENE_MBI_ID": "1AA0AA0AA01", "CLM_TYPE_CD": "60",
         "CLM_VAL_SQNC_NUM": "01", "CLM_DGNS_CD": "I50.23", "DGNS_PRCDR_ICD_IND": "0"},
    ])
    write_fixed(input_dir / "P.A1.ACO.ZC4Y26.D260710.T1", "cclf4", [  # the same diagnosis re-delivered
        {"CUR_CLM_UNIQ_ID": "0000000000103", "BENE_MBI_ID": "1AA0AA0AA01", "CLM_TYPE_CD": "60",
         "CLM_VAL_SQNC_NUM": "01", "CLM_DGNS_CD": "I50.23", "DGNS_PRCDR_ICD_IND": "0"},
    ])
    write_fixed(input_dir / ZC5.format(d="260610"), "cclf5", [partb_line()])
    result, q = run_ingest_on(input_dir)
    assert q("SELECT claim_control_number, claim_id, payment_amount, drg, principal_dx FROM {parta_claims}") == [
        ("H1", "0000000000103", Decimal("11500.00"), "291", "I5023")
    ]
    assert sorted(q("SELECT claim_control_number, rule FROM {ingest_audit} WHERE claim_control_number LIKE 'H%'")) == [
        ("H2", "N3"), ("H3", "N4"), ("H3", "N4")
    ]
    assert q("SELECT claim_id, dx, source_file_id FROM {parta_diagnoses}")[0][:2] == ("0000000000103", "I5023")
    assert q("SELECT count(*) FROM {ingest_audit} WHERE rule = 'N2' AND detail LIKE 'diagnosis%'") == [(1,)]
    assert all(f["reconciled"] for f in result.files)
