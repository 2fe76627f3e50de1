"""A deliberately simple, slow, plain-Python reading of rules E1-E4 and A1-A2, used only by the
differential test. It shares nothing with the SQL but the code-list CSV files and the methodology
parameters: brute force over all pairs of lines, a plain loop for E4, exact fractions for A2."""
from __future__ import annotations

import csv
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path


def load_lists(code_list_dir: Path) -> list[dict]:
    rows = []
    for name in ("diagnoses.csv", "trigger_services.csv", "places_of_service.csv"):
        with open(code_list_dir / name) as fh:
            for r in csv.DictReader(fh):
                rows.append({"code": r["code"].replace(".", "").upper(), "cohort": r["cohort"], "list": r["list_name"],
                             "from": date.fromisoformat(r["valid_from"]), "to": date.fromisoformat(r["valid_to"])})
    return rows


def on_list(lists, list_name, cohort, code, when) -> bool:
    return any(r["list"] == list_name and r["cohort"] == cohort and r["code"] == code and r["from"] <= when <= r["to"]
               for r in lists)


def qualifying(line: dict, cohort: str, lists, claim_types) -> bool:
    """E1."""
    d = line["service_date"]
    dxs = [line["line_dx"]] + list(line["claim_dx"] or [])
    return (line["claim_type"] in claim_types
            and line["allowed_amount"] > 0
            and on_list(lists, "trigger_service", cohort, line["hcpcs"], d)
            and on_list(lists, "place_of_service", cohort, line["place_of_service"], d)
            and any(x is not None and on_list(lists, "diagnosis", cohort, x, d) for x in dxs))


def reference_episodes(lines: list[dict], deaths: dict[str, date], *, lists, windows: dict[str, int],
                       pair_scope: str, episode_days: int, claim_types, threshold: Fraction) -> tuple[list, list]:
    """Returns (episodes, attribution rows) as plain tuples:
    episode  (bene, cohort, trigger_date, confirming_date, end_date, trigger_tin, trigger_npi,
              trigger_ccn, trigger_line, confirming_npi, confirming_ccn, confirming_line)
    attrib   (bene, cohort, trigger_date, tin, npi, qualifying_lines, attributed)"""
    episodes, attribution = [], []
    benes = sorted({x["bene_id"] for x in lines})
    for cohort, window in windows.items():
        for b in benes:
            q = [x for x in lines if x["bene_id"] == b and qualifying(x, cohort, lists, claim_types)]

            def same_participant(t, c):
                if t["tin"] is None or t["tin"] != c["tin"]:
                    return False
                return pair_scope == "tin" or (t["npi"] is not None and t["npi"] == c["npi"])

            # E2: every (trigger, confirming) pair; the earliest trigger, then its earliest confirmation.
            pairs = [(t, c) for t in q for c in q
                     if same_participant(t, c) and 1 <= (c["service_date"] - t["service_date"]).days <= window]

            def pair_key(p):
                t, c = p
                return (t["service_date"], c["service_date"], t["tin"], t["npi"] or "", t["claim_control_number"],
                        t["line_number"], c["npi"] or "", c["claim_control_number"], c["line_number"])

            pairs.sort(key=pair_key)
            last_end = None
            for t, c in pairs:
                # E4: the next episode's trigger must be after the previous episode's end.
                if last_end is not None and t["service_date"] <= last_end:
                    continue
                start = t["service_date"]
                end = start + timedelta(days=episode_days - 1)  # E3
                death = deaths.get(b)
                if death is not None and start <= death < end:
                    end = death
                last_end = end
                episodes.append((b, cohort, start, c["service_date"], end, t["tin"], t["npi"],
                                 t["claim_control_number"], t["line_number"], c["npi"], c["claim_control_number"],
                                 c["line_number"]))
                # A1: qualifying lines of any biller inside [start, end]; A2 share >= threshold.
                inside = [x for x in q if start <= x["service_date"] <= end]
                counts: dict[tuple, int] = {}
                for x in inside:
                    counts[(x["tin"], x["npi"])] = counts.get((x["tin"], x["npi"]), 0) + 1
                for (tin, npi), n in counts.items():
                    if tin is None or npi is None:
                        continue
                    attribution.append((b, cohort, start, tin, npi, n, Fraction(n, len(inside)) >= threshold))
    return episodes, attribution
