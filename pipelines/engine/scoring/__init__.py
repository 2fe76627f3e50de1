"""ASM scoring formulas as pure Polars functions, one home per rule (R1-R5, B1-B4, Q1-Q7, S1-S7,
P1-P4, G1-G4 of ../shared/spec/asm-methodology.md).

Every function takes its parameters explicitly; `params.py` reads them from the methodology
configuration (data/methodology/methodology.toml), so no rule number is hard-coded here.
Nothing in this package logs, and no participant-level output carries a beneficiary id.
Floating-point sums and means sort their values first (`.sort().sum()`): Polars' parallel group-by
adds in an order that varies from run to run, and sorted addends give the same bits every time
(issue 11: reruns are byte-identical).
"""

# Every file the scoring stages run (their code version and code references), besides the shared
# engine files. The HCC library's version is part of episode_risk's code version (assets/scoring.py).
SOURCES = ("pipelines/engine/scoring", "pipelines/engine/reference.py", "sql/60_scoring", "data/reference/code_lists")
