"""Practice-level side files: quality submissions, practice attestations, providers.csv, and the
participants truth table (what each participant's files say about it, and which scoring scenario
it was planted for).

Quality rates per measure and collection type follow CMS's published MIPS percentiles (qpp.py),
only on the collection types the measure has. Scenarios planted here (S6, Q2): practices without
an attestation row or with blank answers, reporters whose only submissions are claims measures or
whose non-claims submissions all miss 75% completeness, TIN-level reporters (practices of 15 or
fewer clinicians) and large practices that also send a TIN-level row (ignored by Q2).

IA/PI attestations (S2, S3, S6) follow one documented assumption [generator DEFAULT], the same for
practices of every size, as exact shares of the world's practices (world.quota): ATTESTATION_SHARES
(80% attest both improvement activities, 12% one, 3% neither (N,N: an attestation, -20), 3% send no
row and 2% a row with blank IA answers: those two fail S6) and PI_SHARES (80% report a PI score of
70-100, 12% one of 40-69, 8% none: -10). Why: in MIPS most reporting practices earn the full
improvement-activities credit and a high PI score, and missing IA/PI is the exception; a world where
most practices miss them puts the median final score near 40 and bunches the pools at the +r cap.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import qpp
from . import world as W
from .reference import MULTI_CBSA_ZIPS, cbsa_of_zip

PERFORMANCE_YEAR = 2027
HF_MEASURES = ["Q008", "Q005", "Q236", "Q377"]
LBP_MEASURES = ["Q134", "Q128", "Q220", "Q238"]
COHORT_MEASURES = {"HF": HF_MEASURES, "LBP": LBP_MEASURES}
COLLECTION_TYPES = ["ecqm", "mips_cqm", "claims"]  # a reporter's main collection type, with its share:
COLLECTION_TYPE_P = [.45, .40, .15]
FALLBACK_TYPES = ["mips_cqm", "ecqm"]  # for a measure the main type does not have
CLAIMS_ONLY_SHARE = .2  # claims reporters sending only the measures that have claims (S6 fails)
LOW_COMPLETENESS_SHARE = .02  # reporters whose non-claims rows all miss 75% completeness (S6 fails)
NOT_REPORTING_SHARE = .02
TIN_LEVEL_SHARE = .4  # practices of <= 15 clinicians reporting at TIN level (Q2)
LARGE_TIN_LEVEL_ROWS = 2  # large practices (the smallest ones) also sending a TIN-level row (ignored: Q2)
ELIGIBLE_MEDIAN = {"ecqm": 160, "mips_cqm": 90, "claims": 60}  # eligible population by collection type
SMALL_SUBMISSION_SHARE = .10  # fewer than 20 cases (Q4)
LOW_COMPLETENESS_ROW_SHARE = .12  # completeness below 75% (Q3)
# IA/PI attestations [generator DEFAULT] (module doc: why): shares of practices, every size alike.
# S2: both IAs done (Y,Y: 0), one (Y,N or N,Y: -10), neither (N,N: -20); no row, or blank IA answers: S6 fails.
ATTESTATION_SHARES = {"both": .80, "one": .12, "neither": .03, "no_row": .03, "blank": .02}
# S3: PI score uniform in [lo, hi] (-(100 - score) / 10), or not reported (blank: -10)
PI_SHARES = {(70, 100): .80, (40, 69): .12, None: .08}


@dataclass
class PracticeFiles:
    """The text of the side files and the participants truth table."""
    providers_csv: str
    quality_csv: str
    attestations_csv: str
    participants: pa.Table


@dataclass
class Reporters:
    """Who submits quality rows: one entry per reporting participant or TIN-level reporter."""
    tin: np.ndarray  # index into wd.tins
    npi: np.ndarray  # index into wd.NPI (len(wd.npis) = blank: TIN level)
    cohort: np.ndarray  # "HF" / "LBP"
    ctype: np.ndarray  # main collection type
    claims_only: np.ndarray
    low_completeness: np.ndarray


def practice_files(wd: W.World, rng: np.random.Generator) -> PracticeFiles:
    spec = [wd.SPEC.values[s] for s in wd.p_spec]
    cohort = np.array(["HF" if s in W.HF_SPEC else "LBP" if s in W.LBP_SPECS else "none" for s in spec])
    reporters, reporting, tin_row_ignored = _reporters(wd, rng, cohort)
    quality_csv = _quality_csv(wd, rng, reporters)
    attestations_csv, attestation = _attestations(wd, rng, cohort)
    truth = _participants(wd, spec, cohort, reporting, reporters, attestation, tin_row_ignored)
    return PracticeFiles(providers_csv=_providers_csv(wd), quality_csv=quality_csv,
                         attestations_csv=attestations_csv, participants=truth)


# ------------------------------------------------------------------------------------------ quality
def _reporters(wd: W.World, rng, cohort: np.ndarray) -> tuple[Reporters, np.ndarray, np.ndarray]:
    """Reporting entities, each participant's reporting ("npi", "tin" or "none") and the practices
    whose TIN-level row Q2 ignores (more than 15 clinicians)."""
    n_tin = len(wd.tins)
    blank = len(wd.npis)
    small = wd.tin_size <= 15
    tin_level = small & (rng.random(n_tin) < TIN_LEVEL_SHARE)
    skip_tin = rng.random(n_tin) < NOT_REPORTING_SHARE
    skip_p = rng.random(len(wd.p_tin)) < NOT_REPORTING_SHARE
    in_cohort = cohort != "none"
    by_npi = in_cohort & ~tin_level[wd.p_tin] & ~skip_p
    by_tin = in_cohort & tin_level[wd.p_tin] & ~skip_tin[wd.p_tin]
    reporting = np.select([by_npi, by_tin], ["npi", "tin"], "none")
    tin_rows = sorted({(int(t), str(c)) for t, c in zip(wd.p_tin[by_tin], cohort[by_tin])})
    large = [t for t in rng.permutation(n_tin).tolist() if not small[t] and in_cohort[wd.p_tin == t].any()]
    ignored = sorted(large, key=lambda t: wd.tin_size[t])[:LARGE_TIN_LEVEL_ROWS]  # the smallest large groups
    tin_rows += [(t, str(cohort[(wd.p_tin == t) & in_cohort][0])) for t in ignored]
    p = np.flatnonzero(by_npi)
    tin = np.r_[wd.p_tin[p], np.array([t for t, _ in tin_rows], np.int64)]
    n = len(tin)
    ctype = np.array(COLLECTION_TYPES)[rng.choice(3, n, p=COLLECTION_TYPE_P)]
    reporters = Reporters(
        tin=tin, npi=np.r_[wd.p_npi[p], np.full(len(tin_rows), blank)],
        cohort=np.r_[cohort[p], np.array([c for _, c in tin_rows], dtype=cohort.dtype)], ctype=ctype,
        claims_only=(ctype == "claims") & (rng.random(n) < CLAIMS_ONLY_SHARE),
        low_completeness=rng.random(n) < LOW_COMPLETENESS_SHARE)
    ignored_mask = np.isin(np.arange(n_tin), ignored)
    return reporters, reporting, ignored_mask


def _submission_plan(r: Reporters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per reporter and measure it submits: (reporter, measure, collection type). A measure
    without the reporter's main type goes by the first fallback type it has (claims-only reporters
    skip it); Q492 is computed from Part A, never submitted."""
    types = qpp.collection_types()
    rows, measures, ctypes = [], [], []
    for c, ms in COHORT_MEASURES.items():
        for m in ms:
            for main in COLLECTION_TYPES:
                who = np.flatnonzero((r.cohort == c) & (r.ctype == main))
                if main in types[m]:
                    use = main
                else:
                    who = who[~r.claims_only[who]]
                    use = next(t for t in FALLBACK_TYPES if t in types[m])
                rows.append(who)
                measures += [m] * len(who)
                ctypes += [use] * len(who)
    row = np.concatenate(rows)
    order = np.lexsort((row,))  # by reporter, then in measure order
    return row[order], np.array(measures)[order], np.array(ctypes)[order]


