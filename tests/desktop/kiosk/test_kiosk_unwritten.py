"""The screen greets nobody whose decision is not yet written: while another writer holds
the store (a rekey, a backup) or its disk is full, the decision waits in memory, and a
process killed then (a power cut, the OOM killer) takes it with it. The kiosk's real
models, NUAA's webcam session, a real store, and the kiosk's real window."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from desktop.kiosk.assemble import KioskOptions, kiosk_session, kiosk_settings
from desktop.kiosk.frame import KioskFrame
from desktop.kiosk.prompts import NOT_RECORDING, Tone
from desktop.kiosk.session import KioskSession
from desktop.kiosk.writer import RETRY_S
from desktop.kiosk_controller import KioskController
from desktop.kiosk_panel import KioskPanel
from desktop.settings import AppSettings
from inference.face.stages import Stages
from sync.store import Passphrase, Store, StoreConfig
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import Image, Ticks, webcam, webcam_paths
from tests.desktop.kiosk.test_kiosk_session import KIOSK, enrol

pytestmark = pytest.mark.needs_shared

QUICK = StoreConfig(busy_timeout_s=0.2, scrypt_n=2**10)
NAME = "Person B-001"  # what enrol names B-001


@contextlib.contextmanager
def held_by_another(path: Path) -> Iterator[None]:
    """Another process's connection holds the write lock (``jaga store rekey``, a backup):
    the kiosk's writes are refused as they are on a full disk."""
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as other, other.database.write():
        yield


@pytest.fixture
def enrolled_store(tmp_path: Path, stages: Stages) -> Iterator[tuple[Path, Store]]:
    path = tmp_path / "kiosk.db"
    with Store.create(path, Passphrase(PASSPHRASE), config=QUICK) as store:
        enrol(store, stages, "B-001", webcam_paths("live")[0:8:4])
        yield path, store


def kiosk(store: Store, stages: Stages, clock: Ticks) -> KioskSession:
    options = KioskOptions(site=KIOSK.site, device=KIOSK.device)
    return kiosk_session(store, stages, kiosk_settings(None), options, {}, clock=clock)


def window(tmp_path: Path) -> KioskController:
    settings = AppSettings(tmp_path / "jaga.db", kiosk_source="camera:0")
    return KioskController(settings, KioskPanel(), "camera:0", KioskOptions())


def shown(screen: KioskController, image: Image, frame: KioskFrame) -> tuple[str, str]:
    """The prompt the window shows for the frame, and its tone."""
    screen.frame(image, frame)
    QApplication.processEvents()  # the frame's report, queued on this (the GUI) thread
    prompt = screen.panel.prompt
    return prompt.text(), str(prompt.property("tone"))


def written(path: Path) -> list[str]:
    """The decisions another process finds in the store: what survives a kill now."""
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as other:
        return [event.decision for event in other.access.between("0000", "9999")]


def test_a_verified_person_is_welcomed_only_once_their_decision_is_written(
    qapp: QApplication, tmp_path: Path, stages: Stages, enrolled_store: tuple[Path, Store]
) -> None:
    """Reproduced on an 8 MiB tmpfs filled up: the screen said "Welcome" with the decision
    still in memory; SIGKILLed there, the store held no access event and no audit entry."""
    path, store = enrolled_store
    clock = Ticks()
    session, screen = kiosk(store, stages, clock), window(tmp_path)
    live = webcam("live", 10, 10)
    decided = None
    with held_by_another(path):
        for index, image in enumerate(live[:5]):
            frame = session.process(image, index / 10)
            text, tone = shown(screen, image, frame)
            assert tone != Tone.ACCEPTED, (index, text, frame.problem)
            decided = decided or next(iter(frame.result.decisions), None)
        assert decided is not None and decided.status.value == "verified"
        assert frame.events == () and frame.problem is not None
        assert frame.problem.startswith("1 decision not yet written")
        assert (text, tone) == (NOT_RECORDING.text, NOT_RECORDING.tone)
    assert written(path) == []  # a kill here loses it, and nobody was let in for it
    clock.now += RETRY_S  # the store is free: the next frame writes the decision
    for index, image in enumerate(live[5:], start=5):
        frame = session.process(image, index / 10)
        text, tone = shown(screen, image, frame)
        if tone == Tone.ACCEPTED:
            break
    assert [e.decision for e in frame.events] == ["verified"] and frame.problem is None
    assert text == f"Welcome, {NAME}"
    assert written(path) == ["verified"]  # with its audit entry, in one transaction
    assert store.audit.verify().ok
    assert session.finish() == ()


def test_a_refusal_waiting_for_the_store_is_still_told(
    qapp: QApplication, tmp_path: Path, stages: Stages, enrolled_store: tuple[Path, Store]
) -> None:
    """A refusal lets nobody in: it is told at once, and written once the store is free."""
    path, store = enrolled_store
    clock = Ticks()
    session, screen = kiosk(store, stages, clock), window(tmp_path)
    told = []
    with held_by_another(path):
        for index, image in enumerate(webcam("print", 10, 5)):
            frame = session.process(image, index / 10)
            told.append(shown(screen, image, frame))
    assert told[-1][1] == Tone.REFUSED and told[-1][0].startswith("Photo or screen detected")
    assert frame.problem is not None and written(path) == []
    clock.now += RETRY_S
    frame = session.process(np.zeros_like(image), 0.5)  # they left: the store is free
    assert [e.decision for e in frame.events] == ["spoof_detected"]
    assert written(path) == ["spoof_detected"]
