"""Access events waiting to be written: a decision is not lost to a busy or full store.

A store held by another writer past its busy timeout (``jaga store rekey`` re-encrypts the
whole file in one transaction), or a full disk, refuses a write for a while. The kiosk goes
on deciding; each event keeps its uid and time and is written, in order, once the store
is free, while the screen says how many wait. Waiting, an event is only in memory: a process
killed then (a power cut, the OOM killer) loses it, so the session lets nobody in on one
(no welcome until it is written: :mod:`desktop.kiosk.session`). A refused write costs the
kiosk's short busy timeout (``KIOSK_BUSY_TIMEOUT_S``: its writes are one row), and while
events wait it is tried again at most every ``RETRY_S``, so frames go on at nearly their
usual pace.
Anything else the store raises is not a wait and goes up.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

from sync import plural
from sync.errors import StoreFullError, StoreLockedError
from sync.store import AccessEvent, Store

WAITS = (StoreLockedError, StoreFullError)
# How long the kiosk's own connection waits for the write lock: a sync's or an operator's
# transaction of ordinary size ends well within it; a long one makes the events wait.
KIOSK_BUSY_TIMEOUT_S = 0.25
RETRY_S = 2.0


class EventWriter:
    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._refused_at: float | None = None
        self._waiting: deque[AccessEvent] = deque()
        self.problem: str | None = None
        """Why events wait, and how many; None when none do."""

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def queue(self, events: Iterable[AccessEvent]) -> None:
        self._waiting.extend(events)

    def flush(self, *, now: bool = False) -> tuple[AccessEvent, ...]:
        """Write what waits, oldest first, until the store refuses; the events written.
        ``now`` tries at once, however recently the store refused (a stop)."""
        refused = self._refused_at
        if refused is not None and self._clock() - refused < RETRY_S and not now:
            return ()
        written = []
        while self._waiting:
            try:
                self._store.access.record(self._waiting[0])
            except WAITS as error:
                self._refused_at = self._clock()
                waiting = plural.counted(len(self._waiting), "decision")
                self.problem = f"{waiting} not yet written: {error}"
                break
            written.append(self._waiting.popleft())
        else:
            self._refused_at, self.problem = None, None
        return tuple(written)
