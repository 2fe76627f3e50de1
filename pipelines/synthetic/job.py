"""What one generate() call writes where: the block plan, the fixed world and the output files."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import core
from . import world as W
from .render import Layout, Vocab, open_sink

LINES_PER_PATIENT = 14.5  # calibrated: Part B rows written per generated patient
BLOCK_LINES = 1_000_000  # Part B rows per streamed block (fixed, so output does not depend on memory)
PATIENTS_PER_PRACTICE = 250  # the world grows with the scale: one practice (TIN) per so many patients
MIN_PRACTICES = 30


def ymd(d: int) -> str:
    return str(np.datetime64(int(d), "D"))


def cclf_file_name(code: str, delivery_day: int, aco: str = "A9999") -> str:
    s = ymd(delivery_day).replace("-", "")[2:]
    return f"P.{aco}.ACO.{code}Y{s[:2]}.D{s}.T1200000"


def _ext(fmt: str) -> str:
    return {"fixed": "", "csv": ".csv", "parquet": ".parquet"}[fmt]


@dataclass(frozen=True)
class Plan:
    """How many patients the run generates and how they are cut into blocks."""
    target: int  # Part B lines asked for
    patients: int
    blocks: int
    per_block: int  # patients per block (the last blocks may have fewer, or none)

    @classmethod
    def for_target(cls, target: int) -> Plan:
        patients = max(300, int(round(target / LINES_PER_PATIENT)))
        blocks = max(1, math.ceil(target / BLOCK_LINES))
        return cls(target, patients, blocks, math.ceil(patients / blocks))

    @property
    def practices(self) -> int:
        """Practices (TINs) of the world: specialists keep a realistic episode volume at any scale."""
        return max(MIN_PRACTICES, int(round(self.patients / PATIENTS_PER_PRACTICE)))

    def block_patients(self, bi: int) -> int:
        return min(self.per_block, self.patients - bi * self.per_block)


@dataclass(frozen=True)
class Job:
    """One generate() call: what to write where, and the fixed part of the world."""
    out: Path
    fmt: str
    seed: int
    scale: str | int
    plan: Plan
    world: W.World
    fac_npi: Vocab  # NPIs of the Part A facilities
    layouts: dict[str, Layout]  # CCLF layouts by file code (ZC5, ZC1, ZC4, ZC8, ZC9)
    rif_cols: list[str]
    say: Callable[[str], None]

    @property
    def truth_dir(self) -> Path:
        return self.out / "_truth"

    @property
    def aux_fmt(self) -> str:
        """Format of the Part A, CCLF8 and CCLF9 files: that of Part B, fixed-width beside RIF."""
        return self.fmt if self.fmt != "rif" else "fixed"

    def cclf_sink(self, code: str, delivery_day: int):
        """open_sink for the CCLF file `code` (ZC5, ZC1, ...) delivered on delivery_day."""
        fmt = self.fmt if code == "ZC5" else self.aux_fmt
        layout = self.layouts[code]
        return open_sink(self.out / (cclf_file_name(code, delivery_day) + _ext(fmt)), fmt,
                         names=list(layout.fields), layout=layout)

    def partb_sink(self, f: int):
        """open_sink for the Part B file of delivery month f (CCLF5, or a RIF carrier file)."""
        if self.fmt != "rif":
            return self.cclf_sink("ZC5", core.DELIVERY[f])
        ms = ymd(core.MONTH_START[f])
        return open_sink(self.out / f"carrier_{ms[:4]}_{ms[5:7]}.txt", "rif", names=self.rif_cols, delimiter="|")
