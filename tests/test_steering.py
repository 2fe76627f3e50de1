"""What to fix (improvement_levers) and `asm whatif` (issue 18 items 4 and 5).

Fast: scenario errors are one line naming the key and value. Pipeline tier (the shared 60k-line run of
tests/report_run.py): a lever's points equal the re-scored difference (its change applied to the
attestation file, scoring re-run); the what-if "attest both IAs" equals a re-run of scoring and projection
over a copy of the warehouse with the attestation file changed; the command's output and errors, and that
OUT's published tables are left as they were."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from pipelines.cli import main
from pipelines.engine import registry
from pipelines.engine.rerun import load_run
from pipelines.engine.settings import RunSettings
from pipelines.engine.steering.whatif import ScenarioError, Scenario, load_scenario, run_whatif
from pipelines.engine.tables import PARTICIPANT
from tests.report_run import small_run


# ------------------------------------------------------------------------------ scenario errors (fast)

@pytest.mark.parametrize("values, message", [
    ({"tin": "123456789", "attest": ["IA-3"]}, "scenario: attest.0 = 'IA-3': must be IA-1 or IA-2"),
    ({"tin": "123456789", "pi_score": 120}, "scenario: pi_score = 120: Input should be less than or equal to 100"),
    ({"tin": "123456789", "cost_reduction": {"inpatient": 1.5}},
     "scenario: cost_reduction.inpatient = 1.5: Input should be less than or equal to 1"),
    ({"tin": "123456789", "cost_reduction": {"food": 0.1}},
     "scenario: cost_reduction: unknown cost category 'food' (known: em, imaging, procedures, tests, dme, inpatient, "
     "post_acute, other)"),
    ({"tin": "12345"}, "scenario: tin = '12345': must be 9 digits (a TIN)"),
    ({"tin": "123456789", "fewer_admissions": -2}, "scenario: fewer_admissions = -2: Input should be greater than or "
                                                   "equal to 0"),
    ({"attest": ["IA-1"]}, "scenario: tin is missing (--tin or tin = \"...\")"),
])
def test_S2_S3_scenario_errors_are_one_line_naming_key_and_value(values, message):
    with pytest.raises(ScenarioError) as err:
        load_scenario(values)
    assert str(err.value) == message


def test_scenario_file_unknown_key_and_merge_with_options(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('tin = "123456789"\nattest = ["IA-1"]\nfewer_admision = 3\n')
    with pytest.raises(ScenarioError) as err:
        load_scenario({}, f)
    assert str(err.value).startswith(f"scenario {f}: unknown key 'fewer_admision' (known: tin, npi, attest")
    f.write_text('tin = "123456789"\nattest = ["IA-1"]\n[[measure]]\nmeasure_id = "5"\ncollection_type = "mips_cqm"\n'
                 'rate = 0.8\n')
    sc = load_scenario({"pi_score": 90, "measures": [{"measure_id": "Q005", "collection_type": "mips_cqm",
                                                       "cases": 40}]}, f)
    assert sc.attest == ["IA-1"] and sc.pi_score == 90 and sc.first_stage == "scoring"
    assert [(m.measure_id, m.rate, m.cases) for m in sc.measures] == [("Q005", 0.8, 40)]
    assert Scenario(tin="123456789", fewer_admissions=2).first_stage == "episode_risk"


# ------------------------------------------------------------------------------ on a run (pipeline tier)

def _copy_run(settings: RunSettings, dest: Path, attestations: pl.DataFrame) -> RunSettings:
    """A full copy of the run's published warehouse (links resolved) and of its input side files with the
    attestation file replaced: a re-run there is independent of the what-if's scratch folder."""
    shutil.copytree(settings.warehouse_dir, dest / "out" / "warehouse", symlinks=False)
    (dest / "in").mkdir()
    for f in settings.input_dir.glob("*.csv"):
        shutil.copy(f, dest / "in" / f.name)
    attestations.write_csv(dest / "in" / "practice_attestations.csv")
    return RunSettings(input_dir=dest / "in", out_dir=dest / "out", threads=2, quiet=True)


def _attest(settings: RunSettings, tin: str, answers: dict[str, str]) -> pl.DataFrame:
    """The run's attestation file with the TIN's answers set by hand (the row added when missing)."""
    raw = pl.read_csv(settings.input_dir / "practice_attestations.csv", infer_schema=False)
    row = (pl.col("tin") == tin) & (pl.col("performance_year") == "2027")
    if raw.filter(row).height == 0:
        raw = pl.concat([raw, pl.DataFrame([{c: None for c in raw.columns} | {"performance_year": "2027", "tin": tin}],
                                           schema={c: pl.Utf8 for c in raw.columns})])
    return raw.with_columns(pl.when(row).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in answers.items())


