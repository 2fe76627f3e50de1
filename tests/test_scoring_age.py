"""X1 and R1 compute age the same way, once: episodes.age_at_trigger (sql/20_episodes/25_episodes.sql),
completed years on the trigger date (= episode start, E3); a 29 February birthday is reached on
1 March in non-leap years [DEFAULT]. X1 excludes on it, R1's age bands read it."""
from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from pipelines.engine.methodology import load_methodology
from pipelines.engine.scoring import risk
from tests.episode_support import bene, line, run_engine

P = load_methodology(2027).risk


def _pair(bene_id: str, trigger: date) -> list[dict]:
    """A trigger line and a confirming line 10 days later (E2, HF window 180 days)."""
    return [line(bene=bene_id, on=trigger), line(bene=bene_id, on=trigger + timedelta(days=10))]


def _episodes(tmp_path, cases: dict[str, tuple[date, date]]) -> dict[str, dict]:
    lines = [row for b, (_, trigger) in cases.items() for row in _pair(b, trigger)]
    run = run_engine(tmp_path, lines, benes=[bene(b, birth=birth) for b, (birth, _) in cases.items()])
    return {e["bene_id"]: e for e in run.episodes("HF")}


def test_X1_february_29_birthday_excludes_until_1_march(tmp_path):
    # born 2008-02-29, X1 minimum 18:
    #   trigger 2026-02-28: 2026 - 2008 = 18, but 02-28 < 02-29 (birthday not reached) -> 17 -> excluded
    #   trigger 2026-03-01: 18 -> kept
    #   born 2008-02-28, trigger 2026-02-28: 18 -> kept
    eps = _episodes(tmp_path, {"A": (date(2008, 2, 29), date(2026, 2, 28)),
                               "B": (date(2008, 2, 29), date(2026, 3, 1)),
                               "C": (date(2008, 2, 28), date(2026, 2, 28))})
    assert [eps[b]["age_at_trigger"] for b in "ABC"] == [17, 18, 18]
    assert [eps[b]["excluded"] for b in "ABC"] == [True, False, False]
    assert eps["A"]["exclusion_reason"] == "X1: age under 18 on the trigger date"


def test_R1_age_band_reads_the_same_age_as_X1(tmp_path):
    # born 1960-02-29 (a leap day):
    #   trigger 2024-02-29 (leap year): 64, birthday reached on the day -> 64 -> "<65"
    #   trigger 2025-02-28: 65 - 1 = 64 -> "<65"  (a date_sub-style "end of month" age would say 65)
    #   trigger 2025-03-01: 65 -> "65-69"
    # December birthdays (born 1960-12-31): 64 on 2025-12-30, 65 on 2025-12-31. (R1 used to compute
    # month x 100 + day in 8-bit integers, which wrapped from May on and put about half of the demo's
    # episodes in a band one year off.)
    eps = _episodes(tmp_path, {"A": (date(1960, 2, 29), date(2024, 2, 29)),
                               "B": (date(1960, 2, 29), date(2025, 2, 28)),
                               "C": (date(1960, 2, 29), date(2025, 3, 1)),
                               "D": (date(1960, 12, 31), date(2025, 12, 30)),
                               "E": (date(1960, 12, 31), date(2025, 12, 31))})
    frame = pl.DataFrame([{k: eps[b][k] for k in ("episode_id", "bene_id", "start_date", "age_at_trigger")}
                          for b in "ABCDE"])
    benes = pl.DataFrame({"bene_id": list("ABCDE"), "sex": ["1"] * 5, "medicare_status": ["10"] * 5,
                          "dual_status": ["NA"] * 5, "original_entitlement_reason": ["0"] * 5})
    out = {r["bene_id"]: r for r in risk.demographics(frame, benes, P).iter_rows(named=True)}
    assert [out[b]["age"] for b in "ABCDE"] == [64, 64, 65, 64, 65]
    assert [out[b]["age_band"] for b in "ABCDE"] == ["<65", "<65", "65-69", "<65", "65-69"]
    assert [eps[b]["age_at_trigger"] for b in "ABCDE"] == [64, 64, 65, 64, 65]  # the same number X1 compares
