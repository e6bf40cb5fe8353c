"""Short jobs off the GUI thread, with their result or error delivered back on it.

Each ``BackgroundJobs`` owns a ``QThreadPool`` of its own (one thread by default, so its jobs
run in the order they were given: a pack switch never overtakes the one before it). A job
that must not wait for those before it to start (a catch to put on disk the moment Record is
pressed) is given ``submit_ahead``: it starts at once on a second pool, and its outcome still
comes back in order, as if it had run in its turn. A job is
a plain callable that Qt's pool owns and deletes; it reports through a relay object that
lives as long as the ``BackgroundJobs`` on the GUI thread, whose signal is connected queued,
so the callbacks run on the GUI thread and no Qt object is ever deleted by a worker.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal, Slot

_log = logging.getLogger(__name__)
Callback = Callable[[object], None]


class _Relay(QObject):
    finished = Signal(object, object, bool)  # job number, its result or error, whether it worked


class BackgroundJobs(QObject):
    def __init__(self, threads: int = 1, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._ahead = QThreadPool(self)  # ``submit_ahead``'s: one job at a time, in order
        self._ahead.setMaxThreadCount(1)
        self._relay = _Relay(self)
        self._relay.finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._numbers = itertools.count()
        self._waiting: dict[int, tuple[Callback, Callback]] = {}

    def submit(self, work: Callable[[], object], on_done: Callback, on_failed: Callback) -> None:
        """Run ``work()`` on the pool; ``on_done(result)`` or ``on_failed(error)`` follows on
        this object's thread (the GUI thread)."""
        number = next(self._numbers)
        self._waiting[number] = (on_done, on_failed)
        relay = self._relay

        def run() -> None:
            try:
                result = work()
            except Exception as error:  # handed to the GUI thread, which decides what it means
                relay.finished.emit(number, error, False)
            else:
                relay.finished.emit(number, result, True)

        self._pool.start(run)

    def submit_ahead(
        self, work: Callable[[], object], on_done: Callback, on_failed: Callback
    ) -> None:
        """As ``submit``, but ``work()`` starts now, on a thread of its own, not after the
        jobs given before it; its outcome is delivered in its turn all the same (after
        theirs, before those given after it), and a job given after it runs once it ended."""
        started: Future[object] = Future()
        self._ahead.start(lambda: _run_into(started, work))
        self.submit(started.result, on_done, on_failed)  # in its turn: wait for it

    @property
    def pending(self) -> int:
        """Jobs given whose outcome has not been delivered yet."""
        return len(self._waiting)

    def wait(self, timeout_s: float) -> bool:
        """Wait for every job given so far; False if some still ran after ``timeout_s``."""
        deadline = Deadline.after(timeout_s)
        finished = all(
            pool.waitForDone(int(deadline.remaining_s() * 1000))
            for pool in (self._pool, self._ahead)
        )
        if not finished:
            _log.warning("background jobs still running after %.0f s", timeout_s)
        return finished

    @Slot(object, object, bool)
    def _deliver(self, number: int, outcome: object, ok: bool) -> None:
        on_done, on_failed = self._waiting.pop(number)
        (on_done if ok else on_failed)(outcome)


def _run_into(future: Future[object], work: Callable[[], object]) -> None:
    """``work()``'s result or error, into ``future`` (whose waiter hands it on)."""
    try:
        future.set_result(work())
    except BaseException as error:  # raised again by the waiter, which reports it
        future.set_exception(error)


def error_info(error: object) -> BaseException | None:
    """``exc_info`` for logging an error handed over as ``object``."""
    return error if isinstance(error, BaseException) else None


@dataclass(frozen=True)
class Deadline:
    """One time limit for several waits in turn: together they take at most its seconds,
    where a limit for each would add up."""

    at: float  # on time.monotonic's clock

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining_s(self) -> float:
        return max(0.0, self.at - time.monotonic())
