"""A catch is on disk from its Record, not only from the store's refusal of it.

Review (desktop/catch_store.py:96): a catch went to the spool (``<store>.pending-catches``)
only once the store had refused it. An app killed between the officer's Record and the
store's commit (a flat battery on deck; the store held by a sync, so the Record waited out
the busy timeout; or the Record still queued on the panel's one worker behind a box
classification) lost the catch, and the next start showed nothing: the officer believed it
recorded. Real processes killed with SIGKILL on a real store, and a real panel whose worker
is held by a classification.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_controller import CatchController
from desktop.catch_errors import CatchError
from desktop.catch_panel import CatchPanel
from desktop.catch_photo import read_catch_photo
from desktop.catch_records import CatchRecord
from desktop.catch_store import CatchStore
from desktop.settings import AppSettings
from inference.fish.types import FishPrediction, Species
from sync.store import Crop, Passphrase, Store, StoreConfig
from sync.store.database import Database
from sync.store.key_sources import PASSPHRASE_ENV
from sync.store.pending_catches import pending_count
from tests.desktop.catch_worker import NO_FISH
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.qtwait import wait_until
from tests.desktop.test_catch_spool_crash import QUICK, counts, spool_entries, write_locked
from tests.inference.fish.test_images import grey_png
from tests.sync.conftest import REPO_ROOT

if TYPE_CHECKING:
    from desktop.species import SpeciesPacks


PATIENT = StoreConfig(busy_timeout_s=30.0, scrypt_n=2**10)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "deck.png"
    path.write_bytes(grey_png(64, 48))
    return path


@pytest.fixture
def recording(store_path: Path, photo: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A Record in a process of its own, held just before the store writes the catch; the
    catch's uid. Killed at the end, if the test did not kill it."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.desktop.record_kill_worker", str(store_path), str(photo)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    try:
        said, uid = worker.stdout.readline().split()
        assert said == "catch"
        assert worker.stdout.readline().strip() == "writing"
        yield worker, uid
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=60)


def catch_store(store_path: Path) -> CatchStore:
    return CatchStore(store_path, Passphrase(PASSPHRASE), QUICK)


def test_a_record_killed_before_the_store_commits_it_is_offered_at_the_next_start(
    store_path: Path, photo: Path, recording: tuple[subprocess.Popen[str], str]
) -> None:
    worker, uid = recording
    worker.kill()  # SIGKILL, before the store wrote a byte of the catch
    worker.wait(timeout=60)
    assert counts(store_path) == (0, 0)

    store = catch_store(store_path)
    offered = store.pending()  # what the next start shows, for Retry or Dismiss
    assert [catch.uid for catch in offered] == [uid], "the catch was lost with the app"
    (kept,) = offered
    assert kept.photo.data == photo.read_bytes() and kept.details.officer == "Ana Lima"
    store.record(kept)  # its Retry
    assert counts(store_path) == (1, 1)
    assert store.pending() == []


def test_a_record_killed_after_the_store_committed_it_is_not_offered_again(
    store_path: Path, recording: tuple[subprocess.Popen[str], str]
) -> None:
    """Its entry is deleted once the store has the catch, not in the same transaction: a
    kill in between leaves it, and the next start finds the catch by its photo's uid and
    deletes the entry (a Retry would have written nothing, but said "NOT RECORDED" first)."""
    worker, _ = recording
    kill_after_the_commit(store_path, worker)
    assert spool_entries(store_path) == 1  # the kill left it

    store = catch_store(store_path)
    assert store.pending() == [], "a catch the store holds was offered as not recorded"
    assert spool_entries(store_path) == 0, "its entry was left to be offered at every start"
    assert counts(store_path) == (1, 1)


def test_the_next_start_says_nothing_alarming_of_a_catch_the_store_committed(
    qapp: QApplication,
    store_path: Path,
    recording: tuple[subprocess.Popen[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Review (desktop/catch_records.py:95): the panel showed such a catch as "NOT RECORDED
    ... kept from before the app stopped" until its Retry said "recorded already"."""
    del qapp
    worker, uid = recording
    kill_after_the_commit(store_path, worker)
    caplog.set_level(logging.INFO, logger="desktop.catch_store")
    settings = AppSettings(store_path, None, {PASSPHRASE_ENV: PASSPHRASE}, 3600, QUICK)
    panel = CatchPanel()
    controller = CatchController(settings, panel, cast("SpeciesPacks", OnePack(HeldClassifier())))
    try:
        controller.start()
        wait_until(lambda: "waiting" in panel.review.summary.text(), "the review list")
        assert "NOT RECORDED" not in panel.record_message.text(), panel.record_message.text()
        assert controller.records.refused == []
        assert spool_entries(store_path) == 0 and counts(store_path) == (1, 1)
        assert uid in caplog.text  # said in the log, for whoever looks into the kill
    finally:
        controller.stop()
        panel.deleteLater()


