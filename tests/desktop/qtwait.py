"""Waiting in Qt tests: run the GUI thread's event loop until a condition holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication

SYNC_THREAD = "jaga-sync"  # SyncService's thread name


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    """Process Qt events (queued signals included) until ``condition()`` or the timeout."""
    app = QApplication.instance()
    assert app is not None, "create the QApplication first (the qapp fixture)"
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.005)


def sync_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == SYNC_THREAD and t.is_alive()]
