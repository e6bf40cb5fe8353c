"""CSV export of access events (attendance) and fish observations.

The export is plaintext by design: the operator asked for it and chose where it goes. Text
that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage
return first) is prefixed with an apostrophe, because notes and names are typed by people and
opened in Excel, and every cell is in double quotes, so that a spreadsheet splitting the file
on ``;`` starts no cell inside one (OWASP's advice, as ``corrections.csv`` keeps it).

A fish observation's ``top_species`` and ``top_confidence`` are the species pack's answer:
its best species when its ``status`` is ``identified``, and empty when it is ``unknown``
(the best scored below the pack's open-set threshold) or ``no_fish`` (the pack found
no fish), since the pack named no species then; its candidates stay in ``predictions``.
An empty ``status`` is a record made before the store kept it (schema 8): its top
prediction is given, as it always was, but nothing says whether the pack named it. The
species an officer confirmed, whatever the status, is ``confirmed_species``; ``not_a_fish``
is 1 where a reviewer answered that the photo shows no fish (whatever the pack named).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

from sync.spreadsheet_text import spreadsheet_cell
from sync.store.database import Database

ACCESS_HEADER = (
    "occurred_at",
    "site",
    "device",
    "decision",
    "person_uid",
    "external_id",
    "display_name",
    "similarity",
    "liveness",
    "event_uid",
    "clock_suspect",  # why the kiosk's clock was judged wrong then; empty: it was not
)
FISH_HEADER = (
    "observed_at",
    "top_species",
    "top_confidence",
    "predictions",
    "confirmed_species",
    "needs_review",
    "latitude",
    "longitude",
    "vessel",
    "trip",
    "haul",
    "count",
    "length_cm",
    "officer",
    "notes",
    "photo_uid",
    "observation_uid",
    # New columns go last, so that readers of the columns before them by position still work.
    "pack_version",
    "crop_x",  # the fish's box in the photo (pixels); empty: the whole photo
    "crop_y",
    "crop_w",
    "crop_h",
    "status",  # identified, unknown or no_fish; empty: not recorded (before schema 8)
    "status_reason",  # why the pack found no fish
    "not_a_fish",  # 1: a reviewer answered that the photo shows no fish (no species)
)
_ALL_TIME = ("", "\uffff")


def export_access_events(
    database: Database, out: TextIO, since: str | None = None, until: str | None = None
) -> int:
    """Write access events with ``since <= occurred_at < until``; returns the row count."""
    sql = (
        "SELECT a.occurred_at, a.site, a.device, a.decision, a.person_uid, p.external_id,"
        " p.display_name, a.similarity, a.liveness, a.event_uid, a.clock_suspect"
        " FROM access_events a"
        " LEFT JOIN people p ON p.person_uid = a.person_uid"
        " WHERE a.occurred_at >= ? AND a.occurred_at < ? ORDER BY a.occurred_at, a.id"
    )
    return _write(database, out, ACCESS_HEADER, sql, _range(since, until), shape=_same)


def export_fish_observations(
    database: Database, out: TextIO, since: str | None = None, until: str | None = None
) -> int:
    """Write fish observations with ``since <= observed_at < until``; returns the row count."""
    sql = (
        "SELECT o.observed_at, o.predictions, o.confirmed_species, o.needs_review, o.latitude,"
        " o.longitude, o.vessel, o.trip, o.haul, o.count, o.length_cm, o.officer, o.notes,"
        " p.photo_uid, o.observation_uid, o.pack_version, o.crop_x, o.crop_y, o.crop_w, o.crop_h,"
        " o.status, o.status_reason,"
        " o.reviewed_by IS NOT NULL AND o.confirmed_species IS NULL FROM fish_observations o"
        " LEFT JOIN photos p ON p.id = o.photo_id"
        " WHERE o.observed_at >= ? AND o.observed_at < ? ORDER BY o.observed_at, o.id"
    )
    return _write(database, out, FISH_HEADER, sql, _range(since, until), shape=_fish_row)


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (``sync.spreadsheet_text``, the rule of
    the corrections export too); leave numbers and empties alone."""
    if isinstance(value, str):
        return spreadsheet_cell(value)
    return "" if value is None else value


def _write(
    database: Database,
    out: TextIO,
    header: Iterable[str],
    sql: str,
    parameters: tuple[str, str],
    *,
    shape: Any,
) -> int:
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)  # see the module
    writer.writerow(header)
    count = 0
    with database.read() as connection:
        for row in connection.execute(sql, parameters):
            writer.writerow([safe_cell(cell) for cell in shape(row)])
            count += 1
    return count


def _same(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row


def _fish_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    observed_at, predictions, *rest = row
    status = rest[-3]
    top = json.loads(predictions) if status in (None, "identified") else []  # see the module
    top_species, top_confidence = top[0] if top else ("", "")
    confirmed, review, *tail = rest
    return (observed_at, top_species, top_confidence, predictions, confirmed, int(review), *tail)


def _range(since: str | None, until: str | None) -> tuple[str, str]:
    return (since or _ALL_TIME[0], until or _ALL_TIME[1])
