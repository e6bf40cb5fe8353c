"""A Record the store refuses, in a real window offscreen: another connection holds the
store's write lock (as the sync, `jaga catch` in a shell or a backup does) while the officer
records a photo and opens the next one at once.

The refusal once showed for a few milliseconds and was wiped by the next photo's answer,
and the classified catch was dropped: lost without a word. It must stay on screen, naming
the photo, until the officer retries it (the same classified catch, written once) or
dismisses it. The store, the second connection, the classifier and the widgets are real;
only the file dialog is replaced.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop.app import MainWindow
from sync.store import Passphrase, Store, StoreConfig
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.qtwait import wait_until
from tests.desktop.test_catch import BELOW_REVIEW, CONFIDENT
from tests.desktop.test_catch_panel import Rig, _keep_screenshot, catch_of, in_store

pytestmark = pytest.mark.needs_shared
# Gives up on a held store at once (the app's default waits 5 s, then fails the same way).
QUICK = StoreConfig(busy_timeout_s=0.2, scrypt_n=2**10)
A, B = Path(CONFIDENT).name, Path(BELOW_REVIEW).name


@pytest.fixture
def rig(species_rig: Rig) -> Rig:
    return species_rig


@pytest.fixture
def window(rig: Rig) -> Iterator[MainWindow]:
    opened = rig.open(config=QUICK)
    catch_of(opened).panel.officer.setText("Ana Lima")
    try:
        yield opened
    finally:
        opened.close()


@contextlib.contextmanager
def held(path: Path) -> Iterator[None]:
    """Another connection holds the store's write lock."""
    with (
        Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as other,
        other.database.write(),
    ):
        yield


def record_then_open(window: MainWindow, rig: Rig, photo: str) -> None:
    """Record the photo shown and open ``photo`` at once, as an officer moving on does. The
    one worker runs them in order: when the answer for ``photo`` is shown, the record's
    outcome has been delivered."""
    catch_of(window).panel.record.click()
    rig.open_photo(window, photo)


def settle(window: MainWindow) -> None:
    """Every write asked for has come back."""
    wait_until(lambda: not catch_of(window).records.busy, "the writes")


def refused_record(window: MainWindow, rig: Rig) -> None:
    """Open photo A and record it while another connection holds the store: refused."""
    rig.open_photo(window, CONFIDENT)
    with held(rig.store):
        catch_of(window).panel.record.click()
        settle(window)


def observed(store_path: Path) -> list[tuple[str, bytes]]:
    """Each observation's best species and its photo's bytes, in the order recorded."""
    with in_store(store_path) as store:
        rows = store.database.query(
            "SELECT o.observation_uid, p.data FROM fish_observations o"
            " JOIN photos p ON p.id = o.photo_id ORDER BY o.id"
        )
        return [
            (store.observations.get(uid).predictions[0].species, bytes(data)) for uid, data in rows
        ]


def test_a_refused_record_stays_shown_until_retried_and_retry_writes_it_once(
    window: MainWindow, rig: Rig
) -> None:
    controller, panel = catch_of(window), catch_of(window).panel
    rig.open_photo(window, CONFIDENT)
    with held(rig.store):
        record_then_open(window, rig, BELOW_REVIEW)
    assert panel.species.text() == "Dascyllus reticulatus"  # the next photo is on screen...
    message = panel.record_message.text()
    assert message.startswith(f"NOT RECORDED {A}: "), message  # ...and A's refusal too
    assert "being written by another process" in message
    assert panel.retry.isVisibleTo(panel) and panel.retry.isEnabled()
    assert panel.dismiss.isVisibleTo(panel)
    _keep_screenshot(window, rig.scratch, "catch_not_recorded.png")
    assert observed(rig.store) == []

    panel.retry.click()  # the store is free now
    controller.retry()  # an impatient second click: A is being written, not refused
    settle(window)
    assert panel.record_message.text().startswith(f"{A}: recorded ")
    assert not panel.retry.isVisibleTo(panel) and not panel.dismiss.isVisibleTo(panel)
    # A as it was classified, with its own photo: not the photo on screen now
    assert observed(rig.store) == [("Amphiprion clarkii", (rig.f4k / CONFIDENT).read_bytes())]
    controller.retry()  # nothing is left to retry
    settle(window)
    assert len(observed(rig.store)) == 1
    assert panel.record.isEnabled()  # B is still to be recorded
    panel.record.click()
    settle(window)
    assert [species for species, _ in observed(rig.store)] == [
        "Amphiprion clarkii",
        "Dascyllus reticulatus",
    ]


