"""The registry (pipelines/engine/registry.py + tables.toml) is the home of the pipeline's shape: every
table is written by one stage and described column by column; Dagster's lineage, groups and descriptions,
the sensitivity re-run and the README's table list derive from it."""
from __future__ import annotations

import pytest
from dagster import AssetKey

from assets.definitions import build_definitions
from pipelines.cli import sensitivity
from pipelines.engine import registry
from pipelines.engine.paths import REPO_ROOT
from pipelines.engine.settings import RunSettings
from pipelines.engine.tables import TABLE_KEYS


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    d = tmp_path_factory.mktemp("defs")
    return build_definitions(RunSettings(input_dir=d, out_dir=d)).resolve_asset_graph()


def _parents(graph, key: str) -> set[str]:
    return {k.to_user_string() for k in graph.get(AssetKey(key)).parent_keys}


def _descendants(graph, key: str) -> set[str]:
    seen, todo = set(), [AssetKey(key)]
    while todo:
        for child in graph.get(todo.pop()).child_keys:
            if child.to_user_string() not in seen:
                seen.add(child.to_user_string())
                todo.append(child)
    return seen


def test_every_table_is_written_by_exactly_one_stage_and_catalogued():
    written = [t for s in registry.STAGES for t in s.writes]
    assert len(written) == len(set(written))
    assert set(written) == set(TABLE_KEYS) == set(registry.tables())
    for t in registry.tables().values():
        assert t.description and t.columns, t.name
        assert set(t.key) <= set(t.columns), t.name  # the key's columns are described too
        assert all(r in registry.tables() or r in registry.SIDE_INPUTS for r in t.reads), t.name


def test_lineage_participant_scores_reads_cost_and_quality(graph):
    """An auditor follows participant_scores up to the cost measure scores and the quality points."""
    parents = _parents(graph, "participant_scores")
    assert {"cost_measure_scores", "quality_measure_points", "participant_measure_points", "cost_benchmarks",
            "practice_attestations"} <= parents
    assert _parents(graph, "payment_adjustments") == {"participant_scores", "partb_lines"}


def test_side_inputs_are_source_assets_and_stale_exactly_downstream(graph):
    """A changed attestation file reaches exactly what is computed from it: the scores, quality and payment
    tables and what is built on them, never ingest, episodes, eligibility or risk."""
    for side in registry.SIDE_INPUTS:
        assert graph.get(AssetKey(side)).is_observable, side
    downstream = _descendants(graph, "practice_attestations")
    assert {"participant_scores", "payment_adjustments", "quality_measure_points", "projected_scores",
            "tin_summary", "reports", "publish"} <= downstream
    assert not downstream & {"partb_lines", "episodes", "episode_costs", "eligibility", "episode_risk",
                             "cost_measure_scores", "cost_benchmarks"}
    assert {"partb_lines", "episodes", "participant_scores"} <= _descendants(graph, registry.CLAIMS)
    assert registry.CLAIMS in _parents(graph, "partb_lines")


def test_groups_name_the_stages_and_descriptions_come_from_the_catalogue(graph):
    for t in registry.tables().values():
        node = graph.get(AssetKey(t.name))
        assert node.group_name == t.stage
        assert node.description == t.description


def test_sensitivity_reruns_derive_from_the_registry():
    assert sensitivity.STAGE_OF_SECTION["costs"] == "episodes"
    assert sensitivity.STAGE_OF_SECTION["benchmarks"] == "eligibility"
    assert sensitivity.STAGE_OF_SECTION["payment"] == "scoring"
    assert [s.name for s in sensitivity.rerun_stages("eligibility")] == ["eligibility", "episode_risk", "scoring"]
    assert [s.name for s in sensitivity.rerun_stages("scoring")] == ["scoring"]
    assert "projection" not in sensitivity.STAGE_OF_SECTION  # a re-score never runs the projection


def test_inputs_of_a_partial_run_are_the_tables_it_reads_and_does_not_write():
    reads = registry.inputs_of(set(registry.stage("scoring").writes))
    assert reads == {"episode_risk", "eligibility", "episode_attribution", "partb_lines", "episodes", "parta_claims",
                     "episode_costs"}


