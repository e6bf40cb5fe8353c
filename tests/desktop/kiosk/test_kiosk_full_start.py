"""A kiosk started on a full disk. A kiosk killed right after it created its journal left
the file empty (0 bytes) beside its store; started again on a disk full by then, it failed
to start (it made the journal anew, where no byte was left) and said "Kiosk unavailable —
retrying", its state line that the store could not be opened. An empty journal holds no
decision: the kiosk starts, and decisions wait in memory as on any full disk. A store the
full disk keeps from opening is said so: the disk is full, and what to do.

The kiosk's real window (offscreen), controller, runner threads, session and journal, a
real process killed (SIGKILL), a real store on a real full file system (a 2 MiB tmpfs,
where mounting one is permitted). A camera cannot run here: a stand-in gives frames; the
pipeline is scripted."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from desktop.kiosk.assemble import KioskOptions
from desktop.kiosk.journal import DecisionJournal, journal_path
from desktop.kiosk.prompts import UNAVAILABLE
from desktop.kiosk.writer import EventWriter
from desktop.kiosk_controller import KioskController
from desktop.kiosk_panel import KioskPanel
from desktop.settings import AppSettings
from sync.errors import StoreFullError
from sync.filelock import HeldLock
from sync.store import AccessEvent, Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from sync.store.kiosk_waiting import held_path
from tests.desktop.kiosk.test_kiosk_camera_out_waiting import (
    PASSPHRASE,
    standing_kiosk,
    store_on_tmpfs,
)
from tests.desktop.kiosk.test_kiosk_controller import IMAGE
from tests.desktop.kiosk.test_kiosk_rules import QUICK
from tests.desktop.qtwait import wait_until
from tests.desktop.test_catch_spool_full import fill
from tests.sync.conftest import REPO_ROOT
from tests.sync.test_store_faults import small_tmpfs

__all__ = ["small_tmpfs", "store_on_tmpfs"]  # fixtures: a 2 MiB tmpfs (or a skip), a store on it

# A kiosk process killed between the journal's creation (SQLite makes the file on open)
# and its first commit: the store open, its write-ahead log beside it, the journal 0 bytes.
_KILLED_AT_CREATION = """
import os, signal, sys
from pathlib import Path
from desktop.kiosk.journal import journal_path
from sync.store import Passphrase, Store, StoreConfig
path = Path(sys.argv[1])
store = Store.open(path, Passphrase(sys.argv[2]), config=StoreConfig(scrypt_n=2**10))
journal_path(path).touch(0o600)
os.kill(os.getpid(), signal.SIGKILL)
"""


def camera() -> Iterator[tuple[float, np.ndarray]]:
    """A camera's frames, as many as asked for."""
    while True:
        yield 0.0, IMAGE


def window(path: Path, person: str) -> KioskController:
    settings = AppSettings(path, None, {PASSPHRASE_ENV: PASSPHRASE}, kiosk_source="camera:0",
                           store_config=QUICK)  # fmt: skip
    return KioskController(settings, KioskPanel(), "camera:0", KioskOptions(), frames=camera,
                           open_session=lambda: standing_kiosk(path, person))  # fmt: skip


def killed_at_journal_creation(path: Path) -> None:
    killed = subprocess.run([sys.executable, "-c", _KILLED_AT_CREATION, str(path), PASSPHRASE],
                            cwd=REPO_ROOT, capture_output=True, text=True, check=False)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert journal_path(path).stat().st_size == 0


def test_a_start_on_a_full_disk_with_an_empty_journal_starts_losing_nothing(
    qapp: QApplication, small_tmpfs: Path, store_on_tmpfs: tuple[Path, str]
) -> None:
    path, person = store_on_tmpfs
    killed_at_journal_creation(path)
    ballast = fill(small_tmpfs)
    kiosk = window(path, person)
    started = datetime.now(UTC)
    kiosk.start()
    try:
        wait_until(lambda: not kiosk.panel.state.text().startswith("starting"), "a start", 60)
        state = kiosk.panel.state.text()
        # started: ready, or (the standing person decided on already) its decision waiting
        # in memory, as on any full disk; never the store said unavailable
        assert state.startswith("ready") or _waiting_on_the_full_disk(state), state
        assert kiosk.panel.prompt.text() != UNAVAILABLE["store"].text
        ballast.unlink()  # the space comes back: what waits is written
        wait_until(lambda: kiosk.panel.state.text().startswith("ready"), "all written", 60)
    finally:
        assert kiosk.stop(30)
    QApplication.processEvents()
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as store:
        every = store.access.between("", "~")
        # nothing came from the empty journal: each event was decided by this start
        assert all(event.occurred_at >= started for event in every), every
        assert len(every) == store.access.count()


def _waiting_on_the_full_disk(state: str) -> bool:
    return " not yet written: " in state and "no space left" in state


def test_a_store_a_full_disk_keeps_from_opening_says_the_disk_is_full_and_what_to_do(
    qapp: QApplication, small_tmpfs: Path, store_on_tmpfs: tuple[Path, str]
) -> None:
    path, person = store_on_tmpfs
    ballast = fill(small_tmpfs)
    kiosk = window(path, person)
    kiosk.start()
    try:
        wait_until(lambda: "no space left" in kiosk.panel.state.text(), "the reason", 60)
        state = kiosk.panel.state.text()
        assert state.startswith(f"the disk holding {small_tmpfs} is full:"), state
        assert "free some space on it" in state and state.endswith("trying again every 5 s")
        ballast.unlink()  # the space comes back
        wait_until(lambda: kiosk.panel.state.text().startswith("ready"), "ready", 60)
    finally:
        assert kiosk.stop(30)


def test_a_journal_the_full_disk_keeps_from_opening_is_let_go_of(
    small_tmpfs: Path, store_on_tmpfs: tuple[Path, str]
) -> None:
    """A start that fails so is tried again every 5 s: each try held the journal's lock (a
    file descriptor) for good, and ``jaga sync now`` never recorded a journal held so."""
    path, _ = store_on_tmpfs
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as store:
        kept = DecisionJournal(store)
        event = AccessEvent(store.clock.now(), "north-gate", "k1", "not_matched", None, 0.2, 0.9)
        kept.keep([event])
        kept.close()
        ballast = fill(small_tmpfs)
        with pytest.raises(StoreFullError):
            EventWriter(store)
        lock = HeldLock(held_path(path))
        assert lock.take(exclusive=True), "the failed start still holds the journal"
        lock.release()
        ballast.unlink()
        writer = EventWriter(store)  # room again: the decision kept is still there
        assert writer.waiting == 1
        writer.close()
