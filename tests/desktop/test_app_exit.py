"""How the app process ends: each test runs it in a child process (``app_process``), since
what is tested is the process's exit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.desktop.app_process import READY

pytestmark = pytest.mark.slow  # a process of its own, with Qt and a store to open
ENDS_WITHIN_S = 60  # generous: the child only has to start, open the store and stop


def app_process(store: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.desktop.app_process", str(store), *options],
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


def output_of(process: subprocess.Popen[str]) -> Sequence[str]:
    """All it printed, once it ended (a hung process fails the test)."""
    try:
        out, _ = process.communicate(timeout=ENDS_WITHIN_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the app did not end within {ENDS_WITHIN_S} s")
    return out.splitlines()


def test_quitting_during_a_species_pack_load_does_not_wait_for_it(
    store_path: Path, ended: list[subprocess.Popen[str]]
) -> None:
    """A load that never ends (a TensorRT engine build takes minutes) writes nothing: the
    app quits without it."""
    process = app_process(store_path, "--hanging-pack", "--quit-after-s", "1")
    ended.append(process)
    lines = output_of(process)
    assert READY in lines
    assert process.returncode == 0, lines
