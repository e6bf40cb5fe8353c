"""Consent is what allows matching: once a person's consent ends, a kiosk no longer
matches them or resolves their badge, also one already running, before anyone purges."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.kiosk.assemble import KioskOptions, kiosk_session, kiosk_settings
from desktop.kiosk.enrol import NewPerson, enrol_person
from desktop.kiosk.errors import KioskError
from desktop.kiosk.gallery import claimed_person
from inference.face.settings import FaceSettings
from inference.face.stages import Stages
from sync.store import Passphrase, Store
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import webcam_paths
from tests.desktop.kiosk.test_kiosk_session import KIOSK, attempt, the_face
from tests.sync.conftest import FAST, FakeClock

pytestmark = pytest.mark.needs_shared


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[Store, FakeClock]]:
    clock = FakeClock()
    with Store.create(tmp_path / "k.db", Passphrase(PASSPHRASE), clock=clock, config=FAST) as s:
        yield s, clock


def enrol_for_a_day(store: Store, stages: Stages) -> str:
    person = NewPerson("B-001", "Ada", KIOSK.site, "v1", "desk", 1)
    return enrol_person(
        store, stages, FaceSettings(), person, webcam_paths("live")[:2]
    ).person.person_uid


def test_a_person_whose_consent_ended_is_not_matched_nor_their_badge_resolved(
    clocked: tuple[Store, FakeClock], stages: Stages
) -> None:
    store, clock = clocked
    enrol_for_a_day(store, stages)
    clock.advance(days=1)
    assert store.people.count() == 1  # not purged yet
    options = KioskOptions(site=KIOSK.site, device=KIOSK.device)
    kiosk = kiosk_session(store, stages, kiosk_settings(None), options, {})
    assert the_face(attempt(kiosk, "live")).decision == "not_matched"
    with pytest.raises(KioskError, match="consent of 'B-001' has ended"):
        claimed_person(store, "B-001", KIOSK.site)


def test_a_running_kiosk_lets_go_when_the_consent_ends(
    clocked: tuple[Store, FakeClock], stages: Stages
) -> None:
    store, clock = clocked
    person = enrol_for_a_day(store, stages)
    options = KioskOptions(site=KIOSK.site, device=KIOSK.device)
    kiosk = kiosk_session(store, stages, kiosk_settings(None), options, {}, watch_every_s=0.0)
    assert the_face(attempt(kiosk, "live")).person_uid == person
    clock.advance(days=1)
    after = the_face(attempt(kiosk, "live"))
    assert after.decision == "not_matched" and after.person_uid is None
