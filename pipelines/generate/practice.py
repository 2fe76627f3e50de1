"""Practice-level side files: quality submissions, practice attestations, providers.csv, and the
participants truth table (what each participant's files say about it)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import world as W

PERFORMANCE_YEAR = 2027
HF_MEASURES = ["Q008", "Q005", "Q236", "Q377"]
LBP_MEASURES = ["Q134", "Q128", "Q220", "Q238"]
LOWER_IS_BETTER = {"Q238"}
COLLECTION_TYPES = ["mips_cqm", "ecqm", "claims"]


@dataclass
class PracticeFiles:
    """The text of the side files and the participants truth table."""
    providers_csv: str
    quality_csv: str
    attestations_csv: str
    participants: pa.Table


def practice_files(wd: W.World, rng: np.random.Generator) -> PracticeFiles:
    spec = [wd.SPEC.values[s] for s in wd.p_spec]
    cohort = ["HF" if s in W.HF_SPEC else "LBP" if s in W.LBP_SPECS else "none" for s in spec]
    tin_size = np.bincount(wd.p_tin, minlength=len(wd.tins))
    quality_csv, reporting = _quality_submissions(wd, rng, cohort, tin_size)
    attestations_csv, attested = _attestations(wd, rng, tin_size)
    return PracticeFiles(providers_csv=_providers_csv(wd), quality_csv=quality_csv,
                         attestations_csv=attestations_csv,
                         participants=_participants(wd, spec, cohort, tin_size, reporting, attested))


def _quality_submissions(wd: W.World, rng, cohort: list[str], tin_size: np.ndarray) -> tuple[str, list[str]]:
    """quality_submissions.csv, and how each participant reports ("tin", "npi" or "none"). Small
    TINs often report at TIN level (Q2); some TINs and clinicians do not report."""
    reporting = ["none"] * len(wd.p_tin)
    q_lines = ["performance_year,tin,npi,measure_id,collection_type,eligible_population,performance_met,"
               "performance_not_met,denominator_exceptions"]
    for t in range(len(wd.tins)):
        members = np.flatnonzero(wd.p_tin == t)
        coh = sorted({cohort[p] for p in members} - {"none"})
        if not coh:
            continue
        if tin_size[t] <= 15 and rng.random() < .4:  # TIN-level reporting (Q2)
            if rng.random() < .08:
                continue
            ctype = COLLECTION_TYPES[int(rng.integers(0, 3))]
            for c in coh:
                q_lines += _measure_rows(rng, wd.tins[t], "", HF_MEASURES if c == "HF" else LBP_MEASURES, ctype)
            for p in members:
                if cohort[p] != "none":
                    reporting[p] = "tin"
            continue
        for p in members:
            if cohort[p] == "none" or rng.random() < .08:
                continue
            reporting[p] = "npi"
            q_lines += _measure_rows(rng, wd.tins[t], wd.npis[wd.p_npi[p]],
                                     HF_MEASURES if cohort[p] == "HF" else LBP_MEASURES,
                                     COLLECTION_TYPES[int(rng.integers(0, 3))])
    return "\n".join(q_lines) + "\n", reporting


def _measure_rows(rng, tin: str, npi: str, measures: list[str], ctype: str) -> list[str]:
    """One submission line per measure (a few small or low-completeness submissions)."""
    lines = []
    small = rng.random() < .1
    for m in measures:
        elig = int(rng.integers(8, 26)) if small else int(rng.lognormal(4.2, .7)) + 20
        compl = rng.uniform(.4, .74) if rng.random() < .12 else rng.uniform(.76, 1.0)
        reported = int(round(elig * compl))
        exc = int(rng.binomial(reported, .03))
        denom = reported - exc
        rate = rng.beta(2, 6) if m in LOWER_IS_BETTER else rng.beta(6, 2.5)
        met = int(round(denom * rate))
        lines.append(f"{PERFORMANCE_YEAR},{tin},{npi},{m},{ctype},{elig},{met},{denom - met},{exc}")
    return lines


def _attestations(wd: W.World, rng, tin_size: np.ndarray) -> tuple[str, list[bool]]:
    """practice_attestations.csv (a few TINs do not attest; some values are blank), and which TINs
    attested."""
    a_lines = ["performance_year,tin,ia1_done,ia2_done,pi_score,clinician_count"]
    attested = []
    for t in range(len(wd.tins)):
        if rng.random() < .08:
            attested.append(False)
            continue
        attested.append(True)
        ia1 = "Y" if rng.random() < .85 else "N"
        ia2 = "Y" if rng.random() < .85 else "N"
        pi = "" if rng.random() < .1 else str(int(rng.integers(40, 101)))
        cc = "" if rng.random() < .1 else str(int(tin_size[t]))
        a_lines.append(f"{PERFORMANCE_YEAR},{wd.tins[t]},{ia1},{ia2},{pi},{cc}")
    return "\n".join(a_lines) + "\n", attested


def _providers_csv(wd: W.World) -> str:
    order = np.argsort(np.array(wd.npis))
    return "npi,zip5\n" + "".join(f"{wd.npis[i]},{wd.npi_zip[i]}\n" for i in order.tolist())


def _participants(wd: W.World, spec: list[str], cohort: list[str], tin_size: np.ndarray, reporting: list[str],
                  attested: list[bool]) -> pa.Table:
    geo = W.cbsa_of_zip()
    npi_tins = np.bincount(wd.p_npi, minlength=len(wd.npis))
    zips = [wd.ZIP5[z] for z in wd.p_zip]
    return pa.table({
        "tin": [wd.tins[t] for t in wd.p_tin],
        "npi": [wd.npis[i] for i in wd.p_npi],
        "specialty": spec,
        "secondary_specialty": [wd.SPEC.values[s] if s >= 0 else None for s in wd.p_spec2],
        "cohort": cohort,
        "zip5": zips,  # ZIP of this TIN's practice (RIF PRVDR_ZIP on its lines)
        "npi_zip5": [wd.npi_zip[i] for i in wd.p_npi],  # providers.csv ZIP (first TIN's)
        "cbsa_code": [geo[z][0] for z in zips],
        "in_selected_cbsa": [geo[wd.npi_zip[i]][1] for i in wd.p_npi],
        "tin_kind": [wd.tin_kind[t] for t in wd.p_tin],
        "tin_size": [int(tin_size[t]) for t in wd.p_tin],
        "npi_tin_count": [int(npi_tins[i]) for i in wd.p_npi],
        "quality_reporting": reporting,
        "tin_attested": [attested[t] for t in wd.p_tin],
        "volume_weight": wd.p_weight,
    })
