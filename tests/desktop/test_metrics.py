"""The app's metrics endpoint: on 127.0.0.1 only when ``JAGA_METRICS_PORT`` asks, with the
store's figures, the sync attempts and the species classifier the window really runs.

The window, its sync service, the store and the classifier (the default species pack on
the CPU) are real; the hub is the in-memory fake.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from PySide6.QtWidgets import QApplication

from desktop.app import MainWindow, open_window
from desktop.settings import AppSettings
from desktop.sync_controller import SyncController
from inference.pack.installed import ModelPack
from sync.client import Phase, SyncClient
from sync.client.config import resolve_config
from sync.client.state import read_values
from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.qtwait import wait_until
from tests.sync.client.fakehub import FakeHub
from tests.sync.client.units import SMALL, observations
from tests.sync.conftest import FAST

if TYPE_CHECKING:
    from inference.fish.classify import SpeciesClassifier

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def window_on(
    path: Path, tmp_path: Path, env: dict[str, str], classifier: SpeciesClassifier | None = None
) -> Iterator[MainWindow]:
    hub = FakeHub()

    @contextlib.contextmanager
    def fake_hub_client() -> Iterator[SyncClient]:
        with Store.open(path, Passphrase(PASSPHRASE), config=FAST) as store:
            config = resolve_config({}, read_values(store.database), tuning=SMALL)
            yield SyncClient(store, hub.client(), config)

    settings = AppSettings(
        path, None, {PASSPHRASE_ENV: PASSPHRASE, **env}, sync_interval_s=3600, store_config=FAST
    )
    window = open_window(
        settings,
        ModelPack(tmp_path / "no-model-pack"),
        open_client=fake_hub_client,
        build=lambda _root: _given(classifier),
        find_pack=lambda: tmp_path if classifier is not None else None,
    )
    try:
        yield window
    finally:
        window.close()


def _given(classifier: SpeciesClassifier | None) -> SpeciesClassifier:
    assert classifier is not None
    return classifier


def controller(window: MainWindow) -> SyncController:
    assert window.sync is not None
    return window.sync


def first_sync_done(window: MainWindow) -> bool:
    snapshot = controller(window).last_snapshot
    return snapshot is not None and snapshot.state.phase is Phase.IDLE


def scrape(port: int) -> Samples:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def metrics_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("jaga-metrics")]


def test_the_window_serves_its_sync_and_classifier_figures_on_loopback(
    qapp: QApplication,
    registered_store: Path,
    tmp_path: Path,
    species_classifier: SpeciesClassifier,
) -> None:
    with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
        observations(store, 3, "metrics")
    port = free_port()
    env = {"JAGA_METRICS_PORT": str(port)}
    with window_on(registered_store, tmp_path, env, species_classifier) as window:
        wait_until(lambda: first_sync_done(window), "the first sync")
        wait_until(lambda: controller(window).species.state.active is not None, "the pack")
        metrics = window.metrics
        assert metrics is not None and metrics.server.address == ("127.0.0.1", port)
        assert controller(window).metrics is metrics.sync  # the window's, shared
        samples = scrape(port)
    assert value(samples, "jaga_sync_attempts_total", outcome="ok") == 1
    assert value(samples, "jaga_sync_outbox_entries", state="acknowledged") == 3
    assert value(samples, "jaga_sync_outbox_entries", state="queued") == 0
    info = {"pack_version": species_classifier.pack.version, "provider": "CPUExecutionProvider"}
    assert value(samples, "jaga_species_classifier_info", **info) == 1
    assert (value(samples, "process_resident_memory_bytes") or 0) > 0
    with pytest.raises(httpx.ConnectError):  # closed with the window
        httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert metrics_threads() == []
    window.shutdown()  # a quit after the close: the metrics are closed once (no error)


def test_without_a_port_the_app_serves_no_metrics(
    qapp: QApplication, registered_store: Path, tmp_path: Path
) -> None:
    with window_on(registered_store, tmp_path, {}) as window:
        wait_until(lambda: first_sync_done(window), "the first sync")
        assert window.metrics is None and controller(window).metrics is None
        assert metrics_threads() == []


def test_a_bad_or_taken_port_is_a_warning_and_the_app_syncs_on(
    qapp: QApplication, registered_store: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        for port, why in (("metrics", "must be a port number"),
                          (str(taken.getsockname()[1]), "in use")):  # fmt: skip
            caplog.clear()
            with (
                caplog.at_level(logging.WARNING, logger="desktop.metrics"),
                window_on(registered_store, tmp_path, {"JAGA_METRICS_PORT": port}) as window,
            ):
                wait_until(lambda: first_sync_done(window), "the first sync")
                assert window.metrics is None
            assert any(why in r.getMessage() for r in caplog.records), caplog.text
    assert metrics_threads() == []
