"""The reports' own explanation pages, at the reports root: how-it-works.html (how a score and its dollars
are computed, for a practice manager, with the settings of the run's methodology) and glossary.html (the
words the pages use, and CMS's measure titles). The text is the project's; the figures come from the
methodology in force, so the page says what this run did."""
from __future__ import annotations

from pathlib import Path

import jinja2

from pipelines.engine.methodology import Methodology
from pipelines.engine.reports import words

GLOSSARY = [
    ("ASM", "CMS's Ambulatory Specialty Model: from 2027, heart-failure and low-back-pain specialists in selected areas are "
            "paid more or less for their Medicare Part B services according to a score relative to their peers."),
    ("Performance year", "The year whose claims are measured. It is scored the next year and paid the year after."),
    ("Cohort", "HF (heart failure) or LBP (low back pain): the condition a clinician's episodes are about."),
    ("Episode", "A year of a patient's care for the condition, starting at a diagnosing visit confirmed by a second one."),
    ("Open episode", "An episode still running on the data's last date: shown with its cost so far, not yet counted."),
    ("Attributed", "An episode counts for every clinician who billed at least the attribution share of its services."),
    ("Observed cost", "What Medicare allowed for the episode's services."),
    ("Expected cost", "What the episode would cost given the patient's risk (age, conditions, Medicaid eligibility), "
                      "from a model fitted on the cohort's episodes."),
    ("Observed ÷ expected", "An episode's observed cost divided by its expected cost: above 1 costs more than its risk predicts."),
    ("Excess cost", "Observed minus expected cost: what bringing the episode to its expected cost would save."),
    ("Cost measure score", "The clinician's observed cost over expected cost, times the cohort's mean cost, in dollars. Lower is better."),
    ("Cost points", "1 to 10 points from where the cost measure score sits among the peers: the median earns 6."),
    ("Quality points", "1 to 10 points per measure from the decile of the benchmark its rate reaches; 0 when too few "
                       "cases or too little of the eligible population is reported."),
    ("Decile", "One tenth of the benchmark's range of rates; a higher decile earns more points."),
    ("Improvement activities (IA)", "Activities the practice attests; not attesting them lowers the final score."),
    ("Promoting Interoperability (PI)", "The practice's interoperability score; it adds points to the final score."),
    ("Minimum submission", "The improvement-activities attestation and at least one quality measure reported outside "
                           "claims with enough completeness. A clinician who misses it scores 0."),
    ("Final score", "0 to 100: half quality, half cost, then the IA and PI adjustments and bonuses."),
    ("Payment adjustment", "The percentage added to or taken from the clinician's Part B payments two years later."),
    ("Break-even score", "The final score above which the payment adjustment is positive in this run."),
    ("Dollars", "The payment adjustment times the year's Medicare Part B paid."),
    ("Dollars at risk", "What the estimate a scorecard shows first says the practice or clinician loses (0 when it gains)."),
    ("Peer-pool estimate", "The score and dollars with benchmarks computed from this run's participants."),
    ("CMS-benchmark estimate", "The score and dollars with the benchmarks CMS last published for the same measures."),
    ("Range", "The interval an estimate falls in with the stated probability, from resampling episodes, measures and peers."),
    ("Gains / loses / not yet known", "Whether the estimate's whole range is above zero, below zero, or spans both."),
    ("On track", "Fewer episodes than the minimum so far, but enough once the open episodes expected to close are counted."),
    ("Peer pool", "The participants of this run with enough episodes: the peers the peer-pool estimate ranks against."),
    ("eCQM", "A quality measure reported electronically from the practice's EHR."),
    ("MIPS CQM", "A quality measure reported through a registry."),
    ("TIN / NPI", "The practice's taxpayer identification number / the clinician's national provider identifier."),
]
# topics of the rule ids the pages mark (<sup class="rule">), for auditors
RULE_INDEX = [
    ("G1-G4", "Who is in ASM: specialty, cohort, selected area, episode volume"),
    ("E1-E6", "Episodes: trigger, confirmation, window, open episodes, lines"),
    ("A1-A3", "Attribution of episodes to clinicians and practices"),
    ("C1-C4", "Episode cost, service categories, cost drivers, capping"),
    ("R1-R5", "Risk adjustment, expected cost, cost measure score, case minimum"),
    ("B1-B4", "Cost benchmarks and cost points; small peer pools"),
    ("Q1-Q7", "Quality measures: completeness, cases, deciles, Part A admissions"),
    ("S1-S7", "Final score: weights, improvement activities, interoperability, bonuses, minimum submission"),
    ("P1-P4", "Payment adjustment, break-even score, dollars"),
    ("V1-V5", "Projection: CMS-benchmark estimate, ranges, which estimate is shown first, in-year projection"),
    ("N1-N6", "Claims netting and standardized cost"),
]


def write_guide(env: jinja2.Environment, m: Methodology, common: dict, out_dir: Path) -> None:
    """how-it-works.html and glossary.html into the reports root."""
    g = m.get
    figures = dict(
        confirm=g("episodes.confirming_window_days"), episode_days=g("episodes.episode_days"),
        threshold=g("attribution.threshold"), winsor=g("costs.winsor_percentile"),
        case_minimum=g("benchmarks.case_minimum"), small_pool=g("benchmarks.small_pool_participants"),
        completeness=g("quality.min_data_completeness"), min_cases=g("quality.min_cases"),
        measures={c: [words.measure_label(x) for x in g(f"quality.required_measures.{c}")] for c in ("HF", "LBP")},
        ia_one=g("scoring.ia_adjustment_one"), ia_none=g("scoring.ia_adjustment_none"), pi_divisor=g("scoring.pi_divisor"),
        pi_missing=g("scoring.pi_not_reported"), complex_cap=g("scoring.complex_bonus_cap"),
        risk=g("payment.risk_level"), payback=g("payment.payback_share"),
        level=g("projection.interval_level"), draws=g("projection.bootstrap_draws"), rule_index=RULE_INDEX)
    (out_dir / "how-it-works.html").write_text(env.get_template("how-it-works.html.j2").render(
        title="How the ASM reports are computed", **figures, **common), encoding="utf-8")
    measures = sorted({x for c in ("HF", "LBP") for x in g(f"quality.required_measures.{c}")})
    (out_dir / "glossary.html").write_text(env.get_template("glossary.html.j2").render(
        title="ASM reports: glossary", terms=GLOSSARY,
        measures=[(words.measure_label(x), words.measure_title(x, short=False)) for x in measures], **common),
        encoding="utf-8")
