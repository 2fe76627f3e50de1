"""Ingest on the generator's synthetic world: what the generator planted is what ingest finds."""
from __future__ import annotations

import json

import duckdb
import pytest

from pipelines.engine.ingest import run_ingest
from pipelines.synthetic import generate
from pipelines.engine.methodology import load_methodology
from pipelines.engine.settings import RunSettings

REASON_OF_KIND = {  # generator's planted malformed kinds -> ingest quarantine reasons
    "wrong_length": "wrong_record_length",
    "bad_amount": "non_numeric_amount:allowed_amount",
    "bad_date": "unparseable_date:service_date",
    "missing_claim_id": "missing_key:claim_id",
    "blank_bene_id": "missing_key:bene_id",
    "thru_before_from": "impossible_date_order",
}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate(root / "in", scale=30_000, seed=7, fmt="fixed")
    settings = RunSettings(input_dir=root / "in", out_dir=root / "out", quiet=True)
    result = run_ingest(settings, load_methodology(2027))
    manifest = json.loads((root / "in" / "_truth" / "manifest.json").read_text())
    con = duckdb.connect()
    for t in ("partb_lines", "ingest_audit", "quarantine", "ingest_files", "beneficiaries", "bene_xref", "parta_claims"):
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{settings.table_path(t)}')")
    return result, manifest, con


def test_every_file_reconciles(synthetic):
    result, manifest, con = synthetic
    assert result.files and all(f["reconciled"] for f in result.files)
    partb = [f for f in result.files if f["kind"] == "cclf5"]
    assert len(partb) == len(manifest["partb_files"])
    # every physical Part B row the generator wrote (originals, re-deliveries, cancels, adjustments) is read
    assert sum(f["rows_read"] for f in partb) == manifest["partb_lines"]


def test_quarantine_holds_exactly_the_planted_malformed_rows(synthetic):
    _, manifest, con = synthetic
    planted = sorted((m["file"], m["row"], REASON_OF_KIND[m["kind"]]) for m in manifest["malformed"])
    found = sorted(con.execute("SELECT source_file, source_row, reason FROM quarantine").fetchall())
    assert found == planted and len(found) >= 6 * 3


def test_N2_excludes_exactly_the_planted_redeliveries(synthetic):
    _, manifest, con = synthetic
    n2 = con.execute("SELECT count(*) FROM ingest_audit WHERE rule = 'N2' AND claim_id IS NOT NULL "
                     "AND detail LIKE 'line re-delivered%'").fetchone()[0]
    assert n2 == manifest["redelivered_copies"]


def test_N3_excludes_planted_denials_and_non_A_lines(synthetic):
    # N2 is applied first, so a denied line that was also re-delivered is audited once as N2 and once
    # (its newest copy) as N3: the N3 count lies between planted - re-delivered and planted.
    _, manifest, con = synthetic
    n3 = con.execute("SELECT count(*) FROM ingest_audit WHERE rule = 'N3'").fetchone()[0]
    planted = manifest["denied_lines"] + manifest["non_a_lines"]
    assert planted - manifest["redelivered_copies"] <= n3 <= planted


def test_N1_cross_walk_resolves_chain_and_cycle_and_no_line_keeps_an_old_id(synthetic):
    _, manifest, con = synthetic
    olds = con.execute("SELECT count(*) FROM partb_lines JOIN bene_xref ON bene_id = previous_bene_id").fetchone()[0]
    assert olds == 0
    assert con.execute("SELECT count(*) FROM bene_xref").fetchone()[0] >= manifest["id_changes"]["changed_benes"]
    # older CCLF9 delivery: every row audited as N1
    older = manifest["cclf9"][0]
    assert con.execute("SELECT count(*) FROM ingest_audit WHERE rule = 'N1' AND source_file = ?",
                       [older["file"]]).fetchone()[0] == older["rows"]


def test_partb_lines_are_unique_per_netting_key_and_money_is_exact(synthetic):
    _, _, con = synthetic
    dupes = con.execute("SELECT count(*) FROM (SELECT claim_control_number, bene_id, line_number FROM partb_lines "
                        "GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
    assert dupes == 0
    assert con.execute("SELECT typeof(allowed_amount) FROM partb_lines LIMIT 1").fetchone()[0].startswith("DECIMAL")
