"""Small, fixed (seed-independent) synthetic geography committed under data/reference/synthetic/.

ZIPs 00010-00049 are not assigned by USPS; CBSA codes 900x0 do not exist; every title says SYNTHETIC.
"""
from __future__ import annotations

from pathlib import Path

from pipelines.warehouse import write_text

from .render import REPO

SYNTH_DIR = REPO / "data" / "reference" / "synthetic"
CBSAS = [(f"900{i + 1}0", f"SYNTHETIC Metro {chr(65 + i)}") for i in range(8)]
SELECTED = {"90010", "90020", "90030", "90050", "90070"}
# 5 ZIPs per CBSA
ZIPS = [(f"{10 + i:05d}", CBSAS[i // 5][0], CBSAS[i // 5][1]) for i in range(40)]


def zip_cbsa_text() -> str:
    return "zip5,cbsa_code,cbsa_title\n" + "".join(f"{z},{c},{t}\n" for z, c, t in ZIPS)


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
