"""A survey boat's device that never synced, whose clock a flat RTC battery reset to a
firmware date: no hub time vouches for the true time, but the release date of the jaga
build it runs does, and so do the times its store already recorded (``sync.store.clock``,
``sync.store.clock_floor``). A catch recorded under that clock is dated by what is known,
and a camera clock reset to its firmware's date is not taken for the catch's time.

The clock is injected (``FakeClock``, with the release date ``SystemClock`` carries); the
store, the classifier and the photo are real.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from desktop.catch import CatchDetails, classify_catch, record_catches
from desktop.catch_photo import read_catch_photo
from desktop.photo_time import PhotoTime
from inference.fish.classify import SpeciesClassifier
from sync.store import FishObservation, Passphrase, Store
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.test_catch import CONFIDENT
from tests.sync.conftest import FAST, FakeClock

pytestmark = pytest.mark.needs_shared

RELEASED = datetime(2026, 11, 1, tzinfo=UTC)  # the build's release date, as the clock says
RESET = datetime(2000, 1, 1, tzinfo=UTC)  # where a flat RTC battery leaves the clock
FIRMWARE = datetime(2019, 1, 1, tzinfo=UTC)  # a camera's reset date: after EXIF 2.31 (2016)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(RESET, released=RELEASED)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    """Made under that clock too: what it records (its audit entries) is dated by it."""
    path = tmp_path / "device" / "jaga.db"
    with Store.create(path, Passphrase(PASSPHRASE), config=FAST, clock=clock) as created:
        yield created


def photo_at(moment: datetime) -> PhotoTime:
    return PhotoTime(f"{moment:%Y:%m:%d %H:%M:%S}", moment)


def record(
    store: Store, classifier: SpeciesClassifier, f4k: Path, taken: PhotoTime | None = None
) -> FishObservation:
    photo = replace(read_catch_photo(f4k / CONFIDENT), time=taken)
    fish = classify_catch(classifier, photo)
    (observation,) = record_catches(
        store.observations, photo, fish, CatchDetails("Ana Lima"), clock=store.clock, again=True
    )
    return observation


def test_on_a_clock_reset_before_the_release_a_photo_taken_since_is_the_catchs_time(
    store: Store, species_classifier: SpeciesClassifier, f4k: Path
) -> None:
    """It was refused as "later than this clock", and the catch dated 2000."""
    caught = RELEASED + timedelta(days=20, hours=6)
    observation = record(store, species_classifier, f4k, photo_at(caught))
    assert observation.observed_at == caught


def test_on_a_clock_reset_a_catch_without_a_time_is_dated_by_what_the_store_recorded(
    store: Store, clock: FakeClock, species_classifier: SpeciesClassifier, f4k: Path
) -> None:
    """The newest time the store recorded by a clock then right is a lower bound on the true
    time, once the clock reads before the release: not the year 2000."""
    clock.moment = RELEASED + timedelta(days=30)  # the clock still right
    record(store, species_classifier, f4k)
    clock.moment = RESET  # the battery goes flat
    observation = record(store, species_classifier, f4k)
    assert observation.observed_at == RELEASED + timedelta(days=30)


def test_a_camera_clock_reset_to_its_firmware_date_is_not_the_catchs_time(
    store: Store, clock: FakeClock, species_classifier: SpeciesClassifier, f4k: Path
) -> None:
    """A photo dated years before the release of the build recording it: the camera's clock
    was reset, and the catch is dated as recorded, not 2019."""
    clock.moment = RELEASED + timedelta(days=10)  # this device's clock is right
    observation = record(store, species_classifier, f4k, photo_at(FIRMWARE))
    assert observation.observed_at == clock.moment


def test_the_officer_is_told_the_clock_looks_wrong_and_what_dated_the_catch() -> None:
    from desktop.catch_time import observed_time
    from sync.store.clock_floor import ClockFloor

    floor = ClockFloor(released=RELEASED, recorded=RELEASED + timedelta(days=30))
    unknown = observed_time(None, None, RESET, floor=floor)
    assert (unknown.at, unknown.source) == (RELEASED + timedelta(days=30), "recorded")
    said = unknown.note or ""
    assert "clock looks wrong: it reads 2000-01-01" in said
    assert "before 2026-11-01T00:00:00.000000Z, the date of this jaga release" in said
    assert "recorded as of 2026-12-01T00:00:00.000000Z" in said
    caught = RELEASED + timedelta(days=3)  # after the release, before the newest record
    taken = observed_time(None, photo_at(caught), RESET, floor=floor)
    assert (taken.at, taken.source) == (caught, "photo") and "clock looks wrong" in (
        taken.note or ""
    )
    reset_camera = observed_time(None, photo_at(FIRMWARE), RELEASED, floor=floor)
    assert (reset_camera.at, reset_camera.source) == (RELEASED, "recorded")
    assert "the camera's clock looks reset" in (reset_camera.note or "")


def test_a_time_recorded_here_alone_does_not_call_the_clock_wrong() -> None:
    """A clock that ran a year ahead once and was set right since left its times in the
    store: they must not date every later catch a year ahead, with no setting to right it."""
    from desktop.catch_time import observed_time
    from sync.store.clock_floor import ClockFloor

    right_now = RELEASED + timedelta(days=5)
    floor = ClockFloor(released=RELEASED, recorded=right_now + timedelta(days=365))
    assert observed_time(None, None, right_now, floor=floor) == observed_time(None, None, right_now)
