"""The benchmark suite's bookkeeping (benchmarks/report.py): target verdicts and the RESULTS.md update.
No benchmark runs here: the run records are built by hand."""
from __future__ import annotations

import importlib.util

from pipelines.engine.paths import REPO_ROOT

_spec = importlib.util.spec_from_file_location("bench_report", REPO_ROOT / "benchmarks" / "report.py")
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)

MACHINE = {"cores": 2, "cpu": "test CPU", "ram_gib": 23.5, "os": "Linux", "python": "3.11", "duckdb": "1", "polars": "1"}


def row(key, kind, seconds, rss_gb=1.0, x_scan=None, x_copy=None, errors=None, steps=None):
    return {"key": key, "label": key, "kind": kind, "seconds": seconds, "rss": [rss_gb * 1e9] * len(seconds),
            "x_scan": x_scan or [], "x_copy": x_copy or [], "load": [1.0] * len(seconds), "steps": steps or {},
            "errors": errors or [], "notes": {}}


def run(scale=10_000_000, rows=(), memory_limit="", commit="abc1234", date="2026-01-01 00:00 UTC"):
    return {"date": date, "commit": commit, "scale": scale, "seed": 42, "lines": scale, "threads": 2,
            "memory_limit": memory_limit, "repeats": len(rows[0]["seconds"]) if rows else 1, "machine": MACHINE,
            "load_before": [1.0, 1.0, 1.0], "load_after": [2.0, 2.0, 2.0], "rows": list(rows), "notes": []}


def test_ingest_target_is_the_median_of_paired_ratios_to_the_copy():
    # pairs 1.5, 2.5, 1.9 -> median 1.9 <= 2 (PASS) although one pair is above 2
    ok = row("ingest_cold", "stage", [30, 50, 38], x_copy=[1.5, 2.5, 1.9])
    assert report.row_target(run(rows=[ok]), ok) == ("≤ 2× copy", "PASS")
    bad = row("ingest_cold", "stage", [50], x_copy=[2.01])
    assert report.row_target(run(rows=[bad]), bad)[1] == "FAIL"


def test_stages_after_ingest_are_held_to_five_times_the_scan_and_a_failed_stage_fails():
    fast = row("episodes", "stage", [10], x_scan=[4.9])
    slow = row("scoring", "stage", [10], x_scan=[5.1])
    broken = row("reports", "stage", [], errors=["exit 1: boom"])
    r = run(rows=[fast, slow, broken])
    assert [report.row_target(r, x)[1] for x in (fast, slow, broken)] == ["PASS", "FAIL", "FAIL"]
    # the warm ingest is shown, not judged (the 2x target is the cold ingest's)
    warm = row("ingest_warm", "stage", [10], x_scan=[50], x_copy=[3])
    assert report.row_target(r, warm) == ("", "")


def test_pipeline_targets_apply_at_10m_and_100m_only():
    fast = row("pipeline", "pipeline", [100], rss_gb=3.9)
    assert report.pipeline_target(run(rows=[fast]), fast)[1] == "PASS"
    for slow in (row("pipeline", "pipeline", [121], rss_gb=3.9), row("pipeline", "pipeline", [100], rss_gb=4.1)):
        assert report.pipeline_target(run(rows=[slow]), slow)[1] == "FAIL"
    assert report.pipeline_target(run(scale=1_000_000, rows=[fast]), fast) == ("", "")
    big = row("pipeline", "pipeline", [3000], rss_gb=15.0)
    assert report.pipeline_target(run(scale=100_000_000, rows=[big]), big)[1].startswith("n/a")  # no limit given
    assert report.pipeline_target(run(scale=100_000_000, rows=[big], memory_limit="20GB"), big)[1].startswith("n/a")
    assert report.pipeline_target(run(scale=100_000_000, rows=[big], memory_limit="16GB"), big)[1] == "PASS"
    over = row("pipeline", "pipeline", [3000], rss_gb=17.0)
    assert report.pipeline_target(run(scale=100_000_000, rows=[over], memory_limit="16GB"), over)[1] == "FAIL"


def test_memory_limits_are_read_in_duckdb_units():
    assert report.parse_size("20GB") == 20e9
    assert report.parse_size("2GiB") == 2 * 2 ** 30
    assert report.parse_size("lots") is None


