"""Is a run's world on CMS's scale? Final scores, payment factors and Q492 per cohort (issue 18, item 7).

    .venv/bin/python benchmarks/world_scale.py OUT_DIR [OUT_DIR ...]

Reads a published run (OUT/warehouse: participant_scores, payment_adjustments, admission_rates) and
prints one markdown table per run, a column per cohort:

- participants by status (S7 below the case minimum, G not eligible, S6 failed minimum submission,
  scored), and the IA/PI adjustments of those with a final score (S2, S3);
- the final-score quartiles of the scored participants (S1);
- the payment factors of everyone with one (P3): the share at the +r cap and at the -r floor, the
  scaling factor S and the break-even score (P2: the final score whose factor is 0 on the run's S,
  i.e. T = 1 / S; found on scoring's own break_even_score_expr, not re-derived);
- for HF, the scored participants' Q492 risk-standardized rates (Q6) against CMS's percentile
  curve the generator draws from (pipelines.synthetic.qpp.admission_rate_distribution): their p10 /
  p50 / p90, the share worse than CMS's p99, and the largest gap between their distribution and
  CMS's at CMS's percentile values.

Figures only: no beneficiary or clinician ids. The methodology is the run's (its recorded config).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.engine.methodology import MethodologyError, load_methodology  # noqa: E402
from pipelines.engine.outfolder import OutFolder  # noqa: E402
from pipelines.engine.provenance import recorded_provenance  # noqa: E402
from pipelines.engine.scoring.payment import break_even_score_expr  # noqa: E402
from pipelines.synthetic import qpp  # noqa: E402

STATUSES = ("scored", "failed_minimum_submission", "below_case_minimum", "not_eligible")
EPS = 1e-12


def _methodology(out: Path, py: int):
    config = recorded_provenance(out).get("config_file") or None
    try:
        return load_methodology(py, config)
    except MethodologyError:
        return load_methodology(py)


def break_even_score(payment, scaling: float) -> float | None:
    """P2: the final score whose factor is 0 on scaling factor S (scoring.payment's one home)."""
    return pl.DataFrame({"scaling_factor": [scaling]}).select(break_even_score_expr(payment))[0, 0]


def cdf_gap(rates: np.ndarray, values: tuple[float, ...]) -> float:
    """Largest |share of rates <= v - k| over CMS's percentile levels k and values v."""
    return max(abs(float(np.mean(rates <= v)) - k / 100.0) for k, v in zip(qpp.LEVELS, values))


def cohort_figures(out: Path) -> tuple[int, dict[str, dict[str, str]]]:
    folder = OutFolder(out)
    scores = pl.read_parquet(folder.published_path("participant_scores"))
    pay = pl.read_parquet(folder.published_path("payment_adjustments"))
    rates = pl.read_parquet(folder.published_path("admission_rates"))
    py = int(scores["performance_year"].max())
    payment = _methodology(out, py).payment
    cms = qpp.admission_rate_distribution()
    table: dict[str, dict[str, str]] = {}
    for cohort in sorted(scores["cohort"].unique().to_list()):
        s = scores.filter((pl.col("cohort") == cohort) & (pl.col("performance_year") == py))
        col: dict[str, str] = {f"participants {st}": str(s.filter(pl.col("status") == st).height) for st in STATUSES}
        with_fs = s.filter(pl.col("final_score").is_not_null())
        ia = with_fs["ia_adjustment"].to_numpy()
        col["IA both / one / neither (S2, share with a final score)"] = " / ".join(
            f"{np.mean(ia == v):.0%}" for v in (0.0, -10.0, -20.0)) if len(ia) else "-"
        col["PI not reported (S3)"] = f"{with_fs['pi_score'].is_null().mean():.0%}" if with_fs.height else "-"
        fs = s.filter(pl.col("status") == "scored")["final_score"].to_numpy()
        col["final score p25 / median / p75 (scored)"] = (
            " / ".join(f"{q:.1f}" for q in np.quantile(fs, [.25, .5, .75])) if len(fs) else "-")
        p = pay.filter((pl.col("cohort") == cohort) & (pl.col("performance_year") == py)
                       & pl.col("adjustment_factor").is_not_null())
        r = float(p["risk_level"][0]) if p.height else payment.risk_level
        f = p["adjustment_factor"].to_numpy()
        col["with a payment factor"] = str(len(f))
        col[f"at +r cap (+{r:.0%})"] = f"{np.mean(f >= r - EPS):.1%}" if len(f) else "-"
        col[f"at -r floor (-{r:.0%})"] = f"{np.mean(f <= -r + EPS):.1%}" if len(f) else "-"
        scaling = p["scaling_factor"].drop_nulls()
        if scaling.len():
            S = float(scaling[0])
            be = break_even_score(payment, S)
            col["scaling factor S (P3)"] = f"{S:.3f}"
            col["break-even score (P2: T = 1/S)"] = f"{be:.2f}" if be is not None else "none"
        a = rates.filter(pl.col("cohort") == cohort).join(
            s.filter(pl.col("status") == "scored").select("tin", "npi"), on=["tin", "npi"], how="inner")
        if a.height:
            q = a["risk_standardized_rate"].to_numpy()
            p10, p50, p90, p99 = (cms.values[qpp.LEVELS.index(k)] for k in (10, 50, 90, 99))
            col["Q492 cohort rate (per 100 PY)"] = f"{float(a['cohort_rate'][0]):.1f}"
            col["Q492 p10 / p50 / p90 (scored)"] = " / ".join(f"{v:.1f}" for v in np.quantile(q, [.1, .5, .9]))
            col[f"CMS {cms.performance_year} p10 / p50 / p90"] = f"{p10:.1f} / {p50:.1f} / {p90:.1f}"
            col[f"Q492 worse than CMS p99 ({p99:.1f})"] = f"{np.mean(q > p99):.1%}"
            col["Q492 largest CDF gap to CMS's curve"] = f"{cdf_gap(q, cms.values):.2f}"
        table[cohort] = col
    return py, table


def markdown(out: Path) -> str:
    py, table = cohort_figures(out)
    cohorts = list(table)
    rows = list(dict.fromkeys(k for c in cohorts for k in table[c]))
    lines = [f"**{out}** (PY {py})", "", "| | " + " | ".join(cohorts) + " |", "|---|" + "---|" * len(cohorts)]
    lines += [f"| {k} | " + " | ".join(table[c].get(k, "") for c in cohorts) + " |" for k in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dirs", nargs="+", type=Path, help="output folders of `asm run`")
    args = ap.parse_args(argv)
    for out in args.out_dirs:
        if not OutFolder(out).published_path("participant_scores").exists():
            print(f"{out}: no published run (warehouse/participant_scores.parquet)", file=sys.stderr)
            return 2
        print(markdown(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