def test_a_recorded_catch_stays_confirmed_when_the_next_photo_opens(
    window: MainWindow, rig: Rig
) -> None:
    panel = catch_of(window).panel
    rig.open_photo(window, CONFIDENT)
    record_then_open(window, rig, BELOW_REVIEW)
    message = panel.record_message.text()
    assert message.startswith(f"{A}: recorded ") and "queued for the hub" in message, message
    assert len(observed(rig.store)) == 1


def test_a_dismissed_refusal_says_the_catch_was_not_recorded(window: MainWindow, rig: Rig) -> None:
    panel = catch_of(window).panel
    rig.open_photo(window, CONFIDENT)
    with held(rig.store):
        record_then_open(window, rig, BELOW_REVIEW)
    panel.dismiss.click()
    assert panel.record_message.text() == f"dismissed, not recorded: {A}"
    assert not panel.retry.isVisibleTo(panel)
    panel.record.click()  # B
    settle(window)
    assert panel.record_message.text().startswith(f"{B}: recorded ")
    assert [species for species, _ in observed(rig.store)] == ["Dascyllus reticulatus"]


def test_two_refused_records_both_wait_and_one_retry_writes_each_once(
    window: MainWindow, rig: Rig
) -> None:
    panel = catch_of(window).panel
    rig.open_photo(window, CONFIDENT)
    with held(rig.store):
        record_then_open(window, rig, BELOW_REVIEW)
        panel.record.click()  # B, refused too: A's refusal must not give way to it
        settle(window)
    lines = panel.record_message.text().splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"NOT RECORDED {A}", f"NOT RECORDED {B}"]
    panel.retry.click()
    settle(window)
    lines = panel.record_message.text().splitlines()
    assert [line.split(": ")[0] for line in lines] == [A, B]
    assert all(line.split(": ")[1].startswith("recorded ") for line in lines)
    assert sorted(species for species, _ in observed(rig.store)) == [
        "Amphiprion clarkii",
        "Dascyllus reticulatus",
    ]
    assert not panel.record.isEnabled()  # B, on screen, is recorded: one record per photo


def test_recording_the_refused_photo_again_replaces_its_refusal(
    window: MainWindow, rig: Rig
) -> None:
    panel = catch_of(window).panel
    refused_record(window, rig)
    assert panel.record_message.text().startswith(f"NOT RECORDED {A}: ")
    assert panel.record.isEnabled()  # the photo is still on screen: Record it again
    panel.record.click()
    settle(window)
    assert panel.record_message.text().startswith(f"{A}: recorded ")
    assert not panel.retry.isVisibleTo(panel) and not panel.record.isEnabled()
    assert len(observed(rig.store)) == 1


def test_closing_with_a_refused_catch_asks_first_and_no_keeps_it(
    window: MainWindow, rig: Rig
) -> None:
    """The refused catch lives only in the window: closing it unasked lost it."""
    panel = catch_of(window).panel
    refused_record(window, rig)
    rig.closing.answer = False
    assert not window.close()  # the officer says No: the window stays, the catch waits
    assert window.isVisible() and len(rig.closing.questions) == 1
    assert f"1 catch not recorded: {A}" in rig.closing.questions[0]
    panel.retry.click()
    settle(window)
    assert len(observed(rig.store)) == 1
    assert window.close()  # nothing refused is left: no question
    assert len(rig.closing.questions) == 1


