"""How the app process ends: each test runs it in a child process (``app_process``), since
what is tested is the process's exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a process of its own, with Qt and a store to open
ENDS_WITHIN_S = 60  # generous: the child only has to start, open the store and stop


def app_process(store: Path, ready: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.desktop.app_process", str(store), str(ready), *options],
        cwd=REPO,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def ended() -> Iterator[list[subprocess.Popen[str]]]:
    """The processes a test starts are ended by the time it ends, even when it fails."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def wait_until_ready(ready: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + ENDS_WITHIN_S
    while not ready.exists():
        if process.poll() is not None:
            pytest.fail(f"the app ended before its event loop ran: {output_of(process)}")
        if time.monotonic() > deadline:
            pytest.fail(f"the app's event loop did not run within {ENDS_WITHIN_S} s")
        time.sleep(0.05)


def output_of(process: subprocess.Popen[str]) -> Sequence[str]:
    """All it printed, once it ended (a hung process fails the test)."""
    try:
        out, _ = process.communicate(timeout=ENDS_WITHIN_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the app did not end within {ENDS_WITHIN_S} s")
    return out.splitlines()


def test_quitting_during_a_species_pack_load_does_not_wait_for_it(
    store_path: Path, tmp_path: Path, ended: list[subprocess.Popen[str]]
) -> None:
    """A load that never ends (a TensorRT engine build takes minutes) writes nothing: the
    app quits without it."""
    ready = tmp_path / "ready"
    process = app_process(store_path, ready, "--hanging-pack", "--quit-after-s", "1")
    ended.append(process)
    lines = output_of(process)
    assert ready.exists(), lines  # what it printed says why its event loop never ran
    assert process.returncode == 0, lines


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_shuts_the_app_down_as_closing_its_window_does(
    store_path: Path, tmp_path: Path, ended: list[subprocess.Popen[str]], stop: signal.Signals
) -> None:
    """systemd stops the kiosk with SIGTERM (a terminal's Ctrl-C sends SIGINT): the shutdown
    runs, so a Record or a sync in flight ends whole, and the app exits as after a close."""
    ready = tmp_path / "ready"
    process = app_process(store_path, ready)
    ended.append(process)
    wait_until_ready(ready, process)
    process.send_signal(stop)
    lines = output_of(process)
    assert process.returncode == 0, lines
    assert any("shutting down" in line for line in lines), lines


def test_a_stop_signal_while_the_window_opens_shuts_the_app_down_too(
    store_path: Path, tmp_path: Path, ended: list[subprocess.Popen[str]]
) -> None:
    """systemd may stop the kiosk while its window is still opening (the store's key
    derivation takes seconds on a Jetson): the stop is a quit then too, the shutdown runs,
    the exit is 0, not the signal's default death."""
    hold = tmp_path / "go"
    process = app_process(store_path, tmp_path / "ready", "--hold-opening", str(hold))
    ended.append(process)
    opening = hold.with_suffix(".opening")
    deadline = time.monotonic() + ENDS_WITHIN_S
    while not opening.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert opening.exists(), output_of(process)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.2)  # the handler runs (or the process dies) before the window opens
    hold.touch()
    lines = output_of(process)
    assert process.returncode == 0, lines
    assert any("SIGTERM: quitting" in line for line in lines), lines
    assert any("shutting down" in line for line in lines), lines


def test_cyclic_garbage_a_worker_makes_is_collected_on_the_gui_thread(
    store_path: Path, tmp_path: Path, ended: list[subprocess.Popen[str]]
) -> None:
    """Python's cyclic collector runs in whichever thread allocates past its threshold: in
    the app, a worker's. A Qt object in a reference cycle freed there is deleted off the
    GUI thread (a segfault). The app collects on the GUI thread (``desktop.gui_gc``)."""
    process = app_process(store_path, tmp_path / "ready", "--gc-probe")
    ended.append(process)
    lines = output_of(process)
    assert process.returncode == 0, lines
    collected = [line for line in lines if line.startswith("collected on ")]
    assert collected == ["collected on MainThread"], lines
