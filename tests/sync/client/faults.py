"""The fault table of the Show figures: runs, records, lost and duplicated per fault.

Tests call ``record`` once per run; the package's ``conftest`` prints the table at the end
of the session, and writes it as JSON to ``$JAGA_SYNC_FAULT_REPORT`` when that is set. Load
test figures are kept the same way under ``figures``.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass

from tests.sync.client.hubcheck import Tally

REPORT_ENV = "JAGA_SYNC_FAULT_REPORT"


@dataclass
class _Row:
    runs: int = 0
    records: int = 0
    lost: int = 0
    duplicated: int = 0


_rows: dict[str, _Row] = {}
_figures: dict[str, dict[str, float]] = {}
_lock = threading.Lock()


def record(fault: str, tally: Tally) -> None:
    with _lock:
        row = _rows.setdefault(fault, _Row())
        row.runs += 1
        row.records += tally.records
        row.lost += tally.lost
        row.duplicated += tally.duplicated


def record_figures(name: str, figures: dict[str, float]) -> None:
    with _lock:
        _figures[name] = dict(figures)


def summary_lines() -> list[str]:
    with _lock:
        rows = dict(_rows)
        figures = dict(_figures)
    lines: list[str] = []
    if rows:
        lines.append(f"{'fault':<52} {'runs':>5} {'records':>8} {'lost':>5} {'dup':>5}")
        for fault, row in rows.items():
            lines.append(
                f"{fault:<52} {row.runs:>5} {row.records:>8} {row.lost:>5} {row.duplicated:>5}"
            )
        total = _Row(
            sum(r.runs for r in rows.values()),
            sum(r.records for r in rows.values()),
            sum(r.lost for r in rows.values()),
            sum(r.duplicated for r in rows.values()),
        )
        lines.append(
            f"{'total':<52} {total.runs:>5} {total.records:>8} {total.lost:>5} "
            f"{total.duplicated:>5}"
        )
    for name, values in figures.items():
        lines.append(f"{name}: " + ", ".join(f"{k} {v:g}" for k, v in values.items()))
    return lines


def report_path() -> str | None:
    return os.environ.get(REPORT_ENV) or None


def report_json() -> str:
    with _lock:
        body = {
            "faults": {fault: asdict(row) for fault, row in _rows.items()},
            "figures": _figures,
        }
    return json.dumps(body, indent=2)