def _rescore(settings: RunSettings, tmp_path: Path, tin: str, answers: dict[str, str], stages=("scoring",)):
    copy = _copy_run(settings, tmp_path, _attest(settings, tin, answers))
    m = load_run(settings.out_dir).methodology
    for name in stages:
        registry.run(registry.stage(name), copy, m)
    return copy


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.resolve().rglob("*")):
        if f.is_file():
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def run_levers():
    settings, _ = small_run()
    return settings, settings.warehouse.read("improvement_levers")


def test_S2_lever_points_equal_the_rescored_difference(run_levers, tmp_path):
    """IA-1 answered done (IA-2 as it is, or N when blank): scoring re-run on the changed attestation file gives
    exactly the lever's final score for every clinician of the TIN (S2 does not move the pool's benchmarks)."""
    settings, levers = run_levers
    ia1 = levers.filter((pl.col("lever_id") == "ia1") & (pl.col("status") == "scored")
                        & pl.col("source_row").is_not_null()).sort("points_gained", descending=True)
    assert ia1.height and ia1["points_gained"].max() > 0
    tin = ia1["tin"][0]
    att = pl.read_csv(settings.input_dir / "practice_attestations.csv", infer_schema=False).filter(
        (pl.col("tin") == tin) & (pl.col("performance_year") == "2027"))
    other = att["ia2_done"][0] or "N"
    copy = _rescore(settings, tmp_path, tin, {"ia1_done": "Y", "ia2_done": other})
    after = copy.warehouse.read("participant_scores").filter(pl.col("tin") == tin)
    got = ia1.filter(pl.col("tin") == tin).join(after.select(*PARTICIPANT, pl.col("final_score").alias("rescored")),
                                                on=PARTICIPANT)
    assert got.height == ia1.filter(pl.col("tin") == tin).height
    assert (got["final_score_after"] - got["rescored"]).abs().max() < 1e-9
    assert (got["points_gained"] - (got["rescored"] - got["final_score"])).abs().max() < 1e-9
    # dollars: the lever holds S; the re-run re-solves it over the pool, so they agree only closely
    pay = copy.warehouse.read("payment_adjustments").join(got.select(PARTICIPANT), on=PARTICIPANT)
    assert pay.height == got.height


def test_S3_lever_points_equal_the_rescored_difference(run_levers, tmp_path):
    settings, levers = run_levers
    pi = levers.filter((pl.col("lever") == "pi") & (pl.col("status") == "scored")
                       & pl.col("source_row").is_not_null()).sort("points_gained", descending=True)
    assert pi.height
    tin = pi["tin"][0]
    copy = _rescore(settings, tmp_path, tin, {"pi_score": "100"})
    after = copy.warehouse.read("participant_scores").select(*PARTICIPANT, pl.col("final_score").alias("rescored"))
    got = pi.filter(pl.col("tin") == tin).join(after, on=PARTICIPANT)
    assert got.height and (got["final_score_after"] - got["rescored"]).abs().max() < 1e-9


def test_S6_lever_shows_what_a_zero_would_have_scored_and_the_cell(run_levers):
    """S6: a participant scored 0 sees S1 of its own terms (clamped) and the file and row that caused the 0."""
    settings, levers = run_levers
    s6 = levers.filter(pl.col("lever") == "minimum_submission")
    if s6.height == 0:
        pytest.skip("no participant failed the minimum submission in this world")
    scores = settings.warehouse.read("participant_scores")
    j = s6.join(scores, on=PARTICIPANT, suffix="_run")
    raw = (100 * (0.5 * j["quality_score"] + 0.5 * j["cost_score"]) + j["ia_adjustment"] + j["pi_adjustment"]
           + j["complex_bonus"] + j["small_practice_bonus"]).clip(0, 100)  # S1 by hand, the terms held
    assert (j["final_score_after"] - raw).abs().max() < 1e-9
    assert (j["final_score"] == 0).all() and j["source_file"].is_not_null().any()
    assert j["description"].str.starts_with("Minimum submission: ").all()


def test_levers_are_ranked_and_rolled_up_per_tin(run_levers):
    settings, levers = run_levers
    assert levers.select(pl.struct(*PARTICIPANT, "lever_id").is_unique().all()).item()
    first = levers.filter(pl.col("rank") == 1).join(
        levers.group_by(PARTICIPANT).agg(pl.col("points_gained").max().alias("best")), on=PARTICIPANT)
    assert ((first["points_gained"].fill_null(-1e9) - first["best"].fill_null(-1e9)).abs() < 1e-9).all()
    tin = settings.warehouse.read("improvement_levers_tin")
    total = levers.group_by("tin", "lever").agg(pl.col("dollars_gained").sum().alias("sum"))
    j = tin.join(total, on=["tin", "lever"])
    assert j.height == tin.height and (j["dollars_gained"] - j["sum"]).abs().max() < 1e-6


