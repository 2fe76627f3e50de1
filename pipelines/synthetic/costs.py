"""Episode cost calibration: what an HF or LBP episode holds, so that the cohort mean observed cost
(C1/C2, as the engine measures it) lands near CMS's national average of the MIPS episode-based cost
measure (data/reference/qpp/mips_cost_national_averages.csv: HF about $15,000, LBP about $1,900).

HF cost is mostly Part A: HF admissions (MS-DRG 291-293) and the post-acute care that follows
them (SNF 20, swing bed 30, home health 10, starting within 30 days of discharge), with a few device
implant stays; Part B holds the visits and condition-related services (echo, natriuretic peptide,
cardiac rehab, device checks). LBP cost is mostly Part B (imaging, therapy, injections, surgeons'
fees) with a few spine admissions. Payments are lognormal around the means below (dollars).
test_generate checks the resulting cohort means against the national averages (within 20%).
"""
from __future__ import annotations

import numpy as np

PAYMENT_SIGMA = .35  # lognormal spread of a Part A payment around its mean

# HF admissions per episode: the main clinician's Q492 rate (world.ADMISSION_COST_CORRELATION,
# core._hf_admission_counts), about 0.68 per episode-year on CMS's curve; the payments of an HF
# admission and of its post-acute care scale with the main clinician's cost level. (With 0.87 Poisson
# admissions per episode the payments were 13,500 / 9,200 / 6,800 and post-acute care followed 55% of
# HF discharges; fewer admissions on CMS's Q492 scale carry more of the cost each.)
HF_DRG = np.array([291, 292, 293])  # heart failure and shock with MCC, with CC, without
HF_DRG_P = [.45, .35, .20]
HF_DRG_PAYMENT = np.array([16_000, 11_000, 8_200])
HF_DEVICE_ADMISSION_P = .03  # ICD implant stay (MS-DRG 226) in an episode
HF_DEVICE_DRG, HF_DEVICE_PAYMENT = 226, 32_000

# post-acute care after an HF or spine admission
POST_ACUTE_P = {"HF": .75, "LBP": .20}
POST_ACUTE_TYPES = np.array([20, 10, 30])  # SNF, home health, swing bed
POST_ACUTE_TYPE_P = [.45, .45, .10]
POST_ACUTE_PAYMENT = np.array([12_500, 3_000, 9_000])
POST_ACUTE_WITHIN_30_DAYS = .85  # the rest start 31-45 days after discharge (not assigned, C1)

# LBP admission in an episode (spine fusion, medical back admission): probability x cost level
LBP_ADMISSION_P = .05
LBP_DRG = np.array([460, 552])
LBP_DRG_P = [.4, .6]
LBP_DRG_PAYMENT = np.array([27_000, 6_500])

# Part B condition-related service claims per episode (Poisson means, x the main clinician's cost
# level); half of them have a second line (core.CONDITION_SERVICE_TAIL)
SERVICES_PER_EPISODE = {"HF": 3.3, "LBP": 2.0}


def payment_cents(rng, mean_dollars: np.ndarray) -> np.ndarray:
    """Lognormal payments (cents) with the given means."""
    mean = np.asarray(mean_dollars, float)
    mu = np.log(mean) - PAYMENT_SIGMA ** 2 / 2
    return np.round(rng.lognormal(mu, PAYMENT_SIGMA) * 100).astype(np.int64)
