"""The Catch panel says when a catch was dated otherwise than the photo says, as ``jaga catch``
does: a photo whose own time is later than the clock (a camera set wrong), or a device clock
behind the hub time it has seen (a dead RTC battery). Recorded silently, the catch went to
the hub dated by the recording, and the officer never learnt that the camera or the laptop
needed setting right. A real window offscreen on a real store, the default pack, an f4k
photo given an EXIF record by Pillow.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from desktop.app import MainWindow
from sync.store import Passphrase, Store
from sync.store.edit_clock import note_hub_time
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.test_catch import CONFIDENT
from tests.desktop.test_catch_panel import Rig, catch_of, in_store, only_observation, record
from tests.desktop.test_catch_time import with_exif
from tests.sync.conftest import FAST

pytestmark = pytest.mark.needs_shared


@pytest.fixture
def rig(species_rig: Rig) -> Rig:
    return species_rig


@pytest.fixture
def window(rig: Rig) -> Iterator[MainWindow]:
    opened = rig.open()
    catch_of(opened).panel.officer.setText("Ana Lima")
    try:
        yield opened
    finally:
        opened.close()


def test_a_photo_dated_later_than_the_clock_is_recorded_now_and_the_panel_says_why(
    window: MainWindow, rig: Rig
) -> None:
    photo = with_exif(rig.f4k / CONFIDENT, rig.scratch, "2099:03:10 06:15:00", "+08:00")
    rig.open_photo(window, photo)
    said = record(window)
    with in_store(rig.store) as store:
        stored = only_observation(store)
    assert stored.observed_at.year < 2099  # the time of recording, not the camera's
    assert "recorded now" in said
    assert "the photo's time 2099-03-09T22:15:00+00:00 is later than this clock" in said


def test_a_clock_behind_the_hub_time_seen_is_named_wrong_when_a_catch_is_recorded(
    window: MainWindow, rig: Rig
) -> None:
    hub_time = datetime.now(UTC) + timedelta(days=3 * 365)  # this clock, three years behind
    with (
        Store.open(rig.store, Passphrase(PASSPHRASE), config=FAST) as store,
        store.database.write() as connection,  # as a pull from the hub leaves it
    ):
        note_hub_time(connection, [(str(uuid4()), hub_time)], hub_time, store.clock.now())
    rig.open_photo(window, CONFIDENT)
    said = record(window)
    assert "this device's clock looks wrong" in said
    with in_store(rig.store) as store:
        assert only_observation(store).observed_at >= hub_time.replace(microsecond=0)