def test_readme_table_list_is_generated_from_the_registry():
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("<!-- tables:begin -->")[1].split("<!-- tables:end -->")[0]
    assert block.strip() == registry.markdown().strip(), "regenerate with: python -m pipelines.engine.registry --markdown"


def test_a_stage_yields_its_tables_after_what_they_are_computed_from():
    order = registry.in_lineage_order(registry.stage("scoring").writes)
    assert sorted(order) == sorted(registry.stage("scoring").writes)
    for i, name in enumerate(order):
        assert not set(registry.table(name).reads) & set(order[i + 1:]), name


def test_a_changed_attestation_file_marks_what_reads_it_stale(tmp_path):
    """After a run, the side inputs' observations are the data versions the run used; editing
    practice_attestations.csv and observing again (the `asm_observe_inputs` job, or the UI's "Observe
    sources") marks stale exactly the tables computed from it, and nothing upstream of them."""
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._core.loader import LoadingContextForTest

    from assets.definitions import OBSERVE_JOB
    from assets.runner import run_pipeline
    from assets.runtime.runrecord import open_instance
    from pipelines.synthetic import generate

    generate(tmp_path / "in", scale=4000, seed=5)
    settings = RunSettings(input_dir=tmp_path / "in", out_dir=tmp_path / "out", threads=2, quiet=True)
    assert run_pipeline(settings).success
    attestations = settings.input_dir / "practice_attestations.csv"
    attestations.write_text(attestations.read_text() + attestations.read_text().splitlines()[1] + "\n")
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    with open_instance(settings.out_dir) as instance:
        assert defs.resolve_job_def(OBSERVE_JOB).execute_in_process(instance=instance).success
        resolver = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
        stale = {k.to_user_string() for k in graph.materializable_asset_keys
                 if resolver.get_status(k).value == "STALE"}
    assert stale == {t for t in registry.tables() if "practice_attestations" in registry.table(t).reads}
    assert stale == {"participant_scores", "quality_benchmarks", "quality_measure_points", "quality_submission_issues",
                     "improvement_levers"}


def test_issue20_tie_break_columns_replace_every_other_column_in_the_write_order():
    # issue 20 item 3: a table whose key plus its declared tie_break is unique by construction is sorted by
    # those columns alone (the same order, fewer columns); every other table by its key then every column.
    from pipelines.engine.tables import TIE_BREAKS, sort_columns

    assert set(TIE_BREAKS) >= {"episodes", "episode_lines", "episode_attribution", "episode_attribution_tin",
                               "episode_observed_costs", "episode_costs"}
    for table, ties in TIE_BREAKS.items():
        columns = set(registry.table(table).columns)
        assert set(ties) <= columns and not set(ties) & set(TABLE_KEYS[table]), table
    lines = list(registry.table("episode_lines").columns)
    assert sort_columns("episode_lines", lines) == [*TABLE_KEYS["episode_lines"], "after_stay_claim_control_number"]
    assert sort_columns("episodes", ["cohort", "episode_id", "bene_id"]) == ["episode_id"]
    # a relation missing a key column (or the tie-break) falls back to every column: still a total order
    assert sort_columns("episodes", ["cohort", "bene_id"]) == ["cohort", "bene_id"]
    assert sort_columns("episode_lines", ["episode_id", "source", "claim_control_number", "line_number", "npi"]) == [
        "episode_id", "source", "claim_control_number", "line_number", "npi"]
    # a table without a tie-break: its key, then every other column
    assert sort_columns("ingest_audit", ["detail", "rule", "source_row", "source_file"]) == [
        "source_file", "source_row", "rule", "detail"]


def test_issue_20_partb_lines_is_sorted_by_its_netting_key_alone():
    """partb_lines' key is its N4 netting group (one row per group, 24_partb_netting): sorting by it alone is a
    total order, so the write skips comparing every other column (lists among them)."""
    from pipelines.engine.tables import TIE_BREAKS, sort_columns

    assert TIE_BREAKS["partb_lines"] == ()
    cols = ["bene_id", "allowed_amount", "line_number", "claim_control_number", "hcpcs"]
    assert sort_columns("partb_lines", cols) == ["claim_control_number", "line_number", "bene_id"]
