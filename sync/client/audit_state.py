"""What anchoring keeps in the store's ``sync_state`` (``sync.client.audit`` keeps it).

The hub's receipt (the newest entry it holds, ``Anchored``) is kept per device id, as
``audit.anchored.<device id>`` (``anchored_name``), and when it came as
``audit.anchored_at.<device id>`` (``anchored_at_name``): a store registered again as
another device starts that device's chain. Beside it: the problem that stopped the last
anchoring (``PROBLEM_NAME``, with ``BREAK_NAME`` set for an audit break), read by ``jaga sync
status`` and the app, and the last batch's number (``BATCH_NUMBER_NAME``). Where the device's
anchoring begins is noted at its registration (``sync.client.audit_start``), and read here
as the entry before it (``Anchored.before_start``).

The receipt lives in the store, so a restored backup brings back the receipt it held: the
device then sends from there, the hub finds the restored chain's ``store.restored`` entry
where it holds another (if it holds entries newer than the backup) and refuses it. A hub
restored from an older backup of its own is asked again (``ask_again``): the kept receipt
moves back one entry, so the next sync sends that entry again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sync.client.audit_start import begins_name
from sync.store.audit_begins import ANCHORED_AT_PREFIX, ANCHORED_PREFIX
from sync.store.state_rows import get_value, put_value

PROBLEM_NAME = "audit.problem"
BREAK_NAME = "audit.break_open"  # "1": the problem is an audit break the hub's admin must close
BATCH_NUMBER_NAME = "audit.batch_number"  # the last batch's number, for every device id


def anchored_name(device_id: UUID | str) -> str:
    # Per device id: a store registered again as another device starts that device's chain.
    return f"{ANCHORED_PREFIX}{device_id}"


def anchored_at_name(device_id: UUID | str) -> str:
    return f"{ANCHORED_AT_PREFIX}{device_id}"


@dataclass(frozen=True)
class Anchored:
    """The newest entry the hub said it holds (sequence 0: none yet)."""

    sequence: int = 0
    entry_hash: str = ""

    def stored(self) -> str:
        return f"{self.sequence} {self.entry_hash}".strip()

    @classmethod
    def from_values(cls, values: Mapping[str, str], device_id: UUID | str) -> Anchored:
        sequence, _, digest = values.get(anchored_name(device_id), "").partition(" ")
        return cls(int(sequence), digest) if sequence.isdigit() else cls()

    @classmethod
    def before_start(cls, values: Mapping[str, str], device_id: UUID | str) -> Anchored:
        """The entry before the one the device's anchoring begins with: its registration's
        (``sync.client.audit_start``); sequence 0 for a device registered before those."""
        sequence, _, digest = values.get(begins_name(device_id), "").partition(" ")
        return cls(int(sequence) - 1, digest) if sequence.isdigit() and digest else cls()


def ask_again(connection: Any, device_id: UUID | str, now: datetime) -> None:
    """Inside the caller's write transaction, move the kept receipt back one entry: the next
    sync sends that entry again, and a hub that lost the entries after it (its database
    restored from a backup: ``sync.client.log_epoch``) answers ``audit_gap`` from the entry
    it holds, from which the rest goes again; a hub that holds it stores nothing new. Kept
    as it was, a chain the device had anchored whole would not be sent again until its next
    entry."""
    kept = Anchored.from_values(
        {anchored_name(device_id): get_value(connection, anchored_name(device_id)) or ""},
        device_id,
    )
    if kept.sequence == 0:
        return
    row = connection.execute(
        "SELECT entry_hash FROM audit_log WHERE sequence = ?", (kept.sequence - 1,)
    ).fetchone()
    before = Anchored(kept.sequence - 1, str(row[0])) if row else Anchored()
    put_value(connection, anchored_name(device_id), before.stored(), now)