def _quality_csv(wd: W.World, rng, r: Reporters) -> str:
    """quality_submissions.csv: counts whose rate is drawn from CMS's percentiles of the measure and
    collection type (qpp.RateDistribution.draw); a few small or low-completeness rows."""
    row, measure, ctype = _submission_plan(r)
    n = len(row)
    dists = qpp.rate_distributions(PERFORMANCE_YEAR)
    rate = np.zeros(n)
    u = rng.random(n)
    for key in sorted(set(zip(measure.tolist(), ctype.tolist()))):
        m = (measure == key[0]) & (ctype == key[1])
        rate[m] = dists[key].draw(u[m])
    median = np.array([ELIGIBLE_MEDIAN[c] for c in ctype.tolist()], float)
    small = rng.random(n) < SMALL_SUBMISSION_SHARE
    elig = np.where(small, rng.integers(8, 26, n), np.floor(rng.lognormal(np.log(median), .6)).astype(np.int64) + 20)
    low = (rng.random(n) < LOW_COMPLETENESS_ROW_SHARE) | (r.low_completeness[row] & (ctype != "claims"))
    compl = np.where(low, rng.uniform(.4, .74, n), rng.uniform(.76, 1.0, n))
    reported = np.round(elig * compl).astype(np.int64)
    exc = rng.binomial(reported, .03)
    denom = reported - exc
    met = np.round(denom * rate).astype(np.int64)
    tins = np.array(wd.tins)[r.tin[row]]
    npis = np.array(wd.NPI.values)[r.npi[row]]
    lines = [f"{PERFORMANCE_YEAR},{t},{p},{m},{c},{e},{a},{d - a},{x}" for t, p, m, c, e, a, d, x in zip(
        tins.tolist(), npis.tolist(), measure.tolist(), ctype.tolist(), elig.tolist(), met.tolist(), denom.tolist(),
        exc.tolist())]
    header = ("performance_year,tin,npi,measure_id,collection_type,eligible_population,performance_met,"
              "performance_not_met,denominator_exceptions")
    return "\n".join([header] + lines) + "\n"


