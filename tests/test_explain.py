"""`asm explain`: the chain from the final score down to claim lines, from the published tables of a run;
no beneficiary id unless --show-ids; episodes by the keyed id the reports show (either id accepted); a wrong TIN
or NPI is one line naming the nearest."""
from __future__ import annotations

import polars as pl
import pytest

from pipelines.cli import main
from pipelines.engine.reports.episode_ids import episode_key, keyed_episode_id
from tests.report_run import demo_run


@pytest.fixture(scope="module")
def scored():
    settings, _ = demo_run()
    wh = settings.warehouse_dir
    p = pl.read_parquet(wh / "participant_scores.parquet").filter(pl.col("status") == "scored").sort("tin").row(0, named=True)
    att = pl.read_parquet(wh / "episode_attribution.parquet").filter(
        (pl.col("tin") == p["tin"]) & (pl.col("npi") == p["npi"]) & pl.col("attributed") & (pl.col("cohort") == p["cohort"]))
    eps = pl.read_parquet(wh / "episodes.parquet").filter(pl.col("episode_id").is_in(att["episode_id"].to_list())
                                                          & pl.col("counts_for_scoring") & (pl.col("performance_year") == 2027))
    return settings, p, eps


def _explain(settings, p, *extra):
    return main(["explain", "--out", str(settings.out_dir), "--tin", p["tin"], "--npi", p["npi"], "--cohort",
                 p["cohort"], *extra])


def test_explain_prints_the_chain_without_beneficiary_ids(scored, capsys):
    settings, p, eps = scored
    assert _explain(settings, p) == 0
    out = capsys.readouterr().out
    for step in ("Final score (S1)", "Payment (P2-P4)", "Projection (V1-V4)", "Quality (Q7)", "Cost benchmarks (B1-B3)",
                 "Cost points (B3)", "Cost measure score (R4)", "Attributed episodes (A2)"):
        assert step in out, step
    assert f"= {p['final_score']:,.2f}" in out
    assert f"over {p['episodes']} episodes" in out
    key = episode_key(settings.out_dir)
    assert all(keyed_episode_id(e, key) in out for e in eps["episode_id"].to_list())  # the ids the reports show
    assert not any(e in out for e in eps["episode_id"].to_list())  # never the warehouse's (MD5 of the bene id)
    assert not set(eps["bene_id"].to_list()) & set(out.split())


def test_explain_episode_lines_with_source_file_and_row(scored, capsys):
    settings, p, eps = scored
    ep = eps.row(0, named=True)
    assert _explain(settings, p, "--episode", ep["episode_id"]) == 0
    out = capsys.readouterr().out
    lines = pl.read_parquet(settings.warehouse_dir / "episode_lines.parquet").filter(
        pl.col("episode_id") == ep["episode_id"])
    assert f"{lines.height} line(s) (C1)" in out
    src = pl.read_parquet(settings.warehouse_dir / "partb_lines.parquet").join(
        lines.filter(pl.col("source") == "partb").select("claim_id", "line_number"), on=["claim_id", "line_number"])
    first = src.row(0, named=True)
    assert f"{first['source_file']} row {first['source_row']}" in out
    assert ep["bene_id"] not in out and ep["episode_id"] not in out
    keyed = keyed_episode_id(ep["episode_id"], episode_key(settings.out_dir))
    assert f"Episode {keyed} (" in out
    assert _explain(settings, p, "--episode", keyed) == 0  # the id a report shows is accepted too
    assert capsys.readouterr().out == out
    assert _explain(settings, p, "--episode", ep["episode_id"], "--show-ids") == 0
    shown = capsys.readouterr().out
    assert ep["bene_id"] in shown and f"{keyed} (warehouse {ep['episode_id']})" in shown
    assert _explain(settings, p, "--episode", keyed[:-1]) == 1
    err = capsys.readouterr().err
    assert f"episode {keyed[:-1]} is not an episode of this run (nearest: " in err and ep["episode_id"] not in err


def test_explain_wrong_tin_or_npi_is_one_line_naming_the_nearest(scored, capsys):
    settings, p, _ = scored
    wrong_tin = p["tin"][:-1] + ("0" if p["tin"][-1] != "0" else "1")
    assert main(["explain", "--out", str(settings.out_dir), "--tin", wrong_tin, "--npi", p["npi"], "--cohort",
                 p["cohort"]]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"TIN {wrong_tin} is not" in err[0] and p["tin"] in err[0].split("nearest:")[1]
    wrong_npi = p["npi"][:-1] + ("0" if p["npi"][-1] != "0" else "1")
    assert main(["explain", "--out", str(settings.out_dir), "--tin", p["tin"], "--npi", wrong_npi, "--cohort",
                 p["cohort"]]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"NPI {wrong_npi} is not a participant under TIN {p['tin']}" in err[0]
    assert p["npi"] in err[0]
