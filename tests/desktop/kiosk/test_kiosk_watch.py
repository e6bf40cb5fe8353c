"""A running kiosk sees the gallery change under it: an erasure made by another connection
(a sync, ``jaga store``) stops it verifying the person without a restart."""

from __future__ import annotations

import pytest

from desktop.kiosk.assemble import KioskOptions, kiosk_session, kiosk_settings
from desktop.kiosk.errors import KioskError
from desktop.kiosk.gallery import GalleryWatch
from desktop.kiosk.session import KioskSession
from inference.face.match import MatchSettings
from inference.face.stages import Stages
from sync.store import Passphrase, Store
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import webcam_paths
from tests.desktop.kiosk.test_kiosk_session import KIOSK, attempt, enrol, the_face
from tests.sync.conftest import FAST

pytestmark = pytest.mark.needs_shared


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def watched(store: Store, stages: Stages, claim: str | None = None) -> KioskSession:
    """A session whose watch looks at the gallery before every frame."""
    options = KioskOptions(site=KIOSK.site, device=KIOSK.device, claim=claim)
    kiosk = kiosk_session(store, stages, kiosk_settings(None), options, {})
    assert stages.recogniser is not None
    watch = GalleryWatch(store, stages.recogniser.model, MatchSettings(), every_s=0.0)
    return KioskSession(kiosk.pipeline, store, kiosk.identity, watch)


def erase_elsewhere(store: Store, person_uid: str) -> None:
    with Store.open(store.path, Passphrase(PASSPHRASE), config=FAST) as other:
        other.people.erase(person_uid, operator="hub", reason="erasure request")


def test_an_erasure_by_another_connection_reaches_the_running_kiosk(
    kiosk_store: Store, stages: Stages
) -> None:
    person = enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2])
    kiosk = watched(kiosk_store, stages)
    assert the_face(attempt(kiosk, "live")).decision == "verified"
    erase_elsewhere(kiosk_store, person)
    after = the_face(attempt(kiosk, "live"))
    assert after.decision == "not_matched" and after.person_uid is None


def test_an_erased_badge_stops_a_one_to_one_kiosk(kiosk_store: Store, stages: Stages) -> None:
    person = enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2])
    kiosk = watched(kiosk_store, stages, claim="B-001")
    erase_elsewhere(kiosk_store, person)
    with pytest.raises(KioskError, match="erased"):
        attempt(kiosk, "live")


def test_the_gallery_is_looked_at_once_per_interval(kiosk_store: Store, stages: Stages) -> None:
    assert stages.recogniser is not None
    clock = FakeClock()
    watch = GalleryWatch(kiosk_store, stages.recogniser.model, MatchSettings(), 1.0, clock)
    enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:1])
    assert watch.changed() is None  # too soon to look
    clock.now += 1.0
    gallery = watch.changed()
    assert gallery is not None and len(gallery) == 1
    clock.now += 1.0
    assert watch.changed() is None  # looked, and nothing changed since