# ------------------------------------------------------------------------------------------ attestations
def _attestations(wd: W.World, rng, cohort: np.ndarray) -> tuple[str, np.ndarray]:
    """practice_attestations.csv and each TIN's attestation: "row", "none" (no row) or "blank" (IA
    answers blank), in ATTESTATION_SHARES and PI_SHARES. Among practices of <= 15 clinicians with
    specialists of planned volume in a selected CBSA, at least one of each S6 failure is planted."""
    n_tin = len(wd.tins)
    small = wd.tin_size <= 15
    kind = np.array(list(ATTESTATION_SHARES))[W.quota(rng, list(ATTESTATION_SHARES.values()), n_tin)]
    geo = cbsa_of_zip()
    selected = np.array([bool(geo[z][1]) for z in wd.ZIP5])[wd.p_zip]
    scorable = (cohort != "none") & ~wd.p_low_volume & selected
    in_pool = small & (np.bincount(wd.p_tin, weights=scorable, minlength=n_tin) > 0)
    cand = [t for t in rng.permutation(n_tin).tolist() if in_pool[t] and kind[t] == "both"]
    for t, s in zip(cand, ["no_row", "blank"]):
        if not (kind[in_pool] == s).any():
            kind[t] = s
    state = np.select([kind == "no_row", kind == "blank"], ["none", "blank"], "row")
    first_done = rng.random(n_tin) < .5  # which one of the two a practice attesting one did
    ia1 = np.select([kind == "both", kind == "one", kind == "neither"], ["Y", np.where(first_done, "Y", "N"), "N"], "")
    ia2 = np.select([kind == "both", kind == "one", kind == "neither"], ["Y", np.where(first_done, "N", "Y"), "N"], "")
    band = W.quota(rng, list(PI_SHARES.values()), n_tin)
    pi = np.full(n_tin, "", dtype=object)
    for b, bounds in enumerate(PI_SHARES):
        m = band == b
        if bounds is not None:
            pi[m] = rng.integers(bounds[0], bounds[1] + 1, int(m.sum())).astype(str)
    cc = np.where(rng.random(n_tin) < .1, "", wd.tin_size.astype(str))
    lines = ["performance_year,tin,ia1_done,ia2_done,pi_score,clinician_count"]
    for t in np.flatnonzero(state != "none").tolist():
        lines.append(f"{PERFORMANCE_YEAR},{wd.tins[t]},{ia1[t]},{ia2[t]},{pi[t]},{cc[t]}")
    return "\n".join(lines) + "\n", state


# ------------------------------------------------------------------------------------------ truth
def _providers_csv(wd: W.World) -> str:
    order = np.argsort(np.array(wd.npis))
    return "npi,zip5\n" + "".join(f"{wd.npis[i]},{wd.npi_zip[i]}\n" for i in order.tolist())


def _s6_failure(wd: W.World, cohort, reporting, r: Reporters, attestation) -> list[str]:
    """The planted S6 failure of each participant ('' when none planted): no attestation row,
    blank IA answers, or only claims / low-completeness submissions."""
    weak = r.claims_only | r.low_completeness
    weak_npi = {(int(t), int(p)) for t, p, w in zip(r.tin, r.npi, weak) if w}
    weak_tin = {int(t) for t, p, w in zip(r.tin, r.npi, weak) if w and p == len(wd.npis)}
    out = []
    for p in range(len(wd.p_tin)):
        t = int(wd.p_tin[p])
        if cohort[p] == "none":
            out.append("")
        elif attestation[t] != "row":
            out.append("no_attestation" if attestation[t] == "none" else "blank_ia_answers")
        elif reporting[p] == "none" or (reporting[p] == "npi" and (t, int(wd.p_npi[p])) in weak_npi) \
                or (reporting[p] == "tin" and t in weak_tin):
            out.append("no_non_claims_measure_meeting_q3")
        else:
            out.append("")
    return out


