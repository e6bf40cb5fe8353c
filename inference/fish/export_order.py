"""The order several exports' CSVs are read in: oldest first, by the time their rows carry.

A hub's export outranks every device's, whatever the times; exports without a time keep the
order given among themselves, read before or after the timed ones by where they are listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from inference.fish.correction_rows import Correction, Written
from inference.fish.errors import DatasetError


def export_order(
    exports: list[tuple[Path, list[Correction]]], say: Callable[[str], None]
) -> list[tuple[Path, list[Correction]]]:
    """The exports oldest first by the time their rows carry (a hub's after every device's:
    a device's clock may be wrong, and the hub holds every answer a device synced). Those
    without one (written before the column) keep the order given among themselves: the ones
    listed after every export that has one are read after them, the others before, with a
    note saying which."""
    timed: list[tuple[Path, list[Correction]]] = []
    untimed: list[tuple[int, Path, list[Correction]]] = []
    for place, (path, items) in enumerate(exports):
        times = {item.written for item in items} - {None}
        if len(times) > 1:
            raise DatasetError(
                f"{path} holds rows of several exports (exported_at differs); give each"
                " export's own CSV"
            )
        if times:  # a row added by hand, without a time, is of its CSV's export
            [when] = times
            timed.append((path, [replace(item, written=when) for item in items]))
        else:
            untimed.append((place, path, items))
    last_timed = _last_timed(exports)
    before = [(path, items) for place, path, items in untimed if place < last_timed]
    after = [(path, items) for place, path, items in untimed if place > last_timed]
    if len(exports) > 1:
        _say_untimed(before, after, bool(timed), say)
    ordered = sorted(timed, key=lambda export: export[1][0].written or Written(0, _EPOCH))
    return before + ordered + after


def _last_timed(exports: list[tuple[Path, list[Correction]]]) -> int:
    """Where the last CSV that carries a time is listed; -1 where none does."""
    places = [
        place
        for place, (_, items) in enumerate(exports)
        if any(item.written is not None for item in items)
    ]
    return max(places, default=-1)


_UNTIMED = "no exported_at (written before exports recorded their time)"


def _say_untimed(
    before: list[tuple[Path, list[Correction]]],
    after: list[tuple[Path, list[Correction]]],
    any_timed: bool,
    say: Callable[[str], None],
) -> None:
    """Which CSVs without a time were read where (a header-only one adds nothing)."""
    first = ", ".join(str(path) for path, items in before if items)
    last = ", ".join(str(path) for path, items in after if items)
    if not any_timed:
        if last:
            say(f"{last}: {_UNTIMED}; read in the order given, taken as oldest first")
        return
    if first:
        say(
            f"{first}: {_UNTIMED}; read before every CSV that has one, in the order given"
            " (list a CSV after every CSV that has one to read it after them)"
        )
    if last:
        say(
            f"{last}: {_UNTIMED}; listed after every CSV that has one, so read after them,"
            " in the order given"
        )


_EPOCH = datetime.min.replace(tzinfo=UTC)
