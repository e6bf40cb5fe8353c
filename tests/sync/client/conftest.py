"""Fixtures of the sync client tests: a real hub on the session's PostgreSQL, devices with
real encrypted stores, and the fault tally printed at the end of the run.

The hub package's ``hub_database`` is a session fixture: imported here as well, pytest would
keep a second instance of it and start the same server twice. So this package brings its
own, package-scoped: it reuses the server when the hub tests' fixture already runs it, and
otherwise starts it and stops and removes it when this package is done, which leaves the
hub tests' fixture free to start it again later in the same session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.store import Passphrase, Store
from tests.sync.client import faults
from tests.sync.client.devices import PASSPHRASE, Device, new_device
from tests.sync.client.faultproxy import FaultProxy
from tests.sync.conftest import FAST
from tests.sync.hub.hubfixtures import (
    device_pack_loader,
    provide_hub_database,
    site_slug,
    species_packs_removed,
)
from tests.sync.hub.hubkit import HubProcess, start_hub_process

__all__ = ["device_pack_loader", "site_slug", "species_packs_removed"]


@pytest.fixture(scope="package")
def hub_database() -> Iterator[str]:
    yield from provide_hub_database()


@pytest.fixture(scope="package")
def live_hub(hub_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """``jaga hub run`` with two workers (this machine's cores), shared by the package."""
    hub = start_hub_process(hub_database, tmp_path_factory.mktemp("hub"), workers=2)
    try:
        yield hub
    finally:
        hub.kill()  # a graceful stop waits out gunicorn's 10 s graceful timeout; nothing to keep


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new store of the command-line tests, its passphrase in the environment and no
    registration taken from it (``JAGA_HUB_URL`` and the rest unset)."""
    path = tmp_path / "jaga.db"
    Store.create(path, Passphrase(PASSPHRASE), config=FAST).close()
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    for name in ("JAGA_HUB_URL", "JAGA_SYNC_SITE", "JAGA_SYNC_DEVICE_ID", "JAGA_SYNC_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def kiosk(
    live_hub: HubProcess, site_slug: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Device:
    """A registered kiosk of ``site_slug`` whose `jaga` commands read only its own store
    (the passphrase from the environment, no hub settings inherited)."""
    device = new_device(tmp_path, live_hub.url, site_slug, "kiosk-1")
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    for name in ("JAGA_HUB_URL", "JAGA_SYNC_SITE", "JAGA_SYNC_DEVICE_ID", "JAGA_SYNC_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return device


@pytest.fixture
def proxy(live_hub: HubProcess) -> Iterator[FaultProxy]:
    """A fault proxy in front of the live hub; rules are set by each test."""
    with FaultProxy(live_hub.port) as running:
        yield running


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = faults.summary_lines()
    if lines:
        terminalreporter.section("sync fault runs")
        for line in lines:
            terminalreporter.write_line(line)
    path = faults.report_path()
    if path is not None and lines:
        Path(path).write_text(faults.report_json())
