"""`asm explain`: the chain behind one participant's score, read from the published tables: final score ->
components (S1) -> payment (P2-P4) -> projection (V1-V4) -> quality points per measure (Q5-Q7) -> cost points
(B3) on the benchmarks (B1-B2) -> cost measure score (R4) -> attributed episodes (A2, C2) and, with
--episode, that episode's lines with their source file and row (E6). No beneficiary id unless --show-ids; episodes
show the keyed id the reports show (pipelines.engine.reports.episode_ids), the warehouse's id only with --show-ids."""
from __future__ import annotations

import argparse
import difflib
from pathlib import Path

import polars as pl

from pipelines.cli.commands import CommandError
from pipelines.engine.methodology import DEFAULT_PERFORMANCE_YEAR
from pipelines.engine.tables import PARTICIPANT

NAME = "explain"
HELP = "print the chain from a participant's final score down to its episodes and claim lines"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="output folder of an `asm run`")
    p.add_argument("--tin", required=True, help="the participant's TIN")
    p.add_argument("--npi", required=True, help="the participant's NPI")
    p.add_argument("--cohort", required=True, choices=["HF", "LBP"], help="the cohort")
    p.add_argument("--episode", default=None, help="also list this episode's lines (the id a report shows, or the "
                                                  "warehouse's episode_id)")
    p.add_argument("--performance-year", default=DEFAULT_PERFORMANCE_YEAR, type=int, help="the PY the run scored")
    p.add_argument("--show-ids", action="store_true", help="also print beneficiary ids (PHI: keep the output safe)")


def _money(v) -> str:
    return "-" if v is None else (f"-${abs(v):,.2f}" if v < 0 else f"${v:,.2f}")


def _n(v, d=2) -> str:
    return "-" if v is None else f"{v:,.{d}f}"


def _nearest(value: str, known: list[str], what: str, where: str) -> CommandError:
    near = difflib.get_close_matches(value, known, n=3, cutoff=0)
    return CommandError(f"{what} {value} is not {where} (nearest: {', '.join(near) or 'none'})")


class Explainer:
    def __init__(self, out: Path, py: int):
        from pipelines.engine.warehouse import OutFolder

        self.wh = OutFolder(out)
        if not self.wh.warehouse_dir.is_dir():
            raise CommandError(f"no published tables in {self.wh.warehouse_dir}; run `asm run --out {out}` first")
        self.py = py
        self._key: bytes | None = None

    @property
    def key(self) -> bytes:
        """OUT's episode-id key (created on first use, like a report would)."""
        from pipelines.engine.reports.episode_ids import EpisodeKeyError, episode_key

        if self._key is None:
            try:
                self._key = episode_key(self.wh.out_dir)
            except EpisodeKeyError as exc:
                raise CommandError(str(exc)) from None
        return self._key

    def shown_id(self, episode_id: str, show_ids: bool) -> str:
        """The keyed id a report shows; with --show-ids also the warehouse's."""
        from pipelines.engine.reports.episode_ids import keyed_episode_id

        keyed = keyed_episode_id(episode_id, self.key)
        return f"{keyed} (warehouse {episode_id})" if show_ids else keyed

    def read(self, table: str, columns: list[str] | None = None) -> pl.DataFrame:
        from pipelines.engine.warehouse import TableMissing

        try:
            return self.wh.read(table, columns)
        except TableMissing as exc:
            raise CommandError(str(exc)) from None

    def participant(self, tin: str, npi: str, cohort: str) -> dict:
        scores = self.read("participant_scores").filter(pl.col("performance_year") == self.py)
        tins = sorted(scores["tin"].unique().to_list())
        if tin not in tins:
            raise _nearest(tin, tins, "TIN", "a TIN with ASM participants in this run")
        mine = scores.filter(pl.col("tin") == tin)
        npis = sorted(mine["npi"].unique().to_list())
        if npi not in npis:
            raise _nearest(npi, npis, "NPI", f"a participant under TIN {tin}")
        row = mine.filter((pl.col("npi") == npi) & (pl.col("cohort") == cohort))
        if row.height == 0:
            other = mine.filter(pl.col("npi") == npi)["cohort"].to_list()
            raise CommandError(f"NPI {npi} under TIN {tin} is not a {cohort} participant (cohorts: {', '.join(other)})")
        return row.row(0, named=True)

    def one(self, table: str, key: dict) -> dict:
        df = self.read(table)
        for k in PARTICIPANT:
            if k in df.columns:
                df = df.filter(pl.col(k) == key[k])
        return df.row(0, named=True) if df.height else {}


