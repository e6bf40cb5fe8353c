"""The background sync service the app runs: one thread, a stop event, no Qt.

It syncs every ``interval_s``, at once when ``trigger()`` is called (the "sync now" button),
and backs off with jitter while the hub is unreachable. A sync that reached its per-sync
limits with more to do is followed at once by the next, until the device is caught up (also
one that failed only because a proxy's body limit held some entries, photos or audit
entries back); but
only while each moves something, so a hub that keeps answering with nothing (every entry
left unanswered or refused for now) is asked again after ``interval_s``, not in a loop.
The hub's own authentication refusal, a missing registration or a protocol mismatch pauses
it (a captive portal's 401/403 page is no refusal of the hub's: it backs off): retrying
cannot fix those, so it waits for ``resume()`` (after the operator registers the
device again) instead of hammering the hub. Every change of state is an immutable
``ServiceState`` passed to ``on_state`` (called on the service thread: the app wraps it in a
Qt signal) and kept for ``state``.

The client is built inside the thread by ``open_client``, because a store belongs to the
thread that opened it; after a pause it is built afresh, so a new token is picked up.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from enum import StrEnum

from sync.client.backoff import Backoff
from sync.client.client import SyncClient
from sync.client.errors import (
    HubAuthError,
    HubUnavailableError,
    ProtocolMismatchError,
    ProxyBodyLimitError,
    SyncBusyError,
    SyncConfigError,
)
from sync.client.report import SyncReport
from sync.errors import SyncError

_log = logging.getLogger(__name__)
ClientFactory = Callable[[], AbstractContextManager[SyncClient]]
Sleep = Callable[[threading.Event, float], object]
_PAUSING = (HubAuthError, SyncConfigError, ProtocolMismatchError)
_PAUSE_POLL_S = 0.5


class Phase(StrEnum):
    STARTING = "starting"
    SYNCING = "syncing"
    IDLE = "idle"
    BACKING_OFF = "backing_off"
    PAUSED = "paused"
    STOPPED = "stopped"


class Attempt(StrEnum):
    """How one sync attempt ended (for metrics: ``on_attempt``)."""

    OK = "ok"
    OFFLINE = "offline"  # the hub did not answer: the link, or the hub is down
    FAILED = "failed"
    PAUSED = "paused"  # needs an operator: registration, token, protocol version
    BUSY = "busy"  # another sync (``jaga sync now``) held the store
    STOPPED = "stopped"  # stop() ended it before it finished: neither ok nor failed
    PARTIAL = "partial"  # it reached its per-sync limits with more to do: neither ok nor failed


@dataclass(frozen=True)
class ServiceState:
    phase: Phase
    failures: int = 0
    retry_in_s: float | None = None
    last_report: SyncReport | None = None
    last_error: str | None = None
    held_back: bool = False  # the back-off is for a proxy's body limit, not an outage


class SyncService:
    def __init__(
        self,
        open_client: ClientFactory,
        *,
        interval_s: float = 60.0,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        on_state: Callable[[ServiceState], None] | None = None,
        sleep: Sleep | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        """``sleep(wake, seconds)`` waits until ``wake`` is set or the time is up; tests
        pass one that returns at once and records the delays (a fake clock). ``on_attempt``
        hears how each attempt ended (on the service thread), once per attempt."""
        self._open_client = open_client
        self._interval_s = interval_s
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self._on_state = on_state
        self._on_attempt = on_attempt
        self._wait: Sleep = sleep or threading.Event.wait
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._resume = threading.Event()
        self._retry_pack = threading.Event()
        self._lock = threading.Lock()
        self._state = ServiceState(Phase.STARTING)
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> ServiceState:
        with self._lock:
            return self._state

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the sync service runs already")
        self._thread = threading.Thread(target=self._run, name="jaga-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the step in progress (a request is bounded by its timeout)."""
        self._stop.set()
        self._wake.set()
        self._resume.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise TimeoutError(f"the sync service did not stop within {timeout_s} s")
            self._thread = None

    def trigger(self, *, retry_pack: bool = False) -> None:
        """Sync now instead of at the next interval (also cuts a back-off short);
        ``retry_pack`` (a person asked) also tries a failing species pack without waiting."""
        if retry_pack:
            self._retry_pack.set()
        self._wake.set()

    def resume(self) -> None:
        """Leave a pause (after the operator fixed the registration)."""
        self._resume.set()
        self._wake.set()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._serve() == Phase.PAUSED:
                    self._wait_for_resume()
        finally:
            self._publish(replace(self.state, phase=Phase.STOPPED, retry_in_s=None))

    def _wait_for_resume(self) -> None:
        # Polled, so a stop() that lands while the pause is being entered is still seen.
        while not self._stop.is_set() and not self._resume.wait(_PAUSE_POLL_S):
            pass
        self._resume.clear()

    def _serve(self) -> Phase:
        """Open a client and sync until stopped or paused; returns the phase it ended in."""
        try:
            with self._open_client() as client:
                while not self._stop.is_set():
                    if client.registration_changed():
                        # Registered again while running: the next client is opened on the
                        # new registration at once, instead of syncing on with the old one.
                        _log.info("the store was registered again: reopening the sync client")
                        return Phase.IDLE
                    phase = self._step(client)
                    if phase == Phase.PAUSED:
                        return phase
            return Phase.STOPPED
        except _PAUSING as error:  # raised while opening: not registered, say
            return self._pause(error)
        except SyncError as error:  # the store is locked or unreadable right now
            return self._fail(error)
        except Exception as error:  # a bug while opening: report it, keep trying slowly
            _log.exception("opening the sync client failed unexpectedly")
            return self._fail(error)

    def _step(self, client: SyncClient) -> Phase:
        self._publish(replace(self.state, phase=Phase.SYNCING, retry_in_s=None))
        retry_pack = self._retry_pack.is_set()
        try:
            # A stop() ends the sync between its requests, not after the whole backlog.
            report = client.sync_once(retry_pack=retry_pack, stopping=self._stop.is_set)
        except _PAUSING as error:
            return self._pause(error)
        except SyncBusyError as error:
            self._count(Attempt.BUSY)
            self._publish(replace(self.state, phase=Phase.IDLE, last_error=str(error)))
            self._sleep(self._interval_s)
            return Phase.IDLE
        except SyncError as error:
            held = _report_of(error)
            if held is not None and held.unfinished is not None and held.progressed:
                return self._go_on(held, error)
            return self._fail(error)
        except Exception as error:  # a bug: report it, keep the service alive, back off
            _log.exception("sync failed unexpectedly")
            return self._fail(error)
        if retry_pack and not report.stopped:  # kept until a sync gets as far as the pack
            self._retry_pack.clear()
        self._count(_outcome(report))
        self._publish(ServiceState(Phase.IDLE, last_report=report))
        goes_on = report.unfinished is not None and report.progressed
        self._sleep(0.0 if goes_on else self._interval_s)
        return Phase.IDLE

    def _go_on(self, report: SyncReport, error: Exception) -> Phase:
        """A sync a proxy's body limit held entries, photos or audit entries back from, which
        moved the rest and reached its per-sync limits: the next goes on at once, as after
        any sync that reached them, counting no failure (the back-off waits for a held-back
        sync with nothing more to do, or one that moved nothing); the limit stays in the
        state."""
        self._count(_outcome(report))
        self._publish(
            replace(
                self.state,
                phase=Phase.IDLE,
                retry_in_s=None,
                last_report=report,
                last_error=f"{type(error).__name__}: {error}",
            )
        )
        self._sleep(0.0)
        return Phase.IDLE

    def _pause(self, error: Exception) -> Phase:
        _log.warning("sync paused: %s", error)
        self._count(Attempt.PAUSED)
        self._resume.clear()  # only a resume() after this pause ends it
        self._publish(replace(self.state, phase=Phase.PAUSED, last_error=str(error)))
        return Phase.PAUSED

    def _fail(self, error: Exception) -> Phase:
        failures = self.state.failures + 1
        self._count(Attempt.OFFLINE if isinstance(error, HubUnavailableError) else Attempt.FAILED)
        retry_after = error.retry_after_s if isinstance(error, HubUnavailableError) else None
        delay = self._backoff.delay_s(failures, self._rng, retry_after)
        self._publish(
            replace(
                self.state,
                phase=Phase.BACKING_OFF,
                failures=failures,
                retry_in_s=delay,
                last_error=f"{type(error).__name__}: {error}",
                held_back=isinstance(error, ProxyBodyLimitError),
                last_report=_report_of(error) or self.state.last_report,
            )
        )
        self._sleep(delay)
        return Phase.BACKING_OFF

    def _sleep(self, seconds: float) -> None:
        self._wait(self._wake, seconds)
        self._wake.clear()

    def _count(self, outcome: Attempt) -> None:
        if self._on_attempt is not None:
            try:
                self._on_attempt(outcome)
            except Exception:  # a listener's bug must not stop syncing
                _log.exception("sync attempt listener failed")

    def _publish(self, state: ServiceState) -> None:
        with self._lock:
            self._state = state
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:  # a listener's bug must not stop syncing
                _log.exception("sync state listener failed")


def _report_of(error: Exception) -> SyncReport | None:
    """The report of a sync that ran its steps and then failed (a proxy's body limit held
    back entries, photos or audit entries): what it pulled and installed still reaches the app."""
    report = error.report if isinstance(error, ProxyBodyLimitError) else None
    return report if isinstance(report, SyncReport) else None


def _outcome(report: SyncReport) -> Attempt:
    if report.stopped:
        return Attempt.STOPPED
    return Attempt.OK if report.unfinished is None else Attempt.PARTIAL