def test_table_quotes_copy_ratio_of_unpaired_stages_against_the_median_copy():
    # copy runs 10 s and 30 s -> median 20 s; episodes 5 s -> 0.25, marked * (no copy run of its own)
    rows = [row("scan", "baseline", [1, 1]), row("copy", "baseline", [10, 30]),
            row("episodes", "stage", [5], x_scan=[5.0])]
    table = report.results_table(run(rows=rows))
    line = next(ln for ln in table.splitlines() if ln.startswith("| episodes"))
    assert "| 0.25* |" in line and "| 5.00 |" in line and "| PASS |" in line


def test_results_file_replaces_the_scale_section_keeps_others_history_and_notes():
    first = run(scale=1_000_000, rows=[row("pipeline", "pipeline", [20])], commit="aaa1111")
    text = report.update_results("", first)
    text = text.replace("(Findings written by hand: hot spots, what the numbers mean.)", "my analysis")
    ten = run(rows=[row("pipeline", "pipeline", [200], rss_gb=5)], commit="bbb2222")
    text = report.update_results(text, ten)
    again = run(scale=1_000_000, rows=[row("pipeline", "pipeline", [15])], commit="ccc3333")
    text = report.update_results(text, again)
    sections = report.SECTION.findall(text)
    assert [int(s) for s, _ in sections] == [1_000_000, 10_000_000]
    one_m = dict((int(s), body) for s, body in sections)[1_000_000]
    assert "`ccc3333`" in one_m and "`aaa1111`" not in one_m  # the latest run at 1M replaced the first
    history = report._block(text, "history").splitlines()[2:]
    assert [h.split(" | ")[1] for h in history] == ["`aaa1111`", "`bbb2222`", "`ccc3333`"]
    assert "my analysis" in text and text.count("## Definitions") == 1
    assert "**FAIL**" in dict((int(s), b) for s, b in sections)[10_000_000]  # 200 s and 5 GB at 10M


def test_night_delivery_target_is_warm_over_cold_ingest_of_the_same_run():
    # issue 20: warm 20 s over cold 100 s = 0.20 <= 0.25 (PASS); warm 30 s = 0.30 (FAIL)
    cold = row("ingest_cold", "stage", [100], x_copy=[3.0])
    for warm_s, verdict in ((20, "PASS"), (30, "FAIL")):
        warm = row("ingest_warm", "stage", [warm_s])
        r = run(rows=[cold, warm])
        assert report.row_target(r, warm) == ("≤ 0.25× cold", verdict)
        assert any(f"{warm_s / 100:.2f}×, target ≤ 0.25× cold: **{verdict}**" in ln for ln in report.target_lines(r))


def test_100m_target_is_16gb_and_at_most_12x_the_latest_10m_time():
    # 10 M took 300 s -> 100 M must take <= 3,600 s within 16 GB
    ok = row("pipeline", "pipeline", [3500], rss_gb=15.9)
    slow = row("pipeline", "pipeline", [3700], rss_gb=15.9)
    big = row("pipeline", "pipeline", [3500], rss_gb=16.5)
    for r, verdict in ((ok, "PASS"), (slow, "FAIL"), (big, "FAIL")):
        rec = run(scale=100_000_000, rows=[r], memory_limit="16GB")
        rec["pipeline_seconds_10m"] = 300.0
        assert report.pipeline_target(rec, r)[1] == verdict
    assert report.pipeline_target(run(scale=100_000_000, rows=[ok], memory_limit="20GB"), ok)[1].startswith("n/a")


def test_scaling_curve_exponents_from_the_latest_whole_run_per_scale():
    # 1 M in 10 s, 10 M in 100 s (k = 1.00), 100 M in 1,584 s (k = log10(15.84) = 1.1998): fitted slope over
    # (6, 1), (7, 2), (8, 3.1998) in log10 = 1.0999 <= 1.1; the older 1 M run (50 s) is replaced by the later one
    text = ""
    for scale, secs, commit in ((1_000_000, 50, "a"), (1_000_000, 10, "b"), (10_000_000, 100, "c"),
                                (100_000_000, 1584, "d")):
        text = report.update_results(text, run(scale=scale, rows=[row("pipeline", "pipeline", [secs])], commit=commit,
                                               memory_limit="16GB" if scale == 100_000_000 else ""))
    curve = report._block(text, "scaling")
    lines = [ln for ln in curve.splitlines() if ln.startswith("| 1") and "|" in ln]
    assert [ln.split(" | ")[-1].rstrip(" |") for ln in lines] == ["—", "1.00", "1.20"]
    assert "**1.10**" in curve and "**PASS**" in curve
    assert report.latest_pipeline_seconds(text, 10_000_000) == 100.0
    assert report.latest_pipeline_seconds(text, 1_000_000) == 10.0
