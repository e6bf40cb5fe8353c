"""Access events waiting to be written: a decision is never lost to a busy or full store.

A store held by another writer past its busy timeout (``jaga store rekey`` re-encrypts the
whole file in one transaction), or a full disk, refuses a write for a while. The kiosk goes
on deciding; each event keeps its uid and time and is written, in order, at the next
frame that finds the store free, while the screen says how many wait. Anything else the
store raises is not a wait and goes up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from sync.errors import StoreFullError, StoreLockedError
from sync.store import AccessEvent, Store

WAITS = (StoreLockedError, StoreFullError)


class EventWriter:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._waiting: deque[AccessEvent] = deque()
        self.problem: str | None = None
        """Why events wait, and how many; None when none do."""

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def queue(self, events: Iterable[AccessEvent]) -> None:
        self._waiting.extend(events)

    def flush(self) -> tuple[AccessEvent, ...]:
        """Write what waits, oldest first, until the store refuses; the events written."""
        written = []
        while self._waiting:
            try:
                self._store.access.record(self._waiting[0])
            except WAITS as error:
                self.problem = f"{len(self._waiting)} decisions wait to be written: {error}"
                break
            written.append(self._waiting.popleft())
        else:
            self.problem = None
        return tuple(written)
