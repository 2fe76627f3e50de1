"""Privacy of the reports (issue 19 item 9): practice-facing outputs show keyed episode ids (HMAC with a key kept
in OUT/keys), never the warehouse's unsalted MD5 ids."""
from __future__ import annotations

import re
import stat

import polars as pl
import pytest

from pipelines.engine.reports.episode_ids import (EpisodeKeyError, display_episode_ids, display_levers, episode_key,
                                                  internal_episode_id, keyed_episode_id)
from pipelines.engine.warehouse import OutFolder


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
    ids = pl.Series("episode_id", ["HF-1", None, "LBP-2", "HF-1"])
    shown = display_episode_ids(ids, key)
    assert shown.name == "episode_id"
    assert shown.to_list() == [keyed_episode_id("HF-1", key), None, keyed_episode_id("LBP-2", key),
                               keyed_episode_id("HF-1", key)]
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
