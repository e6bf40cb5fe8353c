"""Badge numbers (a person's ``external_id``) at this device's enrolments.

What a new badge may be and when two are one is ``sync.badges`` (the hub judges pushed badges
by it too): ``badge_problem`` says why a badge cannot be enrolled, naming it for the operator
who typed it, and ``badge_key`` is re-exported here. The key is only compared, never stored:
people pulled from the hub keep applying exactly as before (their badge is the hub's to judge),
and lookups (``--claim``, ``jaga store erase``) take an id by its key when none is stored
exactly so (``same_badge``); an enrolment is refused, naming the holder, by
``refuse_held_badge``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.badges import badge_flaw, badge_key
from sync.errors import RecordConflictError
from sync.store.audit import terminal_text

__all__ = ["BADGES", "badge_key", "badge_problem", "refuse_held_badge", "same_badge"]

# Every badge here, for ``same_badge``.
BADGES = "SELECT person_uid, external_id, display_name FROM people ORDER BY external_id"


def badge_problem(external_id: str) -> str | None:
    """Why ``external_id`` cannot be a new badge, or None when it can."""
    flaw = badge_flaw(external_id)
    return None if flaw is None else f"the external id {external_id!r} {flaw}"


def refuse_held_badge(connection: Any, external_id: str) -> None:
    """Refuse a new badge that reads as one enrolled here, naming its holder."""
    for uid, held, name in same_badge(connection.execute(BADGES).fetchall(), external_id):
        same = "" if held == external_id else f" as {held!r}"
        raise RecordConflictError(
            f"badge {external_id!r} is already enrolled{same} ({terminal_text(name)}, person"
            f" {uid}); erase it first, or give another id (ids are compared ignoring case,"
            " width and look-alike letters)"
        )


def same_badge(rows: Sequence[Any], external_id: str) -> list[tuple[str, str, str]]:
    """(uid, external id, name) of the ``rows`` (``BADGES``) whose badge reads as
    ``external_id``. The key is not stored (pulled people apply as they always did), so
    every badge is read: a few thousand at a kiosk, at an enrolment or a badge not found as
    typed."""
    key = badge_key(external_id)
    return [(str(u), str(e), str(n)) for u, e, n in rows if badge_key(str(e)) == key]
