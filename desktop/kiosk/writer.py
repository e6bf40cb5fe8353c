"""Access events waiting to be written: a decision is not lost to a busy or full store.

A store held by another writer past its busy timeout (a long sync, ``jaga store backup``),
or a full disk, refuses a write for a while. The kiosk goes on deciding; each event keeps its
uid and time and is written, in order, once the store is free, while the screen says how many
wait. Each one that waits is also kept on disk (:mod:`desktop.kiosk.journal`) before its frame
is shown, so a process killed meanwhile (a power cut, the OOM killer) loses none: the next
start writes what it kept first. Only one the journal could not keep either (its disk full
too) is in memory alone, and said so; the session lets nobody in on any waiting decision
(no welcome until it is written: :mod:`desktop.kiosk.session`). A refused write costs the
kiosk's short busy timeout (``KIOSK_BUSY_TIMEOUT_S``: its writes are one row), and while
events wait it is tried again at most every ``RETRY_S``, so frames go on at nearly their
usual pace.
Anything else the store raises is not a wait and goes up.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from desktop.kiosk.journal import DecisionJournal
from sync import plural
from sync.errors import StoreError, StoreFullError, StoreLockedError
from sync.store import AccessEvent, Store

_log = logging.getLogger(__name__)
WAITS = (StoreLockedError, StoreFullError)
# How long the kiosk's own connection waits for the write lock: a sync's or an operator's
# transaction of ordinary size ends well within it; a long one makes the events wait.
KIOSK_BUSY_TIMEOUT_S = 0.25
RETRY_S = 2.0


class EventWriter:
    """Writes a store's access events, in order; with the events an earlier process kept
    waiting (its journal) first."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._refused_at: float | None = None
        self._journal = DecisionJournal(store)
        try:
            kept = self._journal.kept()  # a full disk may keep it from opening
        except BaseException:
            self._journal.close()  # its hold too: the start is tried again, and takes it anew
            raise
        self._waiting: deque[AccessEvent] = deque(kept)
        self._kept = {event.event_uid for event in self._waiting}  # on disk, in the journal
        self._earlier = frozenset(self._kept)  # decided before this process started
        self._refusal: str | None = None  # the store's, while events wait
        self._unkept_why: str | None = None  # the journal's, while some are not kept
        self._unkept_said: set[str] = set()  # the uids the log said were in memory only

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def problem(self) -> str | None:
        """Why events wait, and how many; None when none do."""
        if self._refusal is None or self._unkept_why is None or not self.unkept:
            return self._refusal
        return f"{self._refusal}; {self.unkept} in memory only: {self._unkept_why}"

    @property
    def journal(self) -> str:
        return str(self._journal.path)

    @property
    def journal_set_aside(self) -> Path | None:
        """Where the journal found under another key at the start was set aside."""
        return self._journal.set_aside

    def from_earlier_run(self, event: AccessEvent) -> bool:
        """Whether the event is one this process found waiting in the journal at its start
        (an earlier run, killed, or another kiosk process on the store): not decided here."""
        return event.event_uid in self._earlier

    @property
    def earlier_run(self) -> frozenset[str]:
        """The uids of those events: fixed at the start, so another thread may hold it."""
        return self._earlier

    @property
    def unkept(self) -> int:
        """Events waiting in memory only: a kill would lose them."""
        return sum(event.event_uid not in self._kept for event in self._waiting)

    def queue(self, events: Iterable[AccessEvent]) -> None:
        self._waiting.extend(events)

    def flush(self, *, now: bool = False) -> tuple[AccessEvent, ...]:
        """Write what waits, oldest first, until the store refuses; the events written.
        ``now`` tries at once, however recently the store refused (a stop). What still
        waits after is kept in the journal, whatever was raised."""
        try:
            written = self._write(now=now)
        finally:
            self._keep_waiting()
        self._forget(written)
        return written

    def close(self) -> None:
        self._journal.close()

    def _write(self, *, now: bool) -> tuple[AccessEvent, ...]:
        refused = self._refused_at
        if refused is not None and self._clock() - refused < RETRY_S and not now:
            return ()
        written = []
        while self._waiting:
            try:
                self._record(self._waiting[0])
            except WAITS as error:
                self._refused_at = self._clock()
                waiting = plural.counted(len(self._waiting), "decision")
                self._refusal = f"{waiting} not yet written: {error}"
                break
            written.append(self._waiting.popleft())
        else:
            self._refused_at, self._refusal = None, None
        return tuple(written)

    def _record(self, event: AccessEvent) -> None:
        """Write the event, once. The store may have it already: one an earlier process kept
        was written just before that process was killed, or another kiosk process on this
        store found it in the journal at its start and wrote it first. The store refuses it
        again (access events are append-only), and that refusal is no failure."""
        try:
            self._store.access.record(event)
        except Exception:
            if not self._store.access.recorded(event.event_uid):
                raise
            _log.info("access event %s was already in the store", event.event_uid)

    def _keep_waiting(self) -> None:
        """Keep on disk the events that wait and are not kept yet; one the journal cannot
        take either (its disk full too) stays in memory, and the problem says so. Tried on
        every frame; the log says each event in memory only once, not on every frame."""
        unkept = [event for event in self._waiting if event.event_uid not in self._kept]
        if not unkept:
            return
        try:
            self._journal.keep(unkept)
        except StoreError as error:
            new = {event.event_uid for event in unkept} - self._unkept_said
            if new:
                _log.warning("%s waiting in memory only: %s",
                             plural.counted(len(new), "decision"), error)  # fmt: skip
            self._unkept_said.update(new)
            self._unkept_why = str(error)
        else:
            self._kept.update(event.event_uid for event in unkept)
            if self._unkept_why is not None:
                _log.info("%s kept in %s again", plural.counted(len(unkept), "decision"),
                          self._journal.path)  # fmt: skip
            self._unkept_why = None
        self._unkept_said &= {event.event_uid for event in self._waiting}

    def _forget(self, written: tuple[AccessEvent, ...]) -> None:
        """The store has them: out of the journal. A failure here is harmless (the next start
        finds them in the store) and only logged."""
        kept = [event for event in written if event.event_uid in self._kept]
        try:
            self._journal.forget(kept)
        except StoreError as error:
            _log.warning("written decisions stay in %s until the next start: %s",
                         self._journal.path, error)  # fmt: skip
            return
        self._kept.difference_update(event.event_uid for event in kept)
