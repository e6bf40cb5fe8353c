"""Catches the store refused survive the app: kept on disk beside the store, encrypted with its
key, offered again at the next start, and deleted once recorded or dismissed.

Review 14 (finding 5): a refused catch waited for Retry in memory only; an out-of-memory kill
or a power cut lost every one. Real windows offscreen on a real store, another connection
holding its write lock; a window closed "anyway" stands for the app that stopped (the entry
is written at the refusal, before any close).
"""

from __future__ import annotations

import gc
import shutil
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from desktop.app import MainWindow
from desktop.catch_store import CatchStore
from sync.errors import WrongKeyError
from sync.store import Passphrase, Position, keys
from sync.store.pending_catches import spool_path
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.qtwait import wait_until
from tests.desktop.test_catch import BELOW_REVIEW, CONFIDENT
from tests.desktop.test_catch_panel import Rig, catch_of, in_store
from tests.desktop.test_catch_record_failures import (
    QUICK,
    held,
    observed,
    refused_record,
    settle,
)
from tests.desktop.test_catch_spool_crash import spool_entries, write_locked

pytestmark = pytest.mark.needs_shared
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
        rig.closing.answer = True
        opened.close()


def kept(rig: Rig) -> list[str]:
    """The photos of the catches kept in the spool, as the next start reads them."""
    store = CatchStore(rig.store, Passphrase(PASSPHRASE), QUICK)
    return [record.name for record in store.pending()]


def stop(window: MainWindow, rig: Rig) -> None:
    """The app stops with catches not recorded (the officer closes it anyway)."""
    rig.closing.answer = True
    assert window.close()


@pytest.fixture
def restarted(rig: Rig) -> Iterator[list[MainWindow]]:
    """Windows opened as the app's next starts; closed at the end."""
    opened: list[MainWindow] = []
    yield opened
    rig.closing.answer = True
    for one in opened:
        one.close()
    del opened[:]
    # Collected now, not by a later test's collection: a closed window collected on the GUI
    # thread while the next window's worker was in the store crashed the run (a segfault,
    # seen after a failing test kept its windows in its traceback).
    gc.collect()


def start(rig: Rig, restarted: list[MainWindow]) -> MainWindow:
    opened = rig.open(config=QUICK)
    catch_of(opened).panel.officer.setText("Ana Lima")
    restarted.append(opened)
    settle(opened)
    # The kept catches come with the review list, in one job (``CatchStore.at_start``).
    summary = catch_of(opened).panel.review.summary
    wait_until(lambda: "wait" in summary.text(), "the reads at start")
    return opened


def wait_offered(window: MainWindow) -> str:
    panel = catch_of(window).panel
    wait_until(lambda: "NOT RECORDED" in panel.record_message.text(), "the kept catches")
    return panel.record_message.text()


def test_a_refused_catch_is_offered_again_at_the_next_start_and_recorded_once(
    window: MainWindow, rig: Rig, restarted: list[MainWindow]
) -> None:
    panel = catch_of(window).panel
    rig.open_photo(window, CONFIDENT)
    panel.confirmed.setEditText("Dascyllus reticulatus")  # the officer knows better
    panel.vessel.setText("Maria II")
    panel.latitude.setText("-8.5")
    panel.longitude.setText("115.2")
    panel.length_cm.setText("12.5")
    with held(rig.store):
        catch_of(window).panel.record.click()
        settle(window)
    refused_at = datetime.now(UTC)
    assert "kept on disk until recorded" in panel.record_message.text()
    assert kept(rig) == [A]  # on disk at the refusal, whatever happens to the app next
    stop(window, rig)

    again = start(rig, restarted)
    message = wait_offered(again)
    assert message.startswith(f"NOT RECORDED {A}: kept from before the app stopped"), message
    panel = catch_of(again).panel
    assert panel.retry.isVisibleTo(panel)
    panel.retry.click()
    settle(again)
    assert panel.record_message.text().startswith(f"{A}: recorded "), panel.record_message.text()
    # the catch as it was classified and confirmed then, with its own photo's bytes
    assert observed(rig.store) == [("Amphiprion clarkii", (rig.f4k / CONFIDENT).read_bytes())]
    with in_store(rig.store) as store:
        ((uid,),) = store.database.query("SELECT observation_uid FROM fish_observations")
        catch = store.observations.get(uid)
    assert catch.confirmed_species == "Dascyllus reticulatus" and catch.vessel == "Maria II"
    assert catch.position == Position(-8.5, 115.2) and catch.length_cm == 12.5
    assert catch.observed_at < refused_at  # dated when Record was pressed, not at the Retry
    assert kept(rig) == []
    assert not catch_of(start(rig, restarted)).records.refused  # nothing offered a third time


