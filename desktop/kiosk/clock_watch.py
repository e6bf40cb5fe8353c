"""The kiosk's wall clock, judged at start and again while it runs.

Every decision, and its audit entry, is recorded at the time the device's clock reads. A clock
that looks wrong (``clock_floor.device_clock_warning``: before the release date or the hub time
seen, or before a time this store recorded by it) is said, and the records keep the clock's
time all the same: it is what the kiosk saw, and a time put in its place would be a guess.

Judged at start only, a clock that went wrong while the kiosk ran (an RTC reset, an NTP step
back) dated every decision after it wrongly, or before those recorded before it, and nothing
said so until a restart. So it is judged again while running, cheaply: on every frame the wall
clock is compared with the monotonic one (two reads); a step of more than ``STEP_S`` either
way between them (a clock set, not one slewed by NTP) has it judged at once, and it is judged
every ``CHECK_EVERY_S`` anyway (one small read of the store). A clock that goes wrong is logged
and said on every frame while it stays wrong (``KioskFrame.problem``); one set right again is
logged, and no longer said. A step back too small to judge the clock wrong (within the floor's
tolerance) still dates the decisions after it out of order: the log says that too.

Each decision made while the clock is judged wrong carries why, in its own record
(``AccessEvent.clock_suspect``: the store's row, its audit entry, the hub's row), so that an
auditor can tell the times not to be trusted from the others long after the screen said so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sync.store import Store
from sync.store.clock_floor import device_clock_warning

_log = logging.getLogger(__name__)

STEP_S = 2.0
CHECK_EVERY_S = 60.0
# What a wrong clock means at a kiosk: the evidence keeps the time the clock gave.
RECORDED_AT_CLOCK = "this kiosk records each decision, and its audit entry, at that clock's time"


class ClockWatch:
    """The judgement of the store's clock for one kiosk session; ``monotonic``: the session's
    own clock (seconds, never set back)."""

    def __init__(self, store: Store, monotonic: Callable[[], float]) -> None:
        self._store = store
        self._monotonic = monotonic
        self.reason = self._judge()
        """Why the clock is judged wrong now, as the decisions made meanwhile record it
        (``AccessEvent.clock_suspect``); None: it is not."""
        self.warning = _said(self.reason)
        """Why the times the kiosk records look wrong now; None: they do not."""
        self.at_start = self.warning
        self.last_wrong = self.warning
        """The latest warning while the session ran (``jaga kiosk run``'s summary): a clock
        wrong for a while and set right since dated the decisions of that while."""
        self._offset, self._judged_at = self._wall_offset(), monotonic()

    @property
    def since_start(self) -> str | None:
        """The warning of a clock that went wrong while the kiosk ran (one wrong at start
        is said with "ready"); None when it is right, or was wrong at start already."""
        return self.warning if self.at_start is None else None

    def check(self) -> None:
        """Judge the clock again if it stepped, or if it is time to."""
        offset, judged = self._wall_offset(), self._monotonic()
        stepped = abs(offset - self._offset) > STEP_S
        if not stepped and judged - self._judged_at < CHECK_EVERY_S:
            return
        if stepped:
            self._say_step(offset - self._offset)
        self._offset, self._judged_at = offset, judged
        before, self.reason = self.warning, self._judge()
        self.warning = _said(self.reason)
        if self.warning is not None:
            self.last_wrong = self.warning
        if self.warning is not None and before is None:
            _log.warning("kiosk: %s", self.warning)
        elif self.warning is None and before is not None:
            _log.info("kiosk: the clock looks right again")

    @staticmethod
    def _say_step(step_s: float) -> None:
        """A step back dates the decisions after it before some recorded before it (within
        the floor's tolerance, no warning says so otherwise): the log does."""
        if step_s < 0:
            _log.warning("kiosk: the clock was set back %.1f s while running: decisions"
                         " recorded after it are dated before some recorded before it",
                         -step_s)  # fmt: skip
        else:
            _log.info("kiosk: the clock was set forward %.1f s while running", step_s)

    def _wall_offset(self) -> float:
        return self._store.clock.now().timestamp() - self._monotonic()

    def _judge(self) -> str | None:
        with self._store.database.read() as connection:
            return device_clock_warning(connection, self._store.clock)


def _said(reason: str | None) -> str | None:
    """What the operator is told of a clock judged wrong for ``reason``."""
    return None if reason is None else f"{reason}; {RECORDED_AT_CLOCK}"