def _run_scoring_params(out: Path, py: int):
    """S1's weights and clamp as the run was scored: the methodology config OUT/run_summary.json names
    (the default one when it names none or cannot be read)."""
    from pipelines.engine.methodology import MethodologyError, load_methodology
    from pipelines.engine.provenance import recorded_provenance

    config = recorded_provenance(out).get("config_file") or None
    try:
        return load_methodology(py, config).scoring
    except MethodologyError:
        return load_methodology(py).scoring


def _final(p: dict, pay: dict, sp) -> list[str]:
    lines = [f"Status: {p['status']}" + (f" ({p['status_reason']})" if p["status_reason"] else "")]
    if p["final_score"] is None:
        return lines + ["No final score (S7: below the case minimum, or not eligible)."]
    lines.append(f"Final score (S1) = 100 x ({sp.quality_weight:g} x quality {_n(p['quality_score'], 4)} + "
                 f"{sp.cost_weight:g} x cost {_n(p['cost_score'], 4)})"
                 f" + IA {_n(p['ia_adjustment'], 1)} + PI {_n(p['pi_adjustment'], 1)} + complex {_n(p['complex_bonus'], 2)}"
                 f" + small practice {_n(p['small_practice_bonus'], 1)}, clamped to [{sp.final_score_min:g}, "
                 f"{sp.final_score_max:g}] = {_n(p['final_score'])}")
    if pay:
        lines.append(f"Payment (P2-P4): transformed score {_n(pay['transformed_score'], 4)}, scaling S "
                     f"{_n(pay['scaling_factor'], 4)}, factor {100 * pay['adjustment_factor']:+.2f}% x Part B paid "
                     f"{_money(pay['partb_paid'])} = {_money(pay['dollar_impact'])}")
    return lines


def _projection(v: dict) -> list[str]:
    if not v:
        return []
    out = [f"Projection (V1-V4): report leads with {v['lead']} ({v['lead_reason']})"]
    for f, label in (("pool", "pool-based"), ("projected", "projected")):
        if v[f"{f}_final_score"] is not None:
            out.append(f"  {label}: final {_n(v[f'{f}_final_score'])} ({_n(v[f'{f}_final_score_low'])}-"
                       f"{_n(v[f'{f}_final_score_high'])}), cost points {_n(v[f'{f}_cost_points'])}, factor "
                       + ("-" if v[f"{f}_factor"] is None else f"{100 * v[f'{f}_factor']:+.2f}%"))
    out.append(f"  quality: {v['quality_source']}")
    out.append(f"  cost: {v['cost_average_source']} = {_money(v['national_average_cost'])} (a mean); median "
               f"{_money(v['cost_reference_median'])} (x median/mean {_n(v['median_mean_ratio'])}); spread "
               f"{v['cost_spread_source']}")
    return out


def _quality(e: Explainer, p: dict) -> list[str]:
    key = {k: p[k] for k in PARTICIPANT}
    rows = e.read("projected_measure_points")
    for k in PARTICIPANT:
        rows = rows.filter(pl.col(k) == key[k])
    out = [f"Quality (Q7): {_n(p['quality_points'])} points / (10 x {p['measures_scored']} scored measures) = "
           f"{_n(p['quality_score'], 4)}"]
    for r in rows.sort("measure_id").iter_rows(named=True):
        out.append(f"  {r['measure_id']} {r['collection_type'] or '-'} ({r['submitted_as'] or '-'}): status "
                   f"{r['pool_status']}, pool points {_n(r['pool_points'])} (decile {r['pool_decile'] or '-'}); "
                   f"projected {_n(r['projected_points'])} on {r['source'] or '-'}"
                   + (f" MIPS {r['cms_performance_year']} {r['submission_method']}" if r["source"] == "CMS" else ""))
    return out


def _cost(e: Explainer, p: dict) -> list[str]:
    key = {k: p[k] for k in PARTICIPANT}
    cms, bench = e.one("cost_measure_scores", key), e.one("cost_benchmarks", key)
    out = []
    if bench:
        t = [bench[f"t{k}"] for k in range(1, 11)]
        out.append(f"Cost benchmarks (B1-B3): pool of {bench['participants']}, median {_money(bench['median'])}, "
                   f"SD {_money(bench['sd'])}; T1..T10 = " + ", ".join(_money(x) for x in t))
        c = p["measure_score"]
        if c is not None:
            above = [k for k in range(1, 11) if c <= t[k - 1]]
            where = ("above T1" if not above else "at or below T10" if above[-1] == 10
                     else f"between T{above[-1] + 1} and T{above[-1]}")
            out.append(f"Cost points (B3): measure score {_money(c)} is {where} -> {_n(p['cost_points'])} points"
                       + ("" if p["cost_points"] is not None else " (not in the peer pool)"))
    if cms:
        out.append(f"Cost measure score (R4): observed {_money(cms['observed_cost'])} / expected "
                   f"{_money(cms['expected_cost'])} = O/E {_n(cms['oe_ratio'], 4)} x cohort mean "
                   f"{_money(cms['cohort_mean_cost'])} = {_money(cms['measure_score'])} over {cms['episodes']} episodes")
    return out


