"""Where the audit chain's times go back: entries dated well before one it recorded earlier.

Each entry is dated by this device's clock when it was made. A clock reset by a flat RTC
battery (to 2000) dates every entry after it years back; one that ran ahead and was set
right dates the entries before it ahead. Either way the times around the step are not to
be trusted, and nothing else says so: the chain's hashes are whole. The chain keeps those
times (they are what the clock said, and what was hashed), and ``jaga audit verify`` and
``jaga store info`` tell the auditor where they go back (``set_back``). A step back of up to
``BEHIND_TOLERANCE`` is ordinary (NTP stepping the clock) and is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sync.store.clock import parse_timestamp
from sync.store.clock_floor import device_clock_warning
from sync.store.database import Database
from sync.store.edit_clock import BEHIND_TOLERANCE
from sync.store.store import Store

_BATCH = 5000


@dataclass(frozen=True)
class SetBack:
    """The entries dated more than ``BEHIND_TOLERANCE`` before an entry made earlier."""

    count: int
    first: int
    """The sequence of the first of them."""
    first_at: str
    after: str
    """The newest time recorded before it."""

    def words(self) -> str:
        return (
            f"{self.count} audit {'entry' if self.count == 1 else 'entries'} dated more than"
            f" {int(BEHIND_TOLERANCE.total_seconds() // 60)} minutes before an earlier one"
            f" (the first, entry {self.first}, at {self.first_at}, after {self.after}): this"
            " device's clock was set back, or had run ahead; those times are not to be trusted"
        )


def set_back(database: Database) -> SetBack | None:
    """The entries kept whose time goes back (see the module); None if none does."""
    count, first, newest, newest_at = 0, None, None, None  # newest: text; newest_at: parsed
    after = 0
    while batch := database.query(
        "SELECT sequence, at FROM audit_log WHERE sequence > ? ORDER BY sequence LIMIT ?",
        (after, _BATCH),
    ):
        for sequence, text in batch:
            at = str(text)
            if newest is None or at > newest:  # the fixed-width format orders as text
                newest, newest_at = at, None
            elif at < newest:
                newest_at = newest_at or parse_timestamp(newest)
                if _back(at, newest_at):
                    count += 1
                    first = first or (int(sequence), at, newest)
        after = batch[-1][0]
    return None if first is None else SetBack(count, *first)


def time_warnings(store: Store) -> list[str]:
    """What ``jaga audit verify`` and ``jaga store info`` say of the chain's times: where
    they go back (``set_back``), and why this device's clock looks wrong now (the entries
    it makes are dated by it: ``clock_floor.device_clock_warning``)."""
    stepped = set_back(store.database)
    with store.database.read() as connection:
        clock = device_clock_warning(connection, store.clock)
    now = None if clock is None else f"{clock}; the audit entries made now are dated by it"
    return [words for words in (stepped and stepped.words(), now) if words]


def _back(at: str, newest: datetime) -> bool:
    return parse_timestamp(at) < newest - BEHIND_TOLERANCE
