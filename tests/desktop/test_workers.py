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


def test_a_job_given_ahead_starts_at_once_and_comes_back_in_its_turn(qapp: QApplication) -> None:
    """A Record must not wait behind a classification to start (it puts the catch on disk),
    yet its outcome and the jobs given after it keep their order."""
    jobs = BackgroundJobs(threads=1)
    gate, started = threading.Event(), threading.Event()
    order: list[str] = []
    seen: list[object] = []

    def held() -> str:
        gate.wait(30)
        order.append("held")
        return "held"

    def ahead() -> str:
        started.set()
        order.append("ahead")
        return "ahead"

    def after() -> str:
        order.append("after")
        return "after"

    jobs.submit(held, seen.append, seen.append)
    jobs.submit_ahead(ahead, seen.append, seen.append)
    jobs.submit(after, seen.append, seen.append)
    try:
        assert started.wait(10), "the job given ahead waited for the one before it"
    finally:
        gate.set()
    wait_until(lambda: jobs.pending == 0, "three outcomes")
    assert order == ["ahead", "held", "after"]
    assert seen == ["held", "ahead", "after"]
    assert jobs.wait(5)


def test_a_job_given_ahead_that_fails_comes_back_as_failed(qapp: QApplication) -> None:
    jobs = BackgroundJobs(threads=1)
    failed: list[str] = []

    def refused() -> object:
        raise ValueError("refused")

    jobs.submit_ahead(refused, lambda _: None, lambda error: failed.append(str(error)))
    wait_until(lambda: jobs.pending == 0, "the outcome")
    assert failed == ["refused"]
    assert jobs.wait(5)