def _episodes(e: Explainer, p: dict, show_ids: bool) -> list[str]:
    att = e.read("episode_attribution", ["episode_id", "tin", "npi", "cohort", "share", "attributed", "performance_year"])
    att = att.filter((pl.col("tin") == p["tin"]) & (pl.col("npi") == p["npi"]) & (pl.col("cohort") == p["cohort"])
                     & pl.col("attributed") & (pl.col("performance_year") == e.py))
    eps = e.read("episodes", ["episode_id", "bene_id", "start_date", "end_date", "status", "counts_for_scoring"])
    risk = e.read("episode_risk", ["episode_id", "observed_cost_winsorized", "expected_cost"])
    rows = att.join(eps, on="episode_id", how="left").join(risk, on="episode_id", how="left").sort("start_date")
    counted = rows.filter(pl.col("counts_for_scoring"))
    out = [f"Attributed episodes (A2) in PY {e.py}: {rows.height} ({counted.height} counted: closed, not excluded; "
           f"{rows.filter(pl.col('status') == 'open').height} open), observed (winsorized) "
           f"{_money(counted['observed_cost_winsorized'].cast(pl.Float64).sum())}, expected "
           f"{_money(counted['expected_cost'].sum())}"]
    for r in rows.iter_rows(named=True):
        who = f" bene {r['bene_id']}" if show_ids else ""
        shown = e.shown_id(r["episode_id"], show_ids)
        out.append(f"  {shown}{who} {r['start_date']}..{r['end_date']} {r['status']:<6} share "
                   f"{100 * r['share']:.0f}% observed {_money(None if r['observed_cost_winsorized'] is None else float(r['observed_cost_winsorized']))}"
                   f" expected {_money(r['expected_cost'])}" + ("" if r["counts_for_scoring"] else " (not counted)"))
    return out


def _episode_lines(e: Explainer, p: dict, episode: str, show_ids: bool) -> list[str]:
    from pipelines.engine.reports.episode_ids import display_episode_ids, internal_episode_id
    from pipelines.engine.reports.episodes import billed_under, episode_lines
    from pipelines.engine.settings import RunSettings

    eps = e.read("episodes", ["episode_id", "bene_id", "cohort", "start_date", "end_date", "status", "trigger_tin",
                              "trigger_npi"])
    given, episode = episode, internal_episode_id(episode, eps["episode_id"].to_list(), e.key)
    if episode is None:  # the nearest keyed ids: the ones a person reads in the reports
        raise _nearest(given, sorted(display_episode_ids(eps["episode_id"], e.key).to_list()), "episode",
                       "an episode of this run")
    ep = eps.filter(pl.col("episode_id") == episode).row(0, named=True)
    settings = RunSettings(input_dir=e.wh.out_dir, out_dir=e.wh.out_dir, performance_year=e.py)
    lines = billed_under(episode_lines(settings, [episode]), [episode], p["tin"])
    head = (f"Episode {e.shown_id(episode, show_ids)} ({ep['cohort']}): {ep['start_date']}..{ep['end_date']}, "
            f"{ep['status']}, trigger "
            f"{'this TIN' if ep['trigger_tin'] == p['tin'] else 'another practice'}"
            + (f", bene {ep['bene_id']}" if show_ids else "") + f"; {lines.height} line(s) (C1):")
    out = [head]
    for r in lines.iter_rows(named=True):
        out.append(f"  {r['service_date']} day {r['episode_day']:>3} {r['source']} {r['code'] or '-':<8} "
                   f"{r['service_category']:<11} {r['billed_by']:<18} {_money(r['cost_amount']):>12}  claim "
                   f"{r['claim_control_number']} line {r['line_number']}  {r['source_file']} row {r['source_row']}")
    return out


def run(args) -> int:
    e = Explainer(args.out, args.performance_year)
    p = e.participant(args.tin.strip(), args.npi.strip(), args.cohort)
    key = {k: p[k] for k in PARTICIPANT}
    out = [f"asm explain: TIN {p['tin']}, NPI {p['npi']}, cohort {p['cohort']}, PY {p['performance_year']} "
           f"({e.wh.warehouse_dir})"]
    out += _final(p, e.one("payment_adjustments", key), _run_scoring_params(args.out, e.py))
    out += _projection(e.one("projected_scores", key))
    out += _quality(e, p)
    out += _cost(e, p)
    out += _episodes(e, p, args.show_ids)
    if args.episode:
        out += _episode_lines(e, p, args.episode.strip(), args.show_ids)
    print("\n".join(out))
    return 0
