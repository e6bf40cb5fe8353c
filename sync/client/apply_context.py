"""What applying one pulled page shares with each change's handler (``sync.client.apply``).

A handler answers with an ``Outcome``: None when the change applied, a reason when it was
skipped, or ``NotYet`` when it cannot apply here yet but may later (it is set aside).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sync.protocol import Change
from sync.store import Store


@dataclass
class Tally:
    """Counts for one page, filled while its transaction runs (never leaves the apply modules)."""

    applied: int = 0
    erased: int = 0
    skipped: list[str] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)

    def skip(self, change: Change, reason: str) -> None:
        self.skipped.append(f"{change.entity} {change.entity_uid}: {reason}")

    def set_aside_for_now(self, change: Change, reason: str) -> None:
        self.set_aside.append(f"{change.entity} {change.entity_uid}: {reason}")


@dataclass(frozen=True)
class PageContext:
    store: Store
    connection: Any
    now: datetime
    tally: Tally
    site: str
    device: UUID | None = None  # this device, as the hub names it
    origin: UUID | None = None  # the device that made the change in hand (None: the hub)
    # The change in hand's ``changed_at``: no earlier than any field stamp of its record.
    changed_at: datetime | None = None
    hub_now: datetime | None = None  # the hub's time in the answer (its Date), if it said
    seen_until: int = 0  # pulling the site again: the cursor older code had reached
    # Pulling the site again: the records it added, whose later replays it takes too.
    took: set[str] = field(default_factory=set)
    replayed: bool = False  # the change in hand is at or before ``seen_until``
    renewed: bool = False  # pulling again a log the hub renewed (``sync.client.log_epoch``)
    hub: str | None = None  # the hub pulled from (a ``hub_stamp``), whose its catches are


@dataclass(frozen=True)
class NotYet:
    """A handler's answer for a change that cannot apply here yet but may later."""

    reason: str


Outcome = str | NotYet | None  # None: applied; a str: skipped, with why


def held_before_replay(context: PageContext, table: str, column: str, uid: str) -> bool:
    """Whether the change in hand is a replay (``sync.client.full_pull``) of a record this
    device held before the re-pull; else, for a replay, note the record as the re-pull's."""
    if not context.replayed or uid in context.took:
        return False
    row = context.connection.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", (uid,)).fetchone()
    if row is None:
        context.took.add(uid)
    return row is not None
