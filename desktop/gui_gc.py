"""Python's cyclic garbage collected on the GUI thread, never on a worker's.

The cyclic collector runs in whichever thread allocates when a generation's count passes
its threshold: in the app, often the kiosk's inference thread or a Record's pool thread.
Whatever it frees there is freed there, and a Qt widget or object held in a reference cycle
(a signal connected to a lambda that names it is enough) is then deleted off the GUI
thread, which Qt does not allow: a segfault while "Garbage-collecting", seen once in the
desktop tests' workers (their conftest collects on the GUI thread for the same reason).

So while the app runs, automatic collection is off and a GUI-thread timer does what it
would have done: collects the youngest generation whose count has passed its threshold
(the thresholds Python would use, read at each tick). Cycles wait at most one tick; objects
without cycles are freed by reference counting as ever, in any thread. The pattern is
pyqtgraph's ``GarbageCollector``. The app leaves it so until the process ends.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

# How often the GUI thread looks at the collector's counts. A few times a second keeps the
# cyclic garbage a worker makes between two ticks small (counted in objects, not bytes).
TICK_MS = 250


class GuiThreadCollector(QObject):
    """Automatic cyclic collection moved to the GUI thread while started (see above)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect_due)
        self._was_enabled = False

    def start(self, tick_ms: int = TICK_MS) -> None:
        """From the GUI thread: automatic collection off, the timer on."""
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start(tick_ms)

    def stop(self) -> None:
        """The timer off, and automatic collection back as it was."""
        self._timer.stop()
        if self._was_enabled:
            gc.enable()

    def collect_due(self) -> None:
        """Collect the oldest generation whose count passed its threshold, as the
        interpreter would (a generation's collection includes the younger ones)."""
        due = due_generation(gc.get_count(), gc.get_threshold())
        if due is not None:
            gc.collect(due)


def due_generation(counts: tuple[int, ...], thresholds: tuple[int, ...]) -> int | None:
    """The oldest generation whose count exceeds its threshold, None if none does (a
    threshold of 0, automatic collection switched off by ``gc.set_threshold(0)``, is never
    due)."""
    if thresholds and thresholds[0] == 0:
        return None
    due = None
    for generation, (count, threshold) in enumerate(zip(counts, thresholds, strict=False)):
        if threshold > 0 and count > threshold:
            due = generation
    return due
