"""E1-E6, A1-A2, X1-X2 on the synthetic data set: episodes and attribution land where the generator
planted them (`_truth/patients.parquet`: cohort, pattern, expected trigger/confirming dates, second
trigger for chains, main participant and its planned share, under-18, in_cclf8)."""
from __future__ import annotations

import duckdb
import pytest

from pipelines.engine.episodes import EpisodeInputs, build_episode_tables, episode_params
from pipelines.engine.duck import connect
from pipelines.engine.settings import RunSettings
from tests.episode_support import methodology_with

generate = pytest.importorskip("pipelines.synthetic").generate


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from pipelines.engine.ingest import run_ingest

    root = tmp_path_factory.mktemp("synthetic")
    generate(root / "in", scale=40_000, seed=7, fmt="parquet")
    settings = RunSettings(input_dir=root / "in", out_dir=root / "out", quiet=True, threads=1)
    run_ingest(settings, methodology_with())
    return settings, root / "in" / "_truth" / "patients.parquet"


def _run(settings, truth, **episode_overrides) -> duckdb.DuckDBPyConnection:
    con = connect(threads=1)
    params = episode_params(methodology_with({"episodes": episode_overrides} if episode_overrides else None))
    build_episode_tables(con, EpisodeInputs.from_settings(settings), params)
    con.execute(f"CREATE TABLE truth AS SELECT * FROM read_parquet('{truth}')")
    return con


def test_E1_E6_A1_A2_X1_X2_land_where_the_generator_planted_them(synthetic):
    settings, truth = synthetic
    con = _run(settings, truth)
    planted = con.execute("SELECT count(*) FROM truth WHERE expect_episode").fetchone()[0]
    assert planted > 100
    # every planted first episode is found with the planted trigger and confirming dates ...
    misses = con.execute("""
        SELECT t.pattern, count(*) FROM truth t
        LEFT JOIN episodes e ON e.bene_id = t.bene_id AND e.cohort = t.cohort AND e.episode_seq = 1
        WHERE t.expect_episode AND (e.trigger_date IS DISTINCT FROM t.trigger_date
                                    OR e.confirming_date IS DISTINCT FROM t.confirming_date)
        GROUP BY ALL""").fetchall()
    assert misses == []
    # ... and nobody else has one (single visit, 181/61 days, same day, two NPIs, bad POS patterns)
    extra = con.execute("""
        SELECT count(*) FROM episodes e
        WHERE NOT EXISTS (SELECT 1 FROM truth t WHERE t.bene_id = e.bene_id AND t.cohort = e.cohort
                                                   AND t.expect_episode)""").fetchone()[0]
    assert extra == 0
    # E4 chains: the second episode starts on the planted second trigger
    assert con.execute("""
        SELECT count(*) FILTER (WHERE e.trigger_date IS DISTINCT FROM t.second_trigger_date), count(*) FROM truth t
        LEFT JOIN episodes e ON e.bene_id = t.bene_id AND e.cohort = t.cohort AND e.episode_seq = 2
        WHERE t.second_trigger_date IS NOT NULL""").fetchone()[0] == 0
    # A1/A2: the main participant's share is the planned one; attributed exactly when >= 30%
    wrong = con.execute("""
        SELECT count(*) FROM truth t
        JOIN episodes e ON e.bene_id = t.bene_id AND e.cohort = t.cohort AND e.episode_seq = 1
        LEFT JOIN episode_attribution a ON a.episode_id = e.episode_id AND a.tin = t.main_tin AND a.npi = t.main_npi
        WHERE t.expect_episode AND (abs(a.share - t.planned_main_share) > 1e-9
                                    OR a.attributed IS DISTINCT FROM (t.planned_main_share >= 0.3 - 1e-9))""").fetchone()[0]
    assert wrong == 0
    # X1 under 18 -> excluded; X2 absent from CCLF8 -> flagged
    assert con.execute("""
        SELECT count(*) FROM truth t JOIN episodes e ON e.bene_id = t.bene_id AND e.cohort = t.cohort
        WHERE e.excluded IS DISTINCT FROM coalesce(t.under_18, false)
           OR e.demographics_missing IS DISTINCT FROM (NOT t.in_cclf8)""").fetchone()[0] == 0


def test_E2_pair_scope_tin_finds_the_planted_tin_level_pairs(synthetic):
    settings, truth = synthetic
    con = _run(settings, truth, pair_scope="tin")
    assert con.execute("""
        SELECT count(*) FROM truth t
        LEFT JOIN episodes e ON e.bene_id = t.bene_id AND e.cohort = t.cohort AND e.episode_seq = 1
        WHERE t.tin_scope_trigger_date IS NOT NULL
          AND (e.trigger_date IS DISTINCT FROM t.tin_scope_trigger_date
               OR e.confirming_date IS DISTINCT FROM t.tin_scope_confirming_date)""").fetchone()[0] == 0
