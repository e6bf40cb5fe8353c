"""The hub's metrics are made once per process, however many threads ask first."""

from __future__ import annotations

import re
import threading
from typing import Any

import prometheus_client
import pytest

from sync.hub import metrics

COUNTER, HISTOGRAM = prometheus_client.Counter, prometheus_client.Histogram


def test_threads_asking_at_once_make_the_metrics_once(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = prometheus_client.CollectorRegistry()  # not the process's: nothing leaks
    entered, second = [], threading.Event()

    def counter(*args: Any, **kwargs: Any) -> prometheus_client.Counter:
        entered.append(threading.current_thread().name)
        if len(entered) == 1:  # hold the first maker until another thread starts one too
            second.wait(timeout=2)
        elif len(entered) == 2:
            second.set()
        return COUNTER(*args, **{**kwargs, "registry": registry})

    def histogram(*args: Any, **kwargs: Any) -> prometheus_client.Histogram:
        return HISTOGRAM(*args, **{**kwargs, "registry": registry})

    monkeypatch.setattr(prometheus_client, "Counter", counter)
    monkeypatch.setattr(prometheus_client, "Histogram", histogram)
    monkeypatch.setattr(metrics, "_made", [])
    made: list[metrics.HubMetrics] = []
    failed: list[BaseException] = []

    def ask() -> None:
        try:
            made.append(metrics.hub_metrics())
        except BaseException as error:  # what a request would have got
            failed.append(error)

    threads = [threading.Thread(target=ask, name=f"request-{i}") for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert len(made) == 4 and all(m is made[0] for m in made)
    assert len(set(entered)) == 1  # one thread made them all


def test_the_push_outcomes_help_names_only_outcomes_the_hub_counts() -> None:
    """The help Prometheus and Grafana show for the pushed entries explains each outcome by
    name: one the hub never counts (an outcome dropped from the code) would send an operator
    looking for series that cannot exist."""
    registry = prometheus_client.CollectorRegistry()  # not the process's: nothing leaks
    with pytest.MonkeyPatch.context() as patch:
        for name, kind in (("Counter", COUNTER), ("Histogram", HISTOGRAM)):
            patch.setattr(prometheus_client, name, _in_registry(kind, registry))
        made = metrics._make()
    help_text = made.entries._documentation
    explained = set(re.findall(r"(\w+):", help_text))
    listed = set(re.findall(r"\w+", help_text.split("(", 1)[1]))
    assert explained, help_text
    assert explained <= set(metrics.OUTCOMES), (
        f"not an outcome: {explained - set(metrics.OUTCOMES)}"
    )
    assert set(metrics.OUTCOMES) <= listed, f"not explained: {set(metrics.OUTCOMES) - listed}"


def _in_registry(kind: Any, registry: prometheus_client.CollectorRegistry) -> Any:
    def make(*args: Any, **kwargs: Any) -> Any:
        return kind(*args, **{**kwargs, "registry": registry})

    return make