def kill_after_the_commit(store_path: Path, worker: subprocess.Popen[str]) -> None:
    """Let the held Record commit its catch, and kill it (SIGKILL) before the spool's entry
    of it is deleted."""
    assert worker.stdin is not None
    with write_locked(store_path, spool=True):  # the entry's deletion waits here
        worker.stdin.write("go\n")
        worker.stdin.flush()
        wait_for(lambda: counts(store_path) == (1, 1), worker, "the store's commit")
        worker.kill()
        worker.wait(timeout=60)


def test_a_catch_the_store_can_never_take_is_not_kept_to_be_offered_again(
    store_path: Path, photo: Path
) -> None:
    """Kept from its Record, a catch the store refuses for good (a box outside the photo) is
    deleted again: a Retry would be refused the same way at every start."""
    box = Crop(40, 30, 64, 48)  # the photo is 64x48
    catch = CatchRecord(
        read_catch_photo(photo).file(), (CaughtFish(box, NO_FISH),),
        CatchDetails(officer="Ana Lima"), (None,),
    )  # fmt: skip
    store = catch_store(store_path)
    with pytest.raises(CatchError, match="lies outside"):
        store.record(catch)
    assert store.pending() == []
    assert counts(store_path) == (0, 0)


def stored(store_path: Path, key: bytes) -> int:
    """How many catches the store file holds, read without the store's open."""
    database = Database.open(store_path, key, PATIENT, create=False)
    try:
        return int(database.query("SELECT count(*) FROM fish_observations")[0][0])
    finally:
        database.close()


def wait_for(condition: Callable[[], bool], worker: subprocess.Popen[str], what: str) -> None:
    """Poll ``condition`` while the worker runs (it blocks on no Qt event loop)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert worker.poll() is None, f"the worker ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class HeldClassifier:
    """Answers ``no_fish`` for each image; while ``gate`` is shut, only once it opens."""

    def __init__(self) -> None:
        self.pack = SimpleNamespace(species=(Species("thunnus", "Thunnus albacares"),))
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def classify(self, images: Sequence[object], top_k: int = 5) -> list[FishPrediction]:
        self.entered.set()
        self.gate.wait(60)
        return [NO_FISH for _ in images]


class OnePack(QObject):
    """Stands in for ``SpeciesPacks``: one classifier, never switched."""

    changed = Signal(object)

    def __init__(self, classifier: HeldClassifier) -> None:
        super().__init__()
        self.classifier = classifier


def test_a_record_waiting_behind_a_classification_is_on_disk_meanwhile(
    qapp: QApplication, store_path: Path, photo: Path
) -> None:
    """The officer classified a box, removed it (the whole photo is the fish again, so
    Record is on) and pressed Record while the box's classification still held the panel's
    one worker: a kill then, before the store was even asked, must lose nothing."""
    del qapp
    classifier = HeldClassifier()
    # Patient: the test's reads of the spool below must not turn the Record away.
    settings = AppSettings(store_path, None, {PASSPHRASE_ENV: PASSPHRASE}, 3600, PATIENT)
    with Store.open(store_path, Passphrase(PASSPHRASE), config=QUICK) as opened:
        key = opened.key  # derived once: the reads below open the spool alone
    panel = CatchPanel()
    controller = CatchController(settings, panel, cast("SpeciesPacks", OnePack(classifier)))
    try:
        controller.open_photo(photo)
        wait_until(panel.record.isEnabled, "the photo classified")
        panel.officer.setText("Ana Lima")
        controller.add_box(Crop(0, 0, 32, 24))
        classifier.gate.clear()
        classifier.entered.clear()
        controller.classify_boxes()
        assert classifier.entered.wait(30), "the box was never classified"
        panel.photo.remove_box(0)
        assert panel.record.isEnabled()
        panel.record.click()  # queued behind the box's classification

        store = catch_store(store_path)
        # The Record runs ahead of the held worker (only its outcome waits its turn): it may
        # keep, write and delete its spool entry between two looks, so the catch is on disk
        # in the spool or, already, in the store. Read with the key derived once, neither
        # through the store's open (its checkpoint at each close contends with the Record's
        # writes) nor the panel's open of the spool (it writes the spool's key header when
        # it lacks one, as the Record making the spool is about to, and two threads of one
        # process writing it at once collide: sync/durable.py temporary_beside).
        wait_until(
            lambda: pending_count(store_path, key, PATIENT) == 1 or stored(store_path, key) == 1,
            "the catch on disk while its Record waits behind the classification",
            20,
        )
        assert controller.records.busy  # its outcome still waits behind the classification
        classifier.gate.set()
        wait_until(lambda: not controller.records.busy, "the record")
        assert panel.record_message.text().startswith(f"{photo.name}: recorded ")
        assert counts(store_path) == (1, 1) and store.pending() == []
    finally:
        classifier.gate.set()
        controller.stop()
        panel.deleteLater()