def _participants(wd: W.World, spec: list[str], cohort: np.ndarray, reporting: np.ndarray, r: Reporters,
                  attestation: np.ndarray, tin_row_ignored: np.ndarray) -> pa.Table:
    geo = cbsa_of_zip()
    npi_tins = np.bincount(wd.p_npi, minlength=len(wd.npis))
    zips = [wd.ZIP5[z] for z in wd.p_zip]
    npi_zip = [wd.npi_zip[i] for i in wd.p_npi]
    tie = {t.participant: t for t in wd.ties}
    return pa.table({
        "tin": [wd.tins[t] for t in wd.p_tin],
        "npi": [wd.npis[i] for i in wd.p_npi],
        "specialty": spec,
        "secondary_specialty": [wd.SPEC.values[s] if s >= 0 else None for s in wd.p_spec2],
        "cohort": cohort.tolist(),
        "zip5": zips,  # ZIP of this TIN's practice (RIF PRVDR_ZIP on its lines)
        "npi_zip5": npi_zip,  # providers.csv ZIP (first TIN's)
        "multi_cbsa_zip": [z in MULTI_CBSA_ZIPS for z in npi_zip],
        "cbsa_code": [geo[z][0] for z in npi_zip],  # G3: the CBSA with the largest residential share
        "in_selected_cbsa": [geo[z][1] for z in npi_zip],
        "location_status": [geo[z][2] for z in npi_zip],
        "tin_kind": [wd.tin_kind[t] for t in wd.p_tin],
        "tin_size": wd.tin_size[wd.p_tin].tolist(),
        "npi_tin_count": npi_tins[wd.p_npi].tolist(),
        "planned_volume": wd.p_volume.tolist(),
        "planned_below_case_minimum": wd.p_low_volume.tolist(),
        "new_clinician": wd.p_new.tolist(),  # no Part B lines before 2026: G1 falls back to the PY
        "g1_tie": [tie[p].rule if p in tie else None for p in range(len(wd.p_tin))],
        "g1_expected_specialty": [tie[p].expected if p in tie else None for p in range(len(wd.p_tin))],
        "quality_reporting": reporting.tolist(),
        "tin_level_row_ignored": tin_row_ignored[wd.p_tin].tolist(),  # Q2: > 15 clinicians
        "tin_attestation": attestation[wd.p_tin].tolist(),  # row / none / blank
        "s6_failure": _s6_failure(wd, cohort, reporting, r, attestation),
        "volume_weight": wd.p_weight.tolist(),
    })


def scenario_counts(participants: pa.Table) -> dict:
    """What the world holds for the scoring scenarios (manifest.json "scenarios"): practices by
    size class, specialists by planted location, G1 cases, reporting, S6 failures."""
    col = {c: np.asarray(participants.column(c).to_numpy(zero_copy_only=False)) for c in participants.column_names}
    spec = col["cohort"] != "none"
    _, first = np.unique(col["tin"], return_index=True)
    size = col["tin_size"][first]

    def n(mask) -> int:
        return int(np.sum(mask))

    return dict(
        practices=dict(solo=n(size == 1), small_2_15=n((size > 1) & (size <= 15)), large_over_15=n(size > 15)),
        specialists=n(spec),
        specialists_by_location={s: n(spec & (col["location_status"] == s))
                                 for s in ("selected_cbsa", "not_selected_cbsa", "unknown_cbsa")},
        specialists_in_multi_cbsa_zips=n(spec & col["multi_cbsa_zip"]),
        specialists_planned_below_case_minimum=n(spec & col["planned_below_case_minimum"]),
        new_clinicians_g1_fallback=n(col["new_clinician"] & np.array([t is None for t in col["g1_tie"]])),
        g1_ties={rule: n(col["g1_tie"] == rule) for rule in ("allowed", "code")},
        tin_level_reporting_practices=len(set(col["tin"][col["quality_reporting"] == "tin"].tolist())),
        ignored_tin_level_rows=len(set(col["tin"][col["tin_level_row_ignored"]].tolist())),
        s6_failures={s: n(col["s6_failure"] == s) for s in
                     ("no_attestation", "blank_ia_answers", "no_non_claims_measure_meeting_q3")},
    )
