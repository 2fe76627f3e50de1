"""Trace and privacy of the reports (issue 19 item 9): every page, workbook and about.json names the run, input
digest, code commit and methodology; `asm report` leaves a record like a run; practice-facing outputs show keyed
episode ids (HMAC with a key kept in OUT/keys), never the warehouse's unsalted MD5 ids; claim-level pages carry
the patient-information notice."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
import uuid

import polars as pl
import pytest
from openpyxl import load_workbook

from pipelines.engine.methodology import load_methodology
from pipelines.engine.reports import build
from pipelines.engine.reports.episode_ids import (EpisodeKeyError, display_episode_ids, display_levers, episode_key,
                                                  internal_episode_id, keyed_episode_id)
from pipelines.engine.reports.privacy import file_text
from pipelines.engine.reports.trace import PATIENT_NOTICE, short
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import OutFolder
from tests.report_run import demo_run

TOKEN = re.compile(r"[A-Za-z0-9]+")


# ------------------------------------------------------------------------------------------ keyed ids (unit)

def test_keyed_id_is_hmac_sha256_deterministic_per_key_and_never_the_internal_id():
    # Golden case, RFC 4231 test case 2: HMAC-SHA256(key "Jefe", "what do ya want for nothing?") =
    # 5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843; no "<cohort>-" prefix in the message,
    # so the id is "EP-R" + its first 16 hex.
    assert keyed_episode_id("what do ya want for nothing?", b"Jefe") == "EP-R5bdcc146bf60754e"
    k1, k2 = b"\x01" * 32, b"\x02" * 32
    internal = "HF-00058b520d3f7de1"
    a = keyed_episode_id(internal, k1)
    assert a == keyed_episode_id(internal, k1)  # deterministic per key
    assert a != keyed_episode_id(internal, k2)  # another OUT's key, another id
    assert a != internal and a.startswith("HF-R") and re.fullmatch(r"HF-R[0-9a-f]{16}", a)
    assert keyed_episode_id("LBP-00058b520d3f7de1", k1).startswith("LBP-R")


def test_display_ids_of_a_column_equal_the_one_by_one_ids_and_keep_nulls():
    key = b"\x07" * 32
    ids = pl.Series("episode_id", ["HF-1", None, "LBP-2", "HF-1", "no-cohort-x", "nodash"])
    shown = display_episode_ids(ids, key)
    assert shown.name == "episode_id"
    assert shown.to_list() == [keyed_episode_id("HF-1", key), None, keyed_episode_id("LBP-2", key),
                               keyed_episode_id("HF-1", key), keyed_episode_id("no-cohort-x", key),
                               keyed_episode_id("nodash", key)]
    assert shown[4].startswith("no-R") and shown[5].startswith("EP-R")
    assert internal_episode_id(shown[2], ["HF-1", "LBP-2"], key) == "LBP-2"  # asm explain takes either id
    assert internal_episode_id("LBP-2", ["HF-1", "LBP-2"], key) == "LBP-2"
    assert internal_episode_id("HF-Rnope", ["HF-1", "LBP-2"], key) is None


def test_episode_lever_description_names_the_keyed_id_only():
    key = b"\x03" * 32
    levers = pl.DataFrame({"episode_id": ["HF-0123456789abcdef", None, "LBP-fedcba9876543210"],
                           "description": ["Observed $10 vs expected $5 (excess $5); drivers: x", "Attest IA-1",
                                           # a table published before the change named the internal id
                                           "Episode LBP-fedcba9876543210: observed $9 vs expected $4"]})
    shown = display_levers(levers, key)
    k0, k2 = keyed_episode_id("HF-0123456789abcdef", key), keyed_episode_id("LBP-fedcba9876543210", key)
    assert shown["description"].to_list() == [f"Episode {k0}: Observed $10 vs expected $5 (excess $5); drivers: x",
                                              "Attest IA-1", f"Episode {k2}: observed $9 vs expected $4"]
    assert shown["episode_id"].to_list() == [k0, None, k2]


def test_the_key_is_created_once_with_mode_0600_and_a_damaged_key_is_refused(tmp_path):
    key = episode_key(tmp_path)
    path = OutFolder(tmp_path).episode_key_file
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and "reports" not in path.relative_to(tmp_path).parts
    assert episode_key(tmp_path) == key  # reused
    assert episode_key(tmp_path / "other") != key  # another OUT, another key
    path.write_bytes(b"short")
    with pytest.raises(EpisodeKeyError, match="not an episode-id key"):
        episode_key(tmp_path)


# ------------------------------------------------------------------------------------------ on the demo run

@pytest.fixture(scope="module")
def run():
    return demo_run()


def _old_episode_ids(settings) -> pl.DataFrame:
    """The warehouse's ids recomputed from beneficiary ids the way sql/20_episodes/25_episodes.sql does:
    cohort || '-' || left(md5(bene_id || '|' || cohort || '|' || trigger_date), 16)."""
    eps = pl.read_parquet(settings.warehouse_dir / "episodes.parquet",
                          columns=["episode_id", "bene_id", "cohort", "trigger_date"])
    old = [f"{c}-" + hashlib.md5(f"{b}|{c}|{d.isoformat()}".encode()).hexdigest()[:16]
           for b, c, d in eps.select("bene_id", "cohort", "trigger_date").iter_rows()]
    return eps.with_columns(pl.Series("old_id", old))


def _report_tokens(folder) -> dict:
    return {f: set(TOKEN.findall(file_text(f))) for f in sorted(folder.rglob("*")) if f.is_file()}


def test_no_report_file_shows_an_episode_id_recomputable_from_beneficiary_ids(run):
    settings, _ = run
    eps = _old_episode_ids(settings)
    assert eps["old_id"].equals(eps["episode_id"], check_names=False)  # the recomputation is the SQL's
    hex_parts = {x.split("-", 1)[1] for x in eps["old_id"]}  # a token of the text ("HF-" splits off)
    key = episode_key(settings.out_dir)
    keyed_parts = {keyed_episode_id(x, key).split("-", 1)[1] for x in eps["episode_id"]}
    files = _report_tokens(settings.reports_dir)
    assert any(f.suffix == ".xlsx" for f in files) and any(f.parent.name == "lines" for f in files)
    leaks = {f.relative_to(settings.reports_dir).as_posix() for f, tokens in files.items() if tokens & hex_parts}
    assert leaks == set()
    shown = set().union(*files.values()) & keyed_parts
    assert shown  # the keyed ids are there instead (the scan reads the text the ids are in)
    assert not list(settings.reports_dir.rglob("*.key")) and OutFolder(settings.out_dir).episode_key_file.is_file()
    assert key.hex() not in "".join(file_text(f) for f in files if f.suffix in (".json", ".html"))


def _anchors(folder) -> set[str]:
    return {a for p in folder.rglob("lines/*.html") for a in re.findall(r'id="E-([^"]+)"', p.read_text())}


def test_keyed_ids_are_the_same_across_report_builds_of_one_out_and_differ_in_another_out(run, tmp_path):
    settings, _ = run
    m = load_methodology(settings.performance_year)
    tin = sorted(p.name for p in settings.reports_dir.iterdir() if p.is_dir())[0]
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    build.build_reports(settings, m, first, [tin])
    build.build_reports(settings, m, second, [tin])
    assert _anchors(first) and _anchors(first) == _anchors(second) == _anchors(settings.reports_dir / tin)
    other = RunSettings(input_dir=settings.input_dir, out_dir=tmp_path / "out", quiet=True)
    shutil.copytree(settings.warehouse_dir, other.warehouse_dir)  # same tables, another OUT: another key
    third = tmp_path / "c"
    third.mkdir()
    build.build_reports(other, m, third, [tin])
    assert len(_anchors(third)) == len(_anchors(first)) and not _anchors(third) & _anchors(first)
    assert OutFolder(other.out_dir).episode_key_file.read_bytes() != OutFolder(settings.out_dir).episode_key_file.read_bytes()


def test_every_page_and_workbook_carries_the_run_input_commit_and_methodology(run):
    settings, _ = run
    p = json.loads((settings.out_dir / "run_summary.json").read_text())["provenance"]
    reports = settings.reports_dir
    marks = [p["run_id"], short(p["input_digest"]), short(p["git_commit"]), p["methodology_label"],
             short(p["methodology_fingerprint"])]
    pages = sorted(reports.rglob("*.html"))
    assert {"index.html", "cohort_summary.html", "scorecard.html"} <= {x.name for x in pages}
    for page in pages:
        html = page.read_text()
        footer = html[html.index("<footer"):html.index("</footer>")]
        assert all(x in footer for x in marks) and ".toml" not in footer, page
        depth = len(page.relative_to(reports).parts) - 1  # root "", a TIN folder "../", lines "../../"
        assert f'href="{"../" * depth}how-it-works.html"' in html and f'href="{"../" * depth}glossary.html"' in html
    about = json.loads((reports / "about.json").read_text())
    assert (about["run_id"], about["input_digest"], about["code_commit"], about["methodology_label"],
            about["methodology_digest"]) == (p["run_id"], p["input_digest"], p["git_commit"], p["methodology_label"],
                                             p["methodology_fingerprint"])
    tin = sorted(x.name for x in reports.iterdir() if x.is_dir())[0]
    assert json.loads((reports / tin / "about.json").read_text())["run_id"] == p["run_id"]
    wb = load_workbook(reports / tin / "scorecard.xlsx", read_only=True)
    about_sheet = dict(list(wb["About this file"].iter_rows(values_only=True))[1:])
    assert about_sheet["Run (whose tables this file shows)"] == p["run_id"]
    assert about_sheet["Methodology settings digest"] == p["methodology_fingerprint"]


def test_claim_level_pages_and_sheets_carry_the_patient_information_notice(run):
    settings, _ = run
    reports = settings.reports_dir
    lines_pages = sorted(reports.rglob("lines/*.html"))
    assert lines_pages
    for page in lines_pages:
        assert PATIENT_NOTICE in page.read_text(), page
    # the clinician pages list episodes (the scorecard links to them and lists none): each with episodes says so
    with_episodes = [p for p in reports.rglob("scorecard.html") if (p.parent / "lines").is_dir()]
    listing = [p for p in reports.rglob("clinicians/*.html") if 'href="../lines/' in p.read_text()]
    assert with_episodes and listing and all(PATIENT_NOTICE in p.read_text() for p in listing)
    assert PATIENT_NOTICE not in (reports / "index.html").read_text()
    assert PATIENT_NOTICE not in (reports / "cohort_summary.html").read_text()
    wb = load_workbook(with_episodes[0].parent / "scorecard.xlsx", read_only=True)
    rows = list(wb["Episodes"].iter_rows(max_row=2, values_only=True))
    assert rows[0][0] == PATIENT_NOTICE and "Episode" in rows[1]  # the header under the notice
    assert next(wb["Clinicians"].iter_rows(max_row=1, values_only=True))[0] != PATIENT_NOTICE


def test_asm_report_leaves_a_record_like_a_run(run, tmp_path, capsys):
    from dagster import AssetKey, DagsterInstance

    from pipelines.cli import main

    settings, _ = run
    out = tmp_path / "out"
    shutil.copytree(settings.out_dir, out, symlinks=True)  # the shared run's folder stays as the run left it
    p = json.loads((out / "run_summary.json").read_text())["provenance"]
    tin = sorted(x.name for x in (out / "reports").iterdir() if x.is_dir())[0]
    assert main(["report", "--out", str(out), "--tin", tin, "--quiet"]) == 0
    capsys.readouterr()
    record = json.loads((out / "report_summary.json").read_text())
    uuid.UUID(record["report_id"])  # a run-like id
    assert record["success"] and record["tins"] == [tin] and record["carried_tins"] > 0
    t = record["trace"]
    assert (t["run_id"], t["input_digest"], t["code_commit"], t["methodology_label"]) == (
        p["run_id"], p["input_digest"], p["git_commit"], p["methodology_label"])
    assert {"index.html", "cohort_summary.html", "about.json", f"{tin}/scorecard.html", f"{tin}/scorecard.xlsx",
            f"{tin}/about.json"} <= set(record["files"])
    assert {f.split("/")[0] for f in record["files"] if "/" in f} == {tin}  # the folders kept are not listed
    assert record["bytes"] == sum((out / "reports" / f).stat().st_size for f in record["files"])
    assert record["report_id"] in (out / "reports" / tin / "scorecard.html").read_text()
    assert json.loads((out / "reports" / "about.json").read_text())["report_id"] == record["report_id"]
    with DagsterInstance.from_config(str(out / ".dagster")) as instance:
        event = instance.get_latest_materialization_event(AssetKey("reports"))
        md = event.asset_materialization.metadata
        assert md["report_id"].value == record["report_id"] and md["tables_run_id"].value == p["run_id"]
    key_before = OutFolder(out).episode_key_file.read_bytes()
    assert key_before == OutFolder(settings.out_dir).episode_key_file.read_bytes()  # copied with OUT, reused