def test_closing_anyway_is_the_officers_choice(window: MainWindow, rig: Rig) -> None:
    refused_record(window, rig)
    rig.closing.answer = True
    assert window.close() and not window.isVisible()
    assert len(rig.closing.questions) == 1 and observed(rig.store) == []


def test_a_retry_records_the_catch_at_the_time_record_was_pressed(
    window: MainWindow, rig: Rig
) -> None:
    """An f4k photo has no capture time of its own: it is dated when Record is pressed,
    not when a Retry finally writes it."""
    panel = catch_of(window).panel
    refused_record(window, rig)
    retried_at = datetime.now(UTC)
    panel.retry.click()
    settle(window)
    with in_store(rig.store) as store:
        (uid,) = [row[0] for row in store.database.query(
            "SELECT observation_uid FROM fish_observations")]  # fmt: skip
        assert store.observations.get(uid).observed_at < retried_at


def test_the_second_record_of_a_photo_recorded_before_is_not_undone_by_another_retry(
    window: MainWindow, rig: Rig
) -> None:
    panel = catch_of(window).panel
    rig.open_photo(window, CONFIDENT)
    panel.record.click()  # A, recorded
    settle(window)
    rig.open_photo(window, BELOW_REVIEW)
    with held(rig.store):
        panel.record.click()  # B, refused: waits for Retry
        settle(window)
    rig.open_photo(window, CONFIDENT)  # A again
    panel.record.click()
    settle(window)
    assert "Press Record again to record it again" in panel.record_message.text()
    panel.retry.click()  # B written meanwhile
    settle(window)
    panel.record.click()  # the officer insists on A: recorded again, not warned again
    settle(window)
    assert len(observed(rig.store)) == 3, panel.record_message.text()


def test_closing_while_a_catch_is_being_written_asks_first(window: MainWindow, rig: Rig) -> None:
    """Record, then close at once (the end of a day): the store may yet refuse that write,
    and after the window is gone nobody would see it."""
    panel = catch_of(window).panel
    rig.open_photo(window, CONFIDENT)
    rig.closing.answer = False
    with held(rig.store):
        panel.record.click()
        assert catch_of(window).records.busy
        assert not window.close()
        settle(window)
    assert f"1 still being written, which the store may yet refuse: {A}" in rig.closing.questions[0]
    assert panel.record_message.text().startswith(f"NOT RECORDED {A}: ")  # seen, not lost
    panel.retry.click()
    settle(window)
    assert len(observed(rig.store)) == 1


def _arrays_in(value: object, seen: set[int] | None = None) -> list[np.ndarray]:
    """Every numpy array a record holds, through its dataclasses, tuples, lists and dicts."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts: list[object] = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif isinstance(value, tuple | list):
        parts = list(value)
    elif isinstance(value, dict):
        parts = [*value.keys(), *value.values()]
    else:
        return []
    return [array for part in parts for array in _arrays_in(part, seen)]


def test_a_refused_record_holds_the_files_bytes_not_the_decoded_photo(
    window: MainWindow, rig: Rig
) -> None:
    """Review 14: ten refused 24 MP catches held 720 MB of decoded pixels for 14 MB of
    files; a Retry writes the file's bytes and needs only the photo's size."""
    controller = catch_of(window)
    refused_record(window, rig)
    rig.open_photo(window, BELOW_REVIEW)  # the officer moves on: A is no longer on screen
    (record,) = controller.records.refused
    assert _arrays_in(record) == []
    assert record.photo.data == (rig.f4k / CONFIDENT).read_bytes()
    pixels = cv2.imread(str(rig.f4k / CONFIDENT))
    assert pixels is not None and record.photo.size == pixels.shape[1::-1]
    catch_of(window).panel.retry.click()
    settle(window)
    assert observed(rig.store) == [("Amphiprion clarkii", (rig.f4k / CONFIDENT).read_bytes())]
