"""A kiosk whose clock was reset (a flat RTC battery: the year 2000) would still match a
person whose consent has ended: by its clock, the consent runs for another 26 years. A
consent's end is judged against the later of the clock and the floor under it (the release
date, the hub time seen: ``sync.store.clock_floor``), which can only end a consent sooner."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from desktop.kiosk.assemble import KioskOptions, kiosk_session, kiosk_settings
from desktop.kiosk.errors import KioskError
from desktop.kiosk.gallery import claimed_person
from inference.face.stages import Stages
from sync.store import Passphrase, Store
from sync.store.edit_clock import note_hub_time
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.test_kiosk_consent import enrol_for_a_day
from tests.desktop.kiosk.test_kiosk_session import KIOSK, attempt, the_face
from tests.sync.conftest import FAST, FakeClock

pytestmark = pytest.mark.needs_shared

RELEASED = datetime(2026, 11, 1, tzinfo=UTC)
RESET = datetime(2000, 1, 1, tzinfo=UTC)
OPTIONS = KioskOptions(site=KIOSK.site, device=KIOSK.device)


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[Store, FakeClock]]:
    clock = FakeClock()  # 2026-03-01: a consent for a day ends long before the release
    with Store.create(tmp_path / "k.db", Passphrase(PASSPHRASE), clock=clock, config=FAST) as s:
        yield s, clock


def reset(clock: FakeClock) -> None:
    """The clock reads 2000, on a build released after the consent ended."""
    clock.released, clock.moment = RELEASED, RESET


def test_a_consent_ended_before_the_release_is_not_matched_on_a_reset_clock(
    clocked: tuple[Store, FakeClock], stages: Stages
) -> None:
    store, clock = clocked
    enrol_for_a_day(store, stages)
    reset(clock)
    kiosk = kiosk_session(store, stages, kiosk_settings(None), OPTIONS, {})
    assert the_face(attempt(kiosk, "live")).decision == "not_matched"
    with pytest.raises(KioskError, match="consent of 'B-001' has ended"):
        claimed_person(store, "B-001", KIOSK.site)


def test_a_running_kiosk_lets_go_when_its_clock_is_reset_past_a_consent(
    clocked: tuple[Store, FakeClock], stages: Stages
) -> None:
    store, clock = clocked
    person = enrol_for_a_day(store, stages)
    kiosk = kiosk_session(store, stages, kiosk_settings(None), OPTIONS, {}, watch_every_s=0.0)
    assert the_face(attempt(kiosk, "live")).person_uid == person
    reset(clock)  # no commit: only the consent's end can make the kiosk look again
    after = the_face(attempt(kiosk, "live"))
    assert after.decision == "not_matched" and after.person_uid is None


def test_a_consent_ended_before_the_hub_time_seen_is_not_matched(
    clocked: tuple[Store, FakeClock], stages: Stages
) -> None:
    """No release date vouched for (an injected clock): the hub time seen is the floor."""
    store, clock = clocked
    person = enrol_for_a_day(store, stages)
    kiosk = kiosk_session(store, stages, kiosk_settings(None), OPTIONS, {}, watch_every_s=0.0)
    assert the_face(attempt(kiosk, "live")).person_uid == person
    with store.database.write() as connection:  # the kiosk's own connection: no reload
        note_hub_time(connection, [], datetime(2026, 3, 5, tzinfo=UTC), clock.now())
    assert the_face(attempt(kiosk, "live")).decision == "not_matched"
    with pytest.raises(KioskError, match="consent of 'B-001' has ended"):
        claimed_person(store, "B-001", KIOSK.site)


def test_enrolment_on_a_reset_clock_is_refused(
    clocked: tuple[Store, FakeClock], stages: Stages
) -> None:
    """Its consent would be given in 2000 and end in 2000 (before the release): the hub
    would erase the person at once, and this kiosk would match them not once. Nothing is
    stored; the operator is told to set the clock right."""
    store, clock = clocked
    reset(clock)
    with pytest.raises(KioskError, match="clock looks wrong"):
        enrol_for_a_day(store, stages)
    assert store.people.count() == 0
