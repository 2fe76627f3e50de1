"""Map generated arrays to layout fields (CCLF5/1/4/8/9 and RIF carrier)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import world as W
from .core import PATTERNS
from .render import (Frame, Vocab, amount_mat, date_col, day, digits, plain_amount,
                     date_rif_vocab, small_int_col)

CLM_TYPE = Vocab(["71", "72"])
DNL = Vocab(["1", "0"])
PRCSG = Vocab(["A", "R", "N"])
ADJ = Vocab(["0", "1", "2"])
FINAL = Vocab(["N", "F"])
DX_RIF = Vocab([""] + W.DX.values[1:])
DX_VRSN = Vocab(["", "0"])
BAD_AMOUNT_CCLF = "0000000000ABC.DE"
BAD_DATE_CCLF = "2026-13-45"
BAD_AMOUNT_RIF = "ABC.DE"
BAD_DATE_RIF = "45-Abc-2026"


def _dx_col(dx: np.ndarray, i: int, voc: Vocab):
    """Claim diagnosis i: dx holds the first dx.shape[1] positions, later ones are index 0."""
    return ("v", dx[:, i], voc) if i < dx.shape[1] else ("c", voc.values[0])


def _mal_rows(r, k):
    return np.flatnonzero(r["mal"] == k)


def cclf5_frame(r: dict, wd: W.World) -> tuple[Frame, dict]:
    n = len(r["cid"])
    f = Frame(n)
    f.set("CUR_CLM_UNIQ_ID", ("m", digits(r["cid"], 13)))
    f.set("CLM_LINE_NUM", small_int_col(r["lnum"], 10))
    f.set("BENE_MBI_ID", ("m", W.MbiCoder.matrix(r["mbi"])))
    f.set("CLM_TYPE_CD", ("v", (r["ctype"] == 72).astype(np.int32), CLM_TYPE))
    f.set("CLM_FROM_DT", date_col(r["date"]))
    f.set("CLM_THRU_DT", date_col(r["date"]))
    f.set("RNDRG_PRVDR_TYPE_CD", ("c", "1"))
    f.set("RNDRG_PRVDR_FIPS_ST_CD", ("c", "36"))
    f.set("CLM_PRVDR_SPCLTY_CD", ("v", r["spec"], wd.SPEC))
    f.set("CLM_FED_TYPE_SRVC_CD", ("v", W.HC_FED[r["hc"]], W.FEDTYPE))
    f.set("CLM_POS_CD", ("v", r["pos"], W.POS))
    f.set("CLM_LINE_FROM_DT", date_col(r["date"]))
    f.set("CLM_LINE_THRU_DT", date_col(r["thru"]))
    f.set("CLM_LINE_HCPCS_CD", ("v", r["hc"], W.HCPCS))
    f.set("CLM_LINE_CVRD_PD_AMT", ("m", amount_mat(r["paid"], 11)))
    f.set("CLM_LINE_DGNS_CD", ("v", r["ldx"], W.DX))
    f.set("CLM_RNDRG_PRVDR_TAX_NUM", ("v", wd.p_tin[r["part"]], wd.TIN))
    f.set("RNDRG_PRVDR_NPI_NUM", ("v", wd.p_npi[r["part"]], wd.NPI))
    f.set("CLM_CARR_PMT_DNL_CD", ("v", r["dnl"], DNL))
    f.set("CLM_PRCSG_IND_CD", ("v", r["prcsg"], PRCSG))
    f.set("CLM_ADJSMT_TYPE_CD", ("v", r["adj"], ADJ))
    f.set("CLM_EFCTV_DT", date_col(r["efct"]))
    f.set("CLM_IDR_LD_DT", date_col(r["efct"] + 1))
    f.set("CLM_CNTL_NUM", ("m", digits(r["cntl"], 15)))
    allowed = amount_mat(r["allowed"], 13)
    rows = _mal_rows(r, 2)
    if len(rows):
        allowed[rows] = np.frombuffer(BAD_AMOUNT_CCLF.encode(), np.uint8)
    f.set("CLM_LINE_ALOWD_CHRG_AMT", ("m", allowed))
    f.set("CLM_LINE_SRVC_UNIT_QTY", small_int_col(r["units"], 18, ".0000"))
    f.set("CLM_DISP_CD", ("c", "01"))
    for i in range(12):
        f.set(f"CLM_DGNS_{i + 1}_CD", _dx_col(r["dx"], i, W.DX))
    f.set("DGNS_PRCDR_ICD_IND", ("c", "0"))
    f.set("HCPCS_BETOS_CD", ("v", r["betos"], W.BETOS))
    f.set("CLM_RNDRG_PRVDR_NPI_NUM", ("v", wd.p_npi[r["part"]], wd.NPI))
    f.set("CLM_RFRG_PRVDR_NPI_NUM", ("v", r["rfrg"], wd.NPI))
    f.set("CLM_CNTRCTR_NUM", ("c", "15202"))
    rows = _mal_rows(r, 3)
    if len(rows):
        f.override["CLM_LINE_FROM_DT"] = (rows, [BAD_DATE_CCLF] * len(rows))
    f.blank["CUR_CLM_UNIQ_ID"] = r["mal"] == 4
    f.blank["BENE_MBI_ID"] = r["mal"] == 5
    trunc = {int(i): int(r["trunc"][i]) for i in _mal_rows(r, 1)}
    return f, trunc


def _plain_int(x) -> pa.Array:
    return pa.array(np.asarray(x, np.int64)).cast(pa.string())


def rif_frame(r: dict, wd: W.World) -> Frame:
    DATE_RIF = date_rif_vocab()
    n = len(r["cid"])
    f = Frame(n)
    cid = ("m", digits(r["cid"], 13))
    f.set("DML_IND", ("c", "INSERT"))
    f.set("BENE_ID", ("m", W.MbiCoder.matrix(r["mbi"])))
    f.set("CLM_ID", cid)
    f.set("CLM_GRP_ID", cid)
    f.set("FINAL_ACTION", ("v", r["final"], FINAL))
    f.set("NCH_NEAR_LINE_REC_IDENT_CD", ("c", "O"))
    f.set("NCH_CLM_TYPE_CD", ("v", (r["ctype"] == 72).astype(np.int32), CLM_TYPE))
    f.set("CLM_FROM_DT", date_col(r["date"], DATE_RIF))
    f.set("CLM_THRU_DT", date_col(r["date"], DATE_RIF))
    f.set("NCH_WKLY_PROC_DT", date_col(r["efct"], DATE_RIF))
    f.set("CARR_CLM_ENTRY_CD", ("c", "1"))
    f.set("CLM_DISP_CD", ("c", "01"))
    f.set("CARR_NUM", ("c", "15202"))
    f.set("CARR_CLM_PMT_DNL_CD", ("v", r["dnl"], DNL))
    f.set("RFR_PHYSN_NPI", ("v", r["rfrg"], wd.NPI))
    f.set("CARR_CLM_PRVDR_ASGNMT_IND_SW", ("c", "A"))
    f.set("CARR_CLM_HCPCS_YR_CD", ("c", "1"))
    f.set("PRNCPAL_DGNS_CD", ("v", r["dx"][:, 0], DX_RIF))
    f.set("PRNCPAL_DGNS_VRSN_CD", ("c", "0"))
    for i in range(12):
        f.set(f"ICD_DGNS_CD{i + 1}", _dx_col(r["dx"], i, DX_RIF))
        f.set(f"ICD_DGNS_VRSN_CD{i + 1}", ("v", (r["dx"][:, i] > 0).astype(np.int32), DX_VRSN)
              if i < r["dx"].shape[1] else ("c", DX_VRSN.values[0]))
    f.set("CARR_CLM_CNTL_NUM", ("m", digits(r["cntl"], 15)))
    f.set("LINE_NUM", ("a", _plain_int(r["lnum"])))
    f.set("PRF_PHYSN_NPI", ("v", wd.p_npi[r["part"]], wd.NPI))
    f.set("CARR_LINE_PRVDR_TYPE_CD", ("c", "0"))
    f.set("TAX_NUM", ("v", wd.p_tin[r["part"]], wd.TIN))
    f.set("PRVDR_STATE_CD", ("c", "36"))
    f.set("PRVDR_ZIP", ("v", wd.p_zip[r["part"]], wd.ZIP9))
    f.set("PRVDR_SPCLTY", ("v", r["spec"], wd.SPEC))
    f.set("PRTCPTNG_IND_CD", ("c", "1"))
    f.set("LINE_SRVC_CNT", ("a", _plain_int(r["units"])))
    f.set("LINE_CMS_TYPE_SRVC_CD", ("v", W.HC_FED[r["hc"]], W.FEDTYPE))
    f.set("LINE_PLACE_OF_SRVC_CD", ("v", r["pos"], W.POS))
    f.set("LINE_1ST_EXPNS_DT", date_col(r["date"], DATE_RIF))
    f.set("LINE_LAST_EXPNS_DT", date_col(r["thru"], DATE_RIF))
    f.set("HCPCS_CD", ("v", r["hc"], W.HCPCS))
    f.set("BETOS_CD", ("v", r["betos"], W.BETOS))
    f.set("LINE_NCH_PMT_AMT", ("a", plain_amount(r["paid"])))
    f.set("LINE_ALOWD_CHRG_AMT", ("a", plain_amount(r["allowed"])))
    f.set("LINE_PRCSG_IND_CD", ("v", r["prcsg"], PRCSG))
    f.set("LINE_ICD_DGNS_CD", ("v", r["ldx"], DX_RIF))
    f.set("LINE_ICD_DGNS_VRSN_CD", ("c", "0"))
    rows = _mal_rows(r, 2)
    if len(rows):
        f.override["LINE_ALOWD_CHRG_AMT"] = (rows, [BAD_AMOUNT_RIF] * len(rows))
    rows = _mal_rows(r, 3)
    if len(rows):
        f.override["LINE_1ST_EXPNS_DT"] = (rows, [BAD_DATE_RIF] * len(rows))
    f.blank["CLM_ID"] = r["mal"] == 4
    f.blank["BENE_ID"] = r["mal"] == 5
    return f


# --------------------------------------------------------------------------------------------- Part A
PA_TYPE = Vocab(["60", "20", "30", "10"])
_PA_TYPE_IDX = {60: 0, 20: 1, 30: 2, 10: 3}
FAC_TYPE = Vocab(["1", "2", "3"])  # hospital, SNF, home health
DRG = Vocab([""] + ["291", "292", "293", "552", "460", "470", "193", "392", "871", "226"])
ADMSN_TYPE = Vocab(["1", "3"])  # emergency, elective (planned: not a Q6 admission)
OSCAR = Vocab(["330101", "330202", "335303", "337404", "337505"])


def _pa_type_idx(ct):
    out = np.zeros(len(ct), np.int32)
    for k, v in _PA_TYPE_IDX.items():
        out[ct == k] = v
    return out


def cclf1_frame(a: dict, wd: W.World, fac_npi: Vocab) -> Frame:
    n = len(a["cid"])
    f = Frame(n)
    ti = _pa_type_idx(a["ctype"])
    ft = np.select([a["ctype"] == 60, (a["ctype"] == 20) | (a["ctype"] == 30)], [0, 1], 2)
    drg_idx = np.zeros(n, np.int32)
    for i, v in enumerate(DRG.values[1:], start=1):
        drg_idx[a["drg"] == int(v)] = i
    f.set("CUR_CLM_UNIQ_ID", ("m", digits(a["cid"], 13)))
    f.set("PRVDR_OSCAR_NUM", ("v", a["fac"], OSCAR))
    f.set("BENE_MBI_ID", ("m", W.MbiCoder.matrix(a["mbi"])))
    f.set("CLM_TYPE_CD", ("v", ti, PA_TYPE))
    f.set("CLM_FROM_DT", date_col(a["frm"]))
    f.set("CLM_THRU_DT", date_col(a["thru"]))
    f.set("CLM_BILL_FAC_TYPE_CD", ("v", ft, FAC_TYPE))
    f.set("CLM_BILL_CLSFCTN_CD", ("c", "1"))
    f.set("PRNCPL_DGNS_CD", ("v", a["pdx"], W.DX))
    f.set("ADMTG_DGNS_CD", ("v", a["pdx"], W.DX))
    f.set("CLM_PMT_AMT", ("m", amount_mat(a["amt"], 13)))
    f.set("PRVDR_FAC_FIPS_ST_CD", ("c", "36"))
    f.set("BENE_PTNT_STUS_CD", ("c", "01"))
    f.set("DGNS_DRG_CD", ("v", drg_idx, DRG))
    f.set("FAC_PRVDR_NPI_NUM", ("v", a["fac"], fac_npi))
    f.set("ATNDG_PRVDR_NPI_NUM", ("v", a["atnd"], wd.NPI))
    f.set("CLM_ADJSMT_TYPE_CD", ("c", "0"))
    f.set("CLM_EFCTV_DT", date_col(a["efct"]))
    f.set("CLM_IDR_LD_DT", date_col(a["efct"] + 1))
    f.set("CLM_ADMSN_TYPE_CD", ("v", a["elective"].astype(np.int32), ADMSN_TYPE))
    f.set("CLM_ADMSN_SRC_CD", ("c", "7"))
    f.set("CLM_BILL_FREQ_CD", ("c", "1"))
    f.set("CLM_QUERY_CD", ("c", "3"))
    f.set("DGNS_PRCDR_ICD_IND", ("c", "0"))
    f.set("CLM_MDCR_INSTNL_TOT_CHRG_AMT", ("m", amount_mat(a["amt"] * 5 // 2, 11)))
    zero11 = ("m", amount_mat(np.zeros(n, np.int64), 11))
    zero18 = ("m", amount_mat(np.zeros(n, np.int64), 18))
    for k in ("CLM_MDCR_IP_PPS_CPTL_IME_AMT", "CLM_MDCR_IP_PPS_DSPRPRTNT_AMT", "CLM_HIPPS_UNCOMPD_CARE_AMT"):
        f.set(k, zero11)
    for k in ("CLM_OPRTNL_IME_AMT", "CLM_OPRTNL_DSPRPRTNT_AMT"):
        f.set(k, zero18)
    f.set("CLM_BLG_PRVDR_OSCAR_NUM", ("v", a["fac"], OSCAR))
    f.set("CLM_BLG_PRVDR_NPI_NUM", ("v", a["fac"], fac_npi))
    f.set("CLM_ATNDG_PRVDR_NPI_NUM", ("v", a["atnd"], wd.NPI))
    f.set("CLM_CNTL_NUM", ("m", digits(a["cntl"], 15)))
    f.set("CLM_CNTRCTR_NUM", ("c", "13101"))
    return f


def cclf4_frame(a: dict, d: dict) -> Frame:
    c = d["claim"]
    n = len(c)
    f = Frame(n)
    f.set("CUR_CLM_UNIQ_ID", ("m", digits(a["cid"][c], 13)))
    f.set("BENE_MBI_ID", ("m", W.MbiCoder.matrix(a["mbi"][c])))
    f.set("CLM_TYPE_CD", ("v", _pa_type_idx(a["ctype"][c]), PA_TYPE))
    f.set("CLM_PROD_TYPE_CD", ("c", "D"))
    f.set("CLM_VAL_SQNC_NUM", ("m", digits(d["seq"], 2)))
    f.set("CLM_DGNS_CD", ("v", d["dx"], W.DX))
    f.set("PRVDR_OSCAR_NUM", ("v", a["fac"][c], OSCAR))
    f.set("CLM_FROM_DT", date_col(a["frm"][c]))
    f.set("CLM_THRU_DT", date_col(a["thru"][c]))
    f.set("CLM_POA_IND", ("c", "Y"))
    f.set("DGNS_PRCDR_ICD_IND", ("c", "0"))
    f.set("CLM_BLG_PRVDR_OSCAR_NUM", ("v", a["fac"][c], OSCAR))
    return f


STUS = Vocab(["10", "11", "20", "21", "31"])
ENTL = Vocab(["0", "1", "2"])
DUAL = Vocab(["00", "01", "02", "03", "04", "05", "06", "08"])
SEX = Vocab(["", "1", "2"])
AS_OF = day("2028-01-01")


def cclf8_frame(d: dict) -> Frame:
    n = len(d["mbi"])
    f = Frame(n)
    f.set("BENE_MBI_ID", ("m", W.MbiCoder.matrix(d["mbi"])))
    f.set("BENE_FIPS_STATE_CD", ("c", "36"))
    f.set("BENE_FIPS_CNTY_CD", ("c", "061"))
    f.set("BENE_ZIP_CD", ("c", "00099"))
    f.set("BENE_DOB", date_col(d["dob"]))
    f.set("BENE_SEX_CD", ("v", d["sex"], SEX))
    f.set("BENE_RACE_CD", ("c", "0"))
    f.set("BENE_AGE", ("m", digits((AS_OF - d["dob"]) * 4 // 1461, 3)))
    f.set("BENE_MDCR_STUS_CD", ("v", d["stus"], STUS))
    f.set("BENE_DUAL_STUS_CD", ("v", d["dual"], DUAL))
    f.set("BENE_DEATH_DT", date_col(np.maximum(d["death"], 0), blank=d["death"] < 0))
    f.set("BENE_RNG_BGN_DT", ("c", "2025-01-01"))
    f.set("BENE_RNG_END_DT", ("c", "2027-12-31"))
    f.set("BENE_1ST_NAME", ("c", "SYNTHNAME"))
    f.set("BENE_MIDL_NAME", ("c", "X"))
    f.set("BENE_LAST_NAME", ("c", "SYNTHLASTNAME"))
    f.set("BENE_ORGNL_ENTLMT_RSN_CD", ("v", d["entl"], ENTL))
    f.set("BENE_ENTLMT_BUYIN_IND", ("c", "3"))
    f.set("BENE_PART_A_ENRLMT_BGN_DT", ("c", "2015-01-01"))
    f.set("BENE_PART_B_ENRLMT_BGN_DT", ("c", "2015-01-01"))
    f.set("BENE_LINE_1_ADR", ("c", "1 SYNTHETIC STREET"))
    f.set("GEO_ZIP_PLC_NAME", ("c", "SYNTHETIC CITY"))
    f.set("GEO_USPS_STATE_CD", ("c", "NY"))
    f.set("GEO_ZIP5_CD", ("c", "00099"))
    return f


def cclf9_frame(x: dict) -> Frame:
    n = len(x["crnt"])
    f = Frame(n)
    f.set("HICN_MBI_XREF_IND", ("c", "M"))
    f.set("CRNT_NUM", ("m", W.MbiCoder.matrix(x["crnt"])))
    f.set("PRVS_NUM", ("m", W.MbiCoder.matrix(x["prvs"])))
    f.set("PRVS_ID_EFCTV_DT", date_col(x["efct"]))
    f.set("PRVS_ID_OBSLT_DT", date_col(x["obslt"]))
    return f


# --------------------------------------------------------------------------------------------- truth
COHORT_NAMES = np.array(["none", "HF", "LBP"])


def _dates(days: np.ndarray) -> pa.Array:
    """Arrow dates; negative days are null."""
    days = np.asarray(days, np.int64)
    return pa.array(days.astype(np.int32), pa.date32(), mask=days < 0)


def patients_truth(t: dict, wd: W.World) -> pa.Table:
    """_truth/patients.parquet rows of one block (from core.Block.truth)."""
    n = len(t["current"])
    mbi = W.MbiCoder.matrix(t["current"])
    ids = pa.StringArray.from_buffers(n, pa.py_buffer(np.arange(0, (n + 1) * 11, 11, dtype=np.int32)),
                                      pa.py_buffer(np.ascontiguousarray(mbi)))
    main = t["main"]
    has_main = main >= 0
    mm = np.maximum(main, 0)
    tin = wd.TIN.arrow.take(pa.array(wd.p_tin[mm]))
    npi = wd.NPI.arrow.take(pa.array(wd.p_npi[mm]))
    pat_names = np.array(PATTERNS + ["none"])
    return pa.table({
        "bene_id": ids,
        "cohort": pa.array(COHORT_NAMES[t["cohort"]]),
        "pattern": pa.array(pat_names[t["pattern"]]),
        "expect_episode": pa.array(t["epi"]),
        "trigger_date": _dates(t["trigger"]),
        "confirming_date": _dates(t["confirm"]),
        "tin_scope_trigger_date": _dates(t["tin_trigger"]),
        "tin_scope_confirming_date": _dates(t["tin_confirm"]),
        "second_trigger_date": _dates(t["second_trigger"]),
        "main_tin": pa.array(np.where(has_main, np.asarray(tin.to_numpy(zero_copy_only=False), object), None),
                             pa.string()),
        "main_npi": pa.array(np.where(has_main, np.asarray(npi.to_numpy(zero_copy_only=False), object), None),
                             pa.string()),
        "planned_main_share": pa.array(t["share"], pa.float64(), from_pandas=True),
        "birth_date": _dates(t["dob"]),
        "death_date": _dates(t["death"]),
        "in_cclf8": pa.array(~t["absent"]),
        "under_18": pa.array(t["under18"]),
        "id_changes": pa.array(t["change"].astype(np.int8)),
        "has_claims": pa.array(t["has_claims"]),
    })
