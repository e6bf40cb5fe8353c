"""A person of another site, kept on a device registered elsewhere with ``--strand-records``
(their records still to push exist nowhere else), is not admitted at the kiosk: neither 1:N,
nor by their badge. Their records stay in the store, to be pushed from a device of their site.

The registration is ``jaga sync register``'s own step (``register_moving``), without the hub's
answer: people enrolled with ``--site hq`` before registering, the code one of the kiosk's site."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest

from desktop.kiosk.assemble import KioskOptions, kiosk_session, kiosk_settings
from desktop.kiosk.enrol import NewPerson, enrol_person
from desktop.kiosk.errors import KioskError
from desktop.kiosk.session import KioskSession
from inference.face.settings import FaceSettings
from inference.face.stages import Stages
from sync.client.config import Registration
from sync.client.moved_site import register_moving
from sync.client.site_records import unsent_by_site
from sync.store import Store
from tests.conftest import shared_path
from tests.desktop.kiosk.conftest import Ticks, webcam_paths
from tests.desktop.kiosk.test_kiosk_badge import decided, live_attempt
from tests.desktop.kiosk.test_kiosk_session import KIOSK

pytestmark = pytest.mark.needs_shared

STRANDED_SITE = "hq"


def enrol_person_at(
    store: Store, stages: Stages, external_id: str, paths: list[Path], site: str
) -> str:
    person = NewPerson(external_id, f"Person {external_id}", site, "v1", "operator", 30)
    return enrol_person(store, stages, FaceSettings(), person, paths).person.person_uid


@pytest.fixture
def stranded(kiosk_store: Store, stages: Stages) -> dict[str, str]:
    """The webcam's person (B-001) enrolled with ``--site hq``, a John (B-002) of the kiosk's
    site; then the store registered to the kiosk's site, hq's records left unsent."""
    johns = shared_path("data", "faces", "johns")
    john = sorted(next(p for p in sorted(johns.iterdir()) if p.is_dir()).glob("*.jpg"))[:1]
    live = webcam_paths("live")[:2]
    people = {
        "B-001": enrol_person_at(kiosk_store, stages, "B-001", live, STRANDED_SITE),
        "B-002": enrol_person_at(kiosk_store, stages, "B-002", john, KIOSK.site),
    }
    registration = Registration("http://hub.test", KIOSK.site, UUID(int=7), "token-7")
    register_moving(kiosk_store, registration, kiosk_store.clock.now(),
                    send_face_images=False, operator="ops")  # fmt: skip
    return people


def _kiosk(store: Store, stages: Stages, claim: str | None = None) -> KioskSession:
    options = KioskOptions(claim=claim)  # registered: its site is the registration's
    return kiosk_session(store, stages, kiosk_settings(None), options, {}, clock=Ticks())


def test_a_stranded_person_is_not_identified_and_their_records_are_kept(
    kiosk_store: Store, stages: Stages, stranded: dict[str, str]
) -> None:
    session = _kiosk(kiosk_store, stages)
    assert session.identity.site == KIOSK.site
    assert stranded["B-001"] not in (session.pipeline.stages.gallery or ())
    assert decided(live_attempt(session)) == [("not_matched", None)]
    assert kiosk_store.people.count() == 2  # kept, to be pushed from a device of hq
    assert STRANDED_SITE in [records.site for records in unsent_by_site(kiosk_store.database)]


def test_a_stranded_persons_badge_is_told_as_not_enrolled_at_this_site(
    kiosk_store: Store, stages: Stages, stranded: dict[str, str]
) -> None:
    session = _kiosk(kiosk_store, stages)
    session.present_badge("B-001")
    frames = live_attempt(session)
    assert frames[0].notice == f"'B-001' is not enrolled at this site ({KIOSK.site})"
    assert frames[0].badge is None  # not a 1:1 attempt against them
    assert decided(frames) == [("not_matched", None)]


def test_a_kiosk_claiming_a_stranded_person_does_not_start(
    kiosk_store: Store, stages: Stages, stranded: dict[str, str]
) -> None:
    with pytest.raises(KioskError, match=r"'B-001' is not enrolled at this site \(front-gate\)"):
        _kiosk(kiosk_store, stages, claim="B-001")
    assert _kiosk(kiosk_store, stages, claim="B-002").pipeline.claimed == stranded["B-002"]
