"""Input discovery (data-contracts "The input folder"): files are recognised by name here, then
checked by content by their reader (`pipelines.engine.ingest.readers`). A file that is not what its name
says fails with `InputFileError`: one line naming the file and what was expected.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

CCLF_KINDS = {"1": "cclf1", "4": "cclf4", "5": "cclf5", "8": "cclf8", "9": "cclf9"}
SIDE_FILES = {
    "quality_submissions.csv": "quality_submissions",
    "practice_attestations.csv": "practice_attestations",
    "providers.csv": "providers",
    "zip_cbsa.csv": "zip_cbsa",
    "asm_selected_cbsas.csv": "asm_selected_cbsas",
    "standardization_factors.csv": "standardization_factors",
}
_CCLF_NAME = re.compile(r"ZC([0-9AB])[A-Z]?\d{2}", re.IGNORECASE)
_DELIVERY = re.compile(r"\.D(\d{2})(\d{2})(\d{2})(?:\.|$)")
_RIF_NAME = re.compile(r"^carrier.*\.(csv|txt)$", re.IGNORECASE)


class InputFileError(Exception):
    """A whole file cannot be read as what its name says. str() is the one-line user message."""

    def __init__(self, path: Path | str, problem: str):
        self.file = Path(path).name
        self.problem = problem
        super().__init__(f"{self.file}: {problem}")



@dataclass(frozen=True)
class InputFile:
    file_id: int
    path: Path
    kind: str  # cclf1/4/5/8/9, rif_carrier, a side-file kind, or "ignored"
    fmt: str  # fixed, csv, parquet, pipe, side, ignored
    delivery_date: date | None
    note: str = ""  # why an ignored entry is ignored

    @property
    def name(self) -> str:
        return self.path.name


def delivery_date_from_name(name: str) -> date | None:
    """CMS file names carry the delivery date as .Dyymmdd. (used by N2: newest file wins)."""
    m = _DELIVERY.search(name)
    if not m:
        return None
    yy, mm, dd = (int(g) for g in m.groups())
    try:
        return date(2000 + yy, mm, dd)
    except ValueError:
        return None


def classify(path: Path) -> tuple[str, str, str]:
    """(kind, format, note) of a file by its name (data-contracts "The input folder")."""
    name = path.name
    lower = name.lower()
    if lower in SIDE_FILES:
        return SIDE_FILES[lower], "side", ""
    if _RIF_NAME.match(name):
        return "rif_carrier", "pipe", ""
    m = _CCLF_NAME.search(name)
    if m and m.group(1) in CCLF_KINDS:
        kind = CCLF_KINDS[m.group(1)]
        if lower.endswith(".csv"):
            return kind, "csv", ""
        if lower.endswith(".parquet"):
            return kind, "parquet", ""
        if lower.endswith((".zip", ".gz", ".json", ".xlsx")):
            return "ignored", "ignored", "compressed or not a CCLF layout: unpack it into the input folder"
        return kind, "fixed", ""
    return "ignored", "ignored", "not an input file name"


def _entry(path: Path) -> tuple[str, str, str]:
    """(kind, format, note) of one entry of the input folder. Nothing vanishes: sub-folders, hidden
    files and broken or looping symbolic links are listed as ignored with the reason."""
    name = path.name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InputFileError(repr(os.fsencode(path.name))[1:], "the file name is not valid UTF-8; rename it "
                             "(CMS file names are ASCII)") from None
    if name.startswith("."):
        return "ignored", "ignored", "hidden file"
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return "ignored", "ignored", "broken or looping symbolic link"
        if not target.is_file():
            return "ignored", "ignored", "symbolic link to a folder: files in sub-folders are not read"
    elif path.is_dir():
        return "ignored", "ignored", "folder: files in sub-folders are not read"
    elif not path.is_file():
        return "ignored", "ignored", "not a regular file"
    return classify(path)


def discover(input_dir: Path) -> list[InputFile]:
    """Every entry of the input folder, in name order: files by kind, everything else ignored (with
    the reason) so that nothing in the folder vanishes unmentioned."""
    if not input_dir.is_dir():
        raise InputFileError(input_dir, "input folder not found")
    files = []
    for i, path in enumerate(sorted(input_dir.iterdir(), key=lambda p: os.fsencode(p.name)), start=1):
        kind, fmt, note = _entry(path)
        files.append(InputFile(i, path, kind, fmt, delivery_date_from_name(path.name), note))
    return files
