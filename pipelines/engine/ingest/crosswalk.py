"""N1: resolve the beneficiary id cross-walk (CCLF9) to each id's most recent id.

CMS sends the cross-walk cumulatively, so only the most recent delivery is used. Chains are followed
(A->B->C maps A and B to C); cycles are survived: every id on or leading into a cycle maps to the
smallest id of the cycle [DEFAULT tie-break, deterministic]. When one previous id has several rows in
the delivery, the row with the latest PRVS_ID_EFCTV_DT (then the largest current id) wins [DEFAULT].
Self-mapping rows (A->A) say nothing and are ignored. Effective dates are otherwise informational.
This loops over cross-walk rows (one per id change), never over claim lines.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date


def choose_edges(rows: Iterable[tuple[str, str, date | None]]) -> dict[str, str]:
    """(previous_id, current_id, effective_date) rows of one delivery -> previous -> current."""
    best: dict[str, tuple[date, str]] = {}
    for previous, current, effective in rows:
        if not previous or not current or previous == current:
            continue
        key = (effective or date.min, current)
        if previous not in best or key > best[previous]:
            best[previous] = key
    return {prev: cur for prev, (_, cur) in best.items()}


def resolve(edges: dict[str, str]) -> dict[str, str]:
    """Map every id that appears as a previous id to its final id (chains followed, cycles survived)."""
    final: dict[str, str] = {}
    for start in edges:
        if start in final:
            continue
        path: list[str] = []
        seen: dict[str, int] = {}
        node = start
        while node in edges and node not in final and node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = edges[node]
        if node in final:
            target = final[node]
        elif node in seen:  # cycle: path[seen[node]:] are the cycle's members
            cycle = path[seen[node]:]
            target = min(cycle)
        else:  # end of a chain: an id with no newer id
            target = node
        for member in path:
            final[member] = target
    return {prev: cur for prev, cur in final.items() if prev != cur}
