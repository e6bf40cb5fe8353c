"""How ``jaga kiosk run`` stops on a signal: SIGTERM (systemd's stop, ``kill``, ``docker
stop``) the way Ctrl-C (SIGINT) does.

Python's default for SIGTERM ends the process at once, running no ``finally``: whoever stood
at the kiosk was never decided nor recorded, the store and the kiosk's journal were left
open (their write-ahead logs on disk), and no summary was printed. :class:`StopSignals`
turns either signal into an exception in the main thread, :class:`Terminated` for SIGTERM:
a ``KeyboardInterrupt``, so that it takes Ctrl-C's way out (a camera read waiting is given
up, the open tracks are decided and recorded, the summary printed).

It is raised where the run waits: the models' load, the store's open, the next frame (a
camera is read on its own thread, and the main thread waits for it in Python, which runs
the handler at once). Not in the middle of a frame: a frame's decisions go from the
pipeline to the store and to the output together, and an exception between the two would
leave a decision the pipeline will not make again unprinted, or unrecorded; the stop is
raised when the next frame is asked for. Once the frames are over, by the source's end or
a stop, a signal is only noted: the recording of the last tracks and the store's close are
not cut, by a second signal either (systemd sends SIGKILL after its stop timeout anyway).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

Item = TypeVar("Item")

# 128 + the signal's number: the status a shell shows for a process the signal ended, as
# Ctrl-C's 130; the run stopped before its source ended, its decisions recorded all the same.
INTERRUPTED_STATUS = 128 + signal.SIGINT
TERMINATED_STATUS = 128 + signal.SIGTERM
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Terminated(KeyboardInterrupt):
    """SIGTERM asked the kiosk to stop."""


def stopped_status(stopped: KeyboardInterrupt) -> int:
    """The exit status of a run that ``stopped`` ended."""
    return TERMINATED_STATUS if isinstance(stopped, Terminated) else INTERRUPTED_STATUS


class StopSignals:
    """SIGTERM and SIGINT, while :meth:`installed`, as :class:`Terminated` and
    ``KeyboardInterrupt`` raised in the main thread, at the points the module names."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        """The first stop signal received, raised or only noted; None: none."""
        self._raised = False
        self._held = False  # a frame is being decided, or the frames are over

    @contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """The handlers in place, the ones before put back after. Only the main thread may
        set them (Python's rule): elsewhere (a test's thread) the signals are left alone."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        before = {number: signal.signal(number, self._handle) for number in _STOP_SIGNALS}
        try:
            yield self
        finally:
            for number, handler in before.items():
                signal.signal(number, handler)

    def status(self, stopped: KeyboardInterrupt | None) -> int:
        """The run's exit status once it has recorded what it decided: 128 + the stop
        signal received, else that of ``stopped`` (raised by no signal), else 0."""
        if self.received is not None:
            return 128 + self.received
        return 0 if stopped is None else stopped_status(stopped)

    def frames(self, source: Iterable[Item]) -> Iterator[Item]:
        """``source``'s items; a stop is raised while the next one is awaited, never while
        the caller works on one, and is only noted once they are over."""
        try:
            for item in source:
                self._held = True
                yield item
                self._held = False
                self._raise_received()
        finally:
            self._held = True  # the frames are over: what follows records them

    def _handle(self, number: int, _frame: Any) -> None:
        if self.received is None:
            self.received = signal.Signals(number)
        if not self._held:
            self._raise_received()

    def _raise_received(self) -> None:
        if self.received is None or self._raised:
            return
        self._raised = True
        raise Terminated() if self.received is signal.SIGTERM else KeyboardInterrupt()
