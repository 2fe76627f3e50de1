"""Scoring stage at scale: 10,000 participants and 2,000,000 episodes (issue 5 "Done when").

    .venv/bin/python benchmarks/bench_scoring.py [--participants 10000] [--episodes 2000000]
        [--workdir /tmp/asm_bench_scoring] [--hcc-sample 20000] [--no-reports]

Builds synthetic episode-level tables directly (numpy/Polars, no claims) in the warehouse layout the
scoring stage reads: episode_risk (R1 covariates, HCC list, risk score, winsorized observed and
expected cost), episodes (ids, windows), episode_attribution (~1.2 attributed participants per
episode), episode_costs (cost by service category and driver flags, for the reports), eligibility,
one Part B paid row per participant (P3/P4 and S5 need the paid amount; no claim lines), Part A
inpatient headers for Q6, quality_submissions.csv and practice_attestations.csv. Each timed phase
runs in its own Python process so its peak RSS is its own:

  scoring   `compute_scores`, the work of the `scoring` multi-asset (R4-R5, B1-B4, Q2-Q7 incl. Q6,
            S1-S7, P1-P4, score_distribution), plus writing its tables;
  risk      R1-R3 without the SQL diagnosis lookback: demographics, the R2 OLS and R3 O/E on every
            episode; CMS-HCC through hccinfhir on `--hcc-sample` distinct requests, extrapolated
            linearly to every episode (worst case: every episode a distinct request);
  reports   the `reports` asset's work (one scorecard per TIN, cohort summary, privacy scan).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HCC_POOL = ["I5020", "I5022", "I110", "E119", "E1122", "N183", "N184", "J449", "I480", "F329", "E6601", "I739",
            "M5416", "M4806", "G629", "D649", "I10", "E785", "Z7901", "K219"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build(workdir: Path, n_part: int, n_eps: int, seed: int = 7) -> dict:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    wh = workdir / "out" / "warehouse"
    inp = workdir / "in"
    wh.mkdir(parents=True, exist_ok=True)
    inp.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    # Participants: 10 clinicians per TIN on average; 40% HF (specialty 06), 60% LBP.
    n_tins = max(1, n_part // 10)
    tin = rng.integers(0, n_tins, n_part)
    tins = np.array([f"{100000000 + i}" for i in range(n_tins)])
    npis = np.array([f"{1000000000 + 7 * i}" for i in range(n_part)])
    hf = rng.random(n_part) < 0.4
    spec = np.where(hf, "06", rng.choice(["05", "09", "14", "20", "25", "72"], n_part))
    cohort_p = np.where(hf, "HF", "LBP")
    in_cbsa = rng.random(n_part) < 0.9
    elig = pl.DataFrame({"tin": tins[tin], "npi": npis, "specialty": spec, "cohort": cohort_p,
                         "eligible_location": in_cbsa, "performance_year": 2027})
    elig = elig.with_columns(pl.col("eligible_location").alias("eligible"),
                             pl.when(pl.col("eligible_location")).then(None)
                             .otherwise(pl.lit("G3: CBSA 99999 is not selected")).alias("reason"))
    elig.write_parquet(wh / "eligibility.parquet")

    # Episodes: skewed volume per participant (some below the case minimum of 20).
    weights = rng.pareto(1.5, n_part) + 0.2
    owner = rng.choice(n_part, n_eps, p=weights / weights.sum())
    ep_cohort = cohort_p[owner]
    ids = np.array([f"E{i:08d}" for i in range(n_eps)])
    start = np.datetime64("2026-01-01") + rng.integers(0, 365, n_eps).astype("timedelta64[D]")
    end = start + np.where(rng.random(n_eps) < 0.03, rng.integers(30, 364, n_eps), 364).astype("timedelta64[D]")
    age = rng.integers(60, 95, n_eps)
    band = np.select([age < 65, age < 70, age < 75, age < 80, age < 85], ["<65", "65-69", "70-74", "75-79", "80-84"], "85+")
    dual = rng.random(n_eps) < 0.2
    n_hcc = rng.poisson(1.2, n_eps)
    hcc_codes = np.array(["226", "37", "38", "326", "280", "238", "48", "155", "93", "267"])
    hcc_list = [" ".join(sorted(set(rng.choice(hcc_codes, k)))) if k else "" for k in n_hcc]
    risk = 0.4 + 0.25 * n_hcc + 0.2 * dual + rng.gamma(2, 0.1, n_eps)
    base = np.where(ep_cohort == "HF", 4000.0, 2000.0)
    obs = np.maximum(0, base * (0.6 + 0.5 * risk) * rng.lognormal(0, 0.6, n_eps))
    fit = rng.random(n_eps) > 0.02
    er = pl.DataFrame({
        "episode_id": ids, "cohort": ep_cohort, "performance_year": 2027, "status": "closed",
        "excluded": ~fit, "fit": fit, "age_band": band, "female": rng.random(n_eps) < 0.55, "dual": dual,
        "disabled": rng.random(n_eps) < 0.1, "esrd": rng.random(n_eps) < 0.01, "hcc_list": hcc_list,
        "hcc_count": n_hcc.astype("uint32"), "risk_score": risk, "specialty": spec[owner],
        "observed_cost_winsorized": obs, "predicted_cost": obs.mean() * risk / risk.mean(),
    }).with_columns(pl.col("predicted_cost").alias("expected_cost"), pl.lit(None, pl.Float64).alias("specialty_oe"),
                    pl.lit("ols").alias("model"), pl.lit(n_eps, pl.Int32).alias("model_episodes"),
                    pl.lit(20, pl.Int32).alias("model_covariates"))
    er.write_parquet(wh / "episode_risk.parquet")
    benes = np.array([f"B{i:010d}" for i in rng.integers(0, n_eps // 2, n_eps)])
    pl.DataFrame({"episode_id": ids, "cohort": ep_cohort, "bene_id": benes, "start_date": start, "end_date": end,
                  "performance_year": 2027, "status": "closed", "trigger_npi": npis[owner],
                  "age_at_trigger": age}).write_parquet(
        wh / "episodes.parquet")

    # Attribution: the owner, plus a second participant of the same cohort on 20% of episodes.
    second = rng.random(n_eps) < 0.2
    other = rng.integers(0, n_part, n_eps)
    ok = second & (cohort_p[other] == ep_cohort) & (other != owner)
    att = pl.DataFrame({"episode_id": np.concatenate([ids, ids[ok]]),
                        "tin": np.concatenate([tins[tin[owner]], tins[tin[other[ok]]]]),
                        "npi": np.concatenate([npis[owner], npis[other[ok]]]),
                        "attributed": True})
    att.write_parquet(wh / "episode_attribution.parquet")

    # Episode costs by service category and driver flags (reports' cost drivers).
    shares = rng.dirichlet(np.ones(8), n_eps)
    cats = ["em", "imaging", "procedures", "tests", "dme", "inpatient", "post_acute", "other"]
    hosp = rng.poisson(0.25, n_eps)
    pl.DataFrame({"episode_id": ids, "cohort": ep_cohort, "performance_year": 2027, "observed_cost": obs,
                  **{f"cost_{c}": obs * shares[:, i] for i, c in enumerate(cats)},
                  "hospitalizations": hosp, "post_acute_after_hospitalization": (hosp > 0) & (rng.random(n_eps) < 0.3),
                  "echos_beyond_first": rng.poisson(0.3, n_eps), "advanced_imaging_early": rng.random(n_eps) < 0.1,
                  "injections_or_procedures": rng.poisson(0.4, n_eps), "spine_surgery": rng.random(n_eps) < 0.02}
                 ).write_parquet(wh / "episode_costs.parquet")

    # Part A inpatient headers for Q6: ~0.25 admissions per HF episode, 10% elective, 80% cardiovascular.
    hf_eps = np.flatnonzero(ep_cohort == "HF")
    n_adm = int(0.25 * len(hf_eps))
    pick = rng.choice(hf_eps, n_adm)
    from_date = start[pick] + rng.integers(0, 365, n_adm).astype("timedelta64[D]")
    pl.DataFrame({"claim_control_number": [f"A{i:012d}" for i in range(n_adm)], "bene_id": benes[pick],
                  "claim_type": "60", "from_date": from_date,
                  "principal_dx": np.where(rng.random(n_adm) < 0.8, "I5023", "J189"),
                  "admission_type": np.where(rng.random(n_adm) < 0.1, "3", "1")}).write_parquet(wh / "parta_claims.parquet")

    # Part B paid per participant (one row each: the scoring stage only sums paid amounts by TIN/NPI).
    pl.DataFrame({"tin": tins[tin], "npi": npis, "bene_id": None, "service_date": date(2027, 6, 30),
                  "paid_amount": rng.gamma(2, 20000, n_part), "cost_basis": "allowed, not standardized"}).with_columns(
        pl.col("bene_id").cast(pl.Utf8)).write_parquet(wh / "partb_lines.parquet")

    # Quality submissions: 4 measures per participant, ecqm; 5% low completeness.
    measures = {"HF": ["Q008", "Q005", "Q236", "Q377"], "LBP": ["Q238", "Q134", "Q128", "Q220"]}
    rows = []
    for i in range(n_part):
        for m in measures[cohort_p[i]]:
            e = int(rng.integers(20, 200))
            met = int(rng.integers(0, e))
            rows.append((2027, tins[tin[i]], npis[i], m, "ecqm", e, met, e - met, 0))
    pl.DataFrame(rows, schema=["performance_year", "tin", "npi", "measure_id", "collection_type",
                               "eligible_population", "performance_met", "performance_not_met",
                               "denominator_exceptions"], orient="row").write_csv(inp / "quality_submissions.csv")
    pl.DataFrame({"performance_year": 2027, "tin": tins, "ia1_done": "Y",
                  "ia2_done": np.where(rng.random(n_tins) < 0.8, "Y", "N"),
                  "pi_score": rng.integers(40, 101, n_tins).astype(str)}).write_csv(inp / "practice_attestations.csv")
    return {"seconds": time.perf_counter() - t0, "participants": n_part, "episodes": n_eps,
            "attribution_rows": att.height, "tins": n_tins, "parta_claims": n_adm}


def phase_scoring(workdir: Path) -> dict:
    from pipelines.engine.scoring.stage import SCORING_TABLES, compute_scores
    from pipelines.engine.methodology import load_methodology
    from pipelines.engine.settings import RunSettings

    s = RunSettings(input_dir=workdir / "in", out_dir=workdir / "out", quiet=True)
    t0 = time.perf_counter()
    tables, info = compute_scores(s, load_methodology(2027))
    compute_s = time.perf_counter() - t0
    for name in SCORING_TABLES:
        s.warehouse.write(name, tables[name])
    return {"compute_seconds": compute_s, "total_seconds": time.perf_counter() - t0,
            "rows": {k: v.height for k, v in tables.items()}, "status_counts": info["status_counts"]}


def phase_risk(workdir: Path, hcc_sample: int) -> dict:
    import numpy as np
    import polars as pl

    from pipelines.engine.methodology import load_methodology
    from pipelines.engine.scoring import risk

    p = load_methodology(2027).risk
    wh = workdir / "out" / "warehouse"
    er = pl.read_parquet(wh / "episode_risk.parquet")
    eps = pl.read_parquet(wh / "episodes.parquet")
    rng = np.random.default_rng(3)
    benes = eps.select("bene_id").unique()
    n = benes.height
    benes = benes.with_columns(
        pl.Series("birth_date", [date(1930, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 12000, n)]),
        pl.Series("sex", rng.choice(["1", "2"], n)), pl.Series("medicare_status", rng.choice(["10", "20", "11"], n)),
        pl.Series("dual_status", rng.choice(["NA", "02", "NA", "NA"], n)),
        pl.Series("original_entitlement_reason", rng.choice(["0", "1"], n)))
    out = {}
    t0 = time.perf_counter()
    demo = risk.demographics(eps.with_columns(pl.lit(True).alias("fit")), benes, p)
    out["demographics_seconds"] = time.perf_counter() - t0

    # HCC on a sample of distinct requests, extrapolated to one request per episode (worst case).
    k = min(hcc_sample, demo.height)
    sample = demo.head(k).with_columns(pl.Series("dx", [list(rng.choice(HCC_POOL, int(rng.integers(1, 8)), replace=False))
                                                        for _ in range(k)]))
    t0 = time.perf_counter()
    risk.hcc_scores(sample, p)
    hs = time.perf_counter() - t0
    out.update({"hcc_sample_requests": k, "hcc_sample_seconds": hs,
                "hcc_extrapolated_seconds_all_episodes": hs / k * er.height})

    frame = er.drop("predicted_cost", "expected_cost", "specialty_oe", "model", "model_episodes",
                    "model_covariates").with_columns(
        pl.col("hcc_list").str.split(" ").list.eval(pl.element().filter(pl.element() != "")).alias("hccs"))
    t0 = time.perf_counter()
    risk.specialty_adjustment(risk.expected_costs(frame, p)[0], p)
    out["r2_r3_seconds"] = time.perf_counter() - t0
    return out


def phase_reports(workdir: Path) -> dict:
    import shutil

    from pipelines.engine.reports import write_reports
    from pipelines.engine.methodology import load_methodology
    from pipelines.engine.settings import RunSettings

    s = RunSettings(input_dir=workdir / "in", out_dir=workdir / "out", quiet=True)
    shutil.rmtree(s.reports_dir, ignore_errors=True)
    t0 = time.perf_counter()
    info = write_reports(s, load_methodology(2027))
    return {"seconds": time.perf_counter() - t0, "tin_reports": len(info["tins"]), "files": info["privacy"]["files"]}


def run_phase(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--workdir", str(args.workdir), "--hcc-sample",
           str(args.hcc_sample)]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"phase {name} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--participants", type=int, default=10_000)
    ap.add_argument("--episodes", type=int, default=2_000_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/asm_bench_scoring"))
    ap.add_argument("--hcc-sample", type=int, default=20_000)
    ap.add_argument("--no-reports", action="store_true")
    ap.add_argument("--phase", choices=["scoring", "risk", "reports"], help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase:  # child process: one timed phase, JSON on the last stdout line
        import warnings
        warnings.filterwarnings("ignore")
        fn = {"scoring": lambda: phase_scoring(args.workdir), "risk": lambda: phase_risk(args.workdir, args.hcc_sample),
              "reports": lambda: phase_reports(args.workdir)}[args.phase]
        result = fn()
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result, default=str))
        return

    import shutil
    shutil.rmtree(args.workdir, ignore_errors=True)
    info = build(args.workdir, args.participants, args.episodes)
    print(f"built {info['participants']:,} participants ({info['tins']:,} TINs), {info['episodes']:,} episodes, "
          f"{info['attribution_rows']:,} attribution rows, {info['parta_claims']:,} Part A admissions "
          f"in {info['seconds']:.1f}s (peak RSS {peak_rss_mb():,.0f} MB)", flush=True)
    sc = run_phase("scoring", args)
    print(f"scoring (compute_scores: R4-R5, B, Q incl. Q6, S, P): {sc['compute_seconds']:.1f}s compute, "
          f"{sc['total_seconds']:.1f}s with writes; peak RSS {sc['peak_rss_mb']:,.0f} MB", flush=True)
    print(f"  rows: {sc['rows']}\n  statuses: {sc['status_counts']}", flush=True)
    rk = run_phase("risk", args)
    print(f"risk: demographics {rk['demographics_seconds']:.1f}s, R2 OLS + R3 {rk['r2_r3_seconds']:.1f}s, "
          f"HCC (hccinfhir) {rk['hcc_sample_requests']:,} requests in {rk['hcc_sample_seconds']:.1f}s -> "
          f"extrapolated {rk['hcc_extrapolated_seconds_all_episodes']:.0f}s for {args.episodes:,} episodes "
          f"(one distinct request each, one core); peak RSS {rk['peak_rss_mb']:,.0f} MB", flush=True)
    if not args.no_reports:
        rp = run_phase("reports", args)
        print(f"reports: {rp['tin_reports']:,} TIN scorecards + cohort summary ({rp['files']:,} files) in "
              f"{rp['seconds']:.1f}s; peak RSS {rp['peak_rss_mb']:,.0f} MB", flush=True)


if __name__ == "__main__":
    main()