def test_S2_whatif_attest_both_IAs_equals_a_full_rescore(run_levers, tmp_path):
    """`asm whatif` attest IA-1 and IA-2 == scoring and projection re-run over a full copy of the warehouse with
    the attestation file changed: final score, factor and dollars (and their intervals) of every clinician."""
    settings, levers = run_levers
    tin = levers.filter((pl.col("lever") == "ia") & (pl.col("status") == "scored"))["tin"][0]
    before = _digest(settings.warehouse_dir)
    result = run_whatif(load_run(settings.out_dir), Scenario(tin=tin, attest=["IA-1", "IA-2"]))
    assert _digest(settings.warehouse_dir) == before  # the published snapshot is untouched
    assert not (settings.out_dir / ".whatif").exists()
    copy = _rescore(settings, tmp_path, tin, {"ia1_done": "Y", "ia2_done": "Y"}, stages=("scoring", "projection"))
    full = copy.warehouse.read("projected_scores").filter(pl.col("tin") == tin)
    rows = result["rows"]
    assert rows.height == full.height > 0
    j = rows.join(full, on=PARTICIPANT)
    for mine, theirs in (("final_score_after", "pool_final_score"), ("factor_after", "pool_factor"),
                         ("dollars_after", "pool_dollar_impact"), ("final_score_low_after", "pool_final_score_low"),
                         ("factor_high_after", "pool_factor_high")):
        lead_pool = j.filter(pl.col("figure_after") == "pool")
        assert lead_pool[mine].equals(lead_pool[theirs], null_equal=True) if lead_pool.height else True, mine
    proj = j.filter(pl.col("figure_after") == "projected")
    if proj.height:
        assert proj["final_score_after"].equals(proj["projected_final_score"], null_equal=True)
        assert proj["dollars_after"].equals(proj["projected_dollar_impact"], null_equal=True)
    assert (rows["final_score_change"] >= 0).all() and (rows["final_score_change"] > 0).any()


def test_whatif_command_answers_and_refuses_bad_scenarios_in_one_line(run_levers, capsys):
    settings, levers = run_levers
    hf = levers.filter(pl.col("cohort") == "HF")
    tin = (hf if hf.height else levers)["tin"][0]
    assert main(["whatif", "--out", str(settings.out_dir), "--tin", tin, "--attest", "IA-1,IA-2", "--pi-score",
                 "90", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tin"]["tin"] == tin and out["participants"] and out["stages"] == ["scoring", "projection"]
    assert main(["whatif", "--out", str(settings.out_dir), "--tin", tin, "--attest", "IA-1"]) == 0
    text = capsys.readouterr().out
    assert "final score" in text and "TIN total dollars" in text
    for argv, message in (
            (["--tin", "999999999", "--attest", "IA-1"], "scenario: tin = '999999999': no participant of the run"),
            (["--tin", tin, "--npi", "0000000000"], "scenario: npi = '0000000000': not a clinician of TIN"),
            (["--tin", tin, "--measure-rate", "Q999:mips_cqm=0.5"], "scenario: measures.measure_id = 'Q999'"),
            (["--tin", tin, "--pi-score", "150"], "scenario: pi_score = 150.0: Input should be less than or equal")):
        assert main(["whatif", "--out", str(settings.out_dir), *argv]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"asm: error: {message}") and err.count("\n") == 1, err


def test_whatif_and_sensitivity_scratch_take_outs_lock(tmp_path):
    """Issue 21 (item 3): the scratch folder `asm whatif` and `asm sensitivity` re-run stages in holds OUT's run
    lock (released afterwards); while another process holds it, the scratch is refused in one line."""
    import subprocess
    import sys

    from pipelines.engine.outfolder import OutputLock
    from pipelines.engine.rerun import RerunError, scratch_folder

    out = tmp_path / "out"
    out.mkdir()
    with scratch_folder(out / ".whatif") as scratch:
        assert scratch.is_dir()
        probe = subprocess.run([sys.executable, "-c", "import sys; from pipelines.engine.outfolder import OutputLock, "
                                "OutputInUse\ntry:\n    OutputLock(sys.argv[1], 'x').__enter__(); print('free')\n"
                                "except OutputInUse as e:\n    print('busy')", str(out)],
                               capture_output=True, text=True, check=True)
        assert probe.stdout.strip() == "busy"
    assert not (out / ".whatif").exists()
    with OutputLock(out, "x"):  # released: free again
        pass
    hold = subprocess.Popen([sys.executable, "-c", "import sys, time; from pipelines.engine.outfolder import OutputLock; "
                             "OutputLock(sys.argv[1], 'run-A').__enter__(); print('locked', flush=True); time.sleep(60)",
                             str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert hold.stdout.readline().strip() == "locked"
        with pytest.raises(RerunError, match="is in use by run run-A"):
            with scratch_folder(out / ".sensitivity"):
                pass
        assert not (out / ".sensitivity").exists()
    finally:
        hold.kill()
        hold.wait()