def test_the_spool_is_private_and_encrypted_with_the_stores_key(
    window: MainWindow, rig: Rig
) -> None:
    refused_record(window, rig)
    spool = spool_path(rig.store)
    assert stat.S_IMODE(spool.stat().st_mode) == 0o600
    header = keys.read_header(spool)  # it opens with the store's passphrase, and only with it
    assert header.current == keys.read_header(rig.store).current
    photo, data = (rig.f4k / CONFIDENT).read_bytes(), spool.read_bytes()
    assert photo[100:164] not in data and b"Ana Lima" not in data and b"SQLite format" not in data
    with pytest.raises(WrongKeyError):
        CatchStore(rig.store, Passphrase("not the passphrase"), QUICK).pending()


def test_a_catch_recorded_just_before_a_crash_is_not_recorded_twice(
    window: MainWindow, rig: Rig, restarted: list[MainWindow]
) -> None:
    """The store committed it, and the app died before the spool's entry was deleted: the
    next start deletes the entry, and offers nothing (it said "NOT RECORDED" until a Retry
    said "recorded already")."""
    refused_record(window, rig)
    spool, aside = spool_path(rig.store), rig.scratch / "spool-before-retry"
    shutil.copyfile(spool, aside)
    catch_of(window).panel.retry.click()
    settle(window)
    assert len(observed(rig.store)) == 1 and kept(rig) == []
    stop(window, rig)
    shutil.copyfile(aside, spool)  # as the crash left it

    again = catch_of(start(rig, restarted))
    assert "NOT RECORDED" not in again.panel.record_message.text()  # nor a Retry to press
    assert not again.records.refused
    assert spool_entries(rig.store) == 0, "its entry was left for the next start again"
    assert len(observed(rig.store)) == 1


def test_a_dismissed_catch_is_not_offered_again(
    window: MainWindow, rig: Rig, restarted: list[MainWindow]
) -> None:
    refused_record(window, rig)
    rig.open_photo(window, BELOW_REVIEW)
    with held(rig.store):
        catch_of(window).panel.record.click()
        settle(window)
    assert kept(rig) == [A, B]
    catch_of(window).panel.dismiss.click()
    wait_until(lambda: kept(rig) == [], "the dismissed catches deleted")
    stop(window, rig)
    assert not catch_of(start(rig, restarted)).records.refused
    assert observed(rig.store) == []


def test_recording_a_refused_photo_again_replaces_its_kept_entry(
    window: MainWindow, rig: Rig
) -> None:
    refused_record(window, rig)
    with held(rig.store):
        catch_of(window).panel.record.click()  # refused again: one entry, not two
        settle(window)
    assert kept(rig) == [A]
    catch_of(window).panel.record.click()
    settle(window)
    assert kept(rig) == [] and len(observed(rig.store)) == 1


def test_a_catch_the_spool_cannot_keep_waits_in_memory_and_says_so(
    window: MainWindow, rig: Rig
) -> None:
    """No room for the spool either (here: something else is at its path): the catch still
    waits for Retry, and the officer is told it would be lost if the app stopped."""
    spool_path(rig.store).mkdir()
    refused_record(window, rig)
    panel = catch_of(window).panel
    assert "kept in memory only, lost if the app stops" in panel.record_message.text()
    panel.retry.click()
    settle(window)
    assert panel.record_message.text().startswith(f"{A}: recorded ")
    assert len(observed(rig.store)) == 1


def test_a_dismissal_the_spool_cannot_delete_says_the_catch_comes_back(
    window: MainWindow, rig: Rig, restarted: list[MainWindow]
) -> None:
    """The officer dismissed a kept catch while the spool could not be written (held here;
    a full disk): the failure was only logged, the panel said "dismissed, not recorded", and
    the next start offered the dismissed catch again, unexplained."""
    refused_record(window, rig)
    panel = catch_of(window).panel
    with write_locked(rig.store, spool=True):
        panel.dismiss.click()
        wait_until(lambda: "next start" in panel.record_message.text(), "the dismissal", 30)
    said = panel.record_message.text()
    assert f"dismissed, but still kept on disk: {A}" in said
    stop(window, rig)
    assert [r.name for r in catch_of(start(rig, restarted)).records.refused] == [A]
