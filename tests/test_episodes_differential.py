"""Differential test: the SQL episode engine against the plain-Python reading of E1-E4 and A1-A2
(tests/episode_reference.py) on hundreds of seeded random small claim sets. Any disagreement is a
bug in one of them; the failing seed reproduces it."""
from __future__ import annotations

import random
from datetime import date, timedelta
from fractions import Fraction

import pytest

from pipelines.engine.episodes import EpisodeInputs, build_episode_tables, episode_params
from pipelines.engine.duck import connect
from tests.episode_reference import load_lists, reference_episodes
from tests.episode_support import BENE_SCHEMA, PARTB_SCHEMA, _write, line, methodology_with

START = date(2024, 6, 1)  # spans the 2024-10-01 ICD-10 update (M5136 -> M51360)
HCPCS = ["99214", "99213", "99204", "99243", "99347", "99214", "93306", "72148", "99283"]  # last 3: not triggers
POS = ["11", "11", "11", "22", "02", "21"]  # 21 not allowed
DX = ["I509", "I5022", "I110", "M5450", "M5450", "M5136", "M51360", "M545", "I10", None]
TINS = ["T1", "T2", None]
NPIS = ["N1", "N2", "N3"]


def random_claims(rng: random.Random, prefix: str) -> tuple[list[dict], dict]:
    """One small claim set: 1-3 beneficiaries with 2-14 lines each over 3 months to 2.5 years."""
    lines = []
    benes = [f"{prefix}B{b}" for b in range(rng.randint(1, 3))]
    for b in benes:
        span = rng.choice([90, 400, 900])
        tins, npis = rng.sample(TINS[:2], k=rng.randint(1, 2)), rng.sample(NPIS, k=rng.randint(1, 3))
        for _ in range(rng.randint(2, 14)):
            lines.append(line(
                bene=b, on=START + timedelta(days=rng.randint(0, span)),
                tin=None if rng.random() < 0.03 else rng.choice(tins),
                npi=None if rng.random() < 0.03 else rng.choice(npis),
                hcpcs=rng.choice(HCPCS), pos=rng.choice(POS), dx=rng.choice(DX),
                claim_dx=rng.sample([d for d in DX if d], k=rng.randint(0, 2)),
                allowed=rng.choice(["100.00"] * 8 + ["0.00", "-5.00"]),
                claim_type=rng.choice(["71"] * 9 + ["72"]), line_number=rng.randint(1, 3),
            ))
    deaths = {b: START + timedelta(days=rng.randint(30, 700)) for b in benes if rng.random() < 0.15}
    return lines, deaths


def sql_answer(con):
    eps = con.execute("""
        SELECT bene_id, cohort, trigger_date, confirming_date, end_date, trigger_tin, trigger_npi,
               trigger_claim_control_number, trigger_line_number, confirming_npi, confirming_claim_control_number,
               confirming_line_number
        FROM episodes""").fetchall()
    att = con.execute("""
        SELECT e.bene_id, e.cohort, e.trigger_date, a.tin, a.npi, a.qualifying_lines, a.attributed
        FROM episode_attribution a JOIN episodes e USING (episode_id)
        WHERE a.qualifying_lines > 0""").fetchall()
    return sorted(eps, key=repr), sorted(att, key=repr)


@pytest.mark.parametrize("pair_scope,lbp_window", [("npi", 60), ("tin", 60), ("npi", 200)])
def test_E1_E4_A1_A2_sql_matches_plain_python_on_random_claim_sets(tmp_path, pair_scope, lbp_window):
    # 300 random claim sets per setting. Beneficiaries are independent (E4 is per beneficiary and
    # cohort), so each batch of 100 sets runs through the SQL once, beneficiaries prefixed by seed.
    methodology = methodology_with({"episodes": {"pair_scope": pair_scope,
                                                 "confirming_window_days": {"HF": 180, "LBP": lbp_window}}})
    params = episode_params(methodology)
    lists = load_lists(params.code_list_dir)
    con = connect(threads=1)
    compared_episodes = compared_attributions = 0
    for batch in range(3):
        lines, deaths, per_seed = [], {}, {}
        for seed in range(batch * 100, batch * 100 + 100):
            rng = random.Random(seed * 7919 + lbp_window)
            ls, ds = random_claims(rng, prefix=f"S{seed}-")
            lines += ls
            deaths.update(ds)
            per_seed[seed] = (ls, ds)
        d = tmp_path / f"batch{batch}"
        d.mkdir()
        benes = [{"bene_id": b, "birth_date": date(1950, 1, 1), "sex": "1", "death_date": dd} for b, dd in deaths.items()]
        inputs = EpisodeInputs(_write(d / "partb_lines.parquet", lines, PARTB_SCHEMA), None,
                               _write(d / "beneficiaries.parquet", benes, BENE_SCHEMA) if benes else None)
        build_episode_tables(con, inputs, params)
        got_eps, got_att = sql_answer(con)
        for seed, (ls, ds) in per_seed.items():
            ref_eps, ref_att = reference_episodes(
                ls, ds, lists=lists, windows=params.confirming_window_days, pair_scope=pair_scope,
                episode_days=params.episode_days, claim_types=params.qualifying_claim_types,
                threshold=Fraction(str(params.attribution_threshold)))
            mine = lambda rows: [r for r in rows if r[0].startswith(f"S{seed}-")]  # noqa: E731
            assert (mine(got_eps), mine(got_att)) == (sorted(ref_eps, key=repr), sorted(ref_att, key=repr)), \
                f"seed {seed}: SQL and reference disagree"
            compared_episodes += len(ref_eps)
            compared_attributions += len(ref_att)
    # the random sets must exercise the rules, not compare empty answers
    assert compared_episodes > 150 and compared_attributions > 150
