"""Small, fixed (seed-independent) synthetic geography committed under data/reference/synthetic/.

ZIPs 00010-00056 are not assigned by USPS; CBSA codes 900x0 do not exist; every title says SYNTHETIC.
zip_cbsa.csv has HUD's `res_ratio` column (the share of the ZIP's residential addresses in the
CBSA): most ZIPs lie in one CBSA (1.0); MULTI_CBSA_ZIPS straddle two, and for some of them the CBSA
with the larger share is not the lower code, so "largest share" and "first row" disagree (G3).
PRACTICE_ZIPS also holds UNMAPPED_ZIP, a practice ZIP missing from zip_cbsa.csv (location unknown).
"""
from __future__ import annotations

from pathlib import Path

from pipelines.engine.warehouse import write_text

from .render import REPO

SYNTH_DIR = REPO / "data" / "reference" / "synthetic"
CBSAS = [(f"900{i + 1}0", f"SYNTHETIC Metro {chr(65 + i)}") for i in range(8)]
CBSA_TITLE = dict(CBSAS)
SELECTED = {"90010", "90020", "90030", "90050", "90070"}
# 5 ZIPs per CBSA
SINGLE_CBSA_ZIPS = [(f"{10 + i:05d}", CBSAS[i // 5][0]) for i in range(40)]
# ZIP -> [(CBSA, res_ratio), ...], the larger share first
MULTI_CBSA_ZIPS = {
    "00050": [("90010", 0.64), ("90040", 0.36)],  # selected by share and by code
    "00051": [("90040", 0.71), ("90010", 0.29)],  # share: not selected; lower code: selected
    "00052": [("90020", 0.55), ("90030", 0.45)],  # both selected
    "00053": [("90060", 0.58), ("90070", 0.42)],  # share and lower code: not selected
    "00054": [("90080", 0.52), ("90050", 0.48)],  # share: not selected; lower code: selected
    "00055": [("90030", 0.90), ("90060", 0.10)],
}
UNMAPPED_ZIP = "00056"
PRACTICE_ZIPS = [z for z, _ in SINGLE_CBSA_ZIPS] + list(MULTI_CBSA_ZIPS) + [UNMAPPED_ZIP]


def zip_cbsa_rows() -> list[tuple[str, str, str, float]]:
    """(zip5, cbsa_code, cbsa_title, res_ratio) rows, by ZIP then CBSA code (HUD's order)."""
    rows = [(z, c, CBSA_TITLE[c], 1.0) for z, c in SINGLE_CBSA_ZIPS]
    rows += [(z, c, CBSA_TITLE[c], r) for z, parts in MULTI_CBSA_ZIPS.items() for c, r in sorted(parts)]
    return sorted(rows)


def cbsa_of_zip() -> dict[str, tuple[str | None, bool | None, str]]:
    """ZIP -> (CBSA with the largest residential share, in a selected CBSA, G3 location status);
    (None, None, 'unknown_cbsa') for a ZIP missing from zip_cbsa.csv."""
    out: dict[str, tuple[str | None, bool | None, str]] = {}
    for z, c in SINGLE_CBSA_ZIPS + [(z, parts[0][0]) for z, parts in MULTI_CBSA_ZIPS.items()]:
        out[z] = (c, c in SELECTED, "selected_cbsa" if c in SELECTED else "not_selected_cbsa")
    out[UNMAPPED_ZIP] = (None, None, "unknown_cbsa")
    return out


def zip_cbsa_text() -> str:
    return "zip5,cbsa_code,cbsa_title,res_ratio\n" + "".join(f"{z},{c},{t},{r:.2f}\n" for z, c, t, r in zip_cbsa_rows())


def selected_text() -> str:
    return "cbsa_code,cbsa_title\n" + "".join(f"{c},{t}\n" for c, t in CBSAS if c in SELECTED)


def copy_reference_files(out_dir: Path) -> list[str]:
    """Write the fixed geography into the generated input folder (never into the repository; the
    committed copies under data/reference/synthetic/ are checked equal to this text by a test)."""
    names = []
    for name, text in (("zip_cbsa.csv", zip_cbsa_text()), ("asm_selected_cbsas.csv", selected_text())):
        write_text(Path(out_dir) / name, text)
        names.append(name)
    return names
