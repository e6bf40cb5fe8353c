"""Background jobs: run off the GUI thread, in order, with results and errors back on it."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from PySide6.QtWidgets import QApplication

from desktop.workers import BackgroundJobs
from tests.desktop.qtwait import wait_until


def test_results_and_errors_come_back_on_the_gui_thread_in_order(qapp: QApplication) -> None:
    jobs = BackgroundJobs(threads=1)
    ran_on: list[threading.Thread] = []
    seen: list[tuple[str, object, bool]] = []

    def work(value: int) -> int:
        ran_on.append(threading.current_thread())
        if value == 2:
            raise ValueError("two is refused")
        return value * 10

    def note(kind: str) -> Callable[[object], None]:
        def callback(outcome: object) -> None:
            seen.append((kind, outcome, threading.current_thread() is threading.main_thread()))

        return callback

    for value in (1, 2, 3):
        jobs.submit(functools.partial(work, value), note("done"), note("failed"))
    wait_until(lambda: jobs.pending == 0, "three outcomes")
    assert [(kind, str(outcome)) for kind, outcome, _ in seen] == [
        ("done", "10"),
        ("failed", "two is refused"),
        ("done", "30"),
    ]
    assert all(on_gui for _, _, on_gui in seen)
    assert threading.main_thread() not in ran_on
    assert jobs.wait(5)
