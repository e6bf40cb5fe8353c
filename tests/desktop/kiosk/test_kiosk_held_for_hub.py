"""A person kept at a move to another hub whose site has the same slug (hub A's "front-gate"
to hub B's "front-gate") is A's, held with their records still to push to A: the kiosk's
site filter alone would admit them at B's gate. Neither 1:N, nor by their badge, nor after a
watch reload; B's own people are admitted as before.

The registrations are ``jaga sync register``'s own step (``register_moving``), without the
hubs' answers; the people are enrolled with a real store and the real face pipeline."""

from __future__ import annotations

from uuid import UUID

import pytest

from desktop.kiosk.errors import KioskError
from desktop.kiosk.gallery import GalleryWatch, claimed_person
from inference.face.match import MatchSettings
from inference.face.stages import Stages
from sync.client.config import Registration
from sync.client.moved_site import register_moving
from sync.store import Passphrase, Store
from sync.store.outbox_hub import held_for_other_hubs
from tests.conftest import shared_path
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import webcam_paths
from tests.desktop.kiosk.test_kiosk_badge import decided, live_attempt
from tests.desktop.kiosk.test_kiosk_session import KIOSK
from tests.desktop.kiosk.test_kiosk_stranded import _kiosk, enrol_person_at
from tests.sync.conftest import FAST

pytestmark = pytest.mark.needs_shared

HUB_A, HUB_B = "http://hub-a.test", "http://hub-b.test"


def _register(store: Store, hub: str, device: int) -> None:
    registration = Registration(hub, KIOSK.site, UUID(int=device), f"token-{device}")
    register_moving(store, registration, store.clock.now(),
                    send_face_images=False, operator="ops")  # fmt: skip


@pytest.fixture
def held(kiosk_store: Store, stages: Stages) -> dict[str, str]:
    """The webcam's person (B-001) enrolled at hub A's front-gate, their records unsent;
    the store then registered with hub B's front-gate (A's records held, B-001 kept), and a
    John (B-002) enrolled there."""
    _register(kiosk_store, HUB_A, 7)
    a_person = enrol_person_at(kiosk_store, stages, "B-001", webcam_paths("live")[:2], KIOSK.site)
    _register(kiosk_store, HUB_B, 8)
    johns = shared_path("data", "faces", "johns")
    john = sorted(next(p for p in sorted(johns.iterdir()) if p.is_dir()).glob("*.jpg"))[:1]
    b_person = enrol_person_at(kiosk_store, stages, "B-002", john, KIOSK.site)
    return {"B-001": a_person, "B-002": b_person}


def test_a_person_held_for_another_hub_is_not_identified(
    kiosk_store: Store, stages: Stages, held: dict[str, str]
) -> None:
    session = _kiosk(kiosk_store, stages)
    assert kiosk_store.people.count() == 2  # kept: their records exist nowhere else
    with kiosk_store.database.read() as connection:
        assert held_for_other_hubs(connection) > 0
    gallery = session.pipeline.stages.gallery or ()
    assert held["B-001"] not in gallery
    assert held["B-002"] in gallery
    assert decided(live_attempt(session)) == [("not_matched", None)]


def test_a_badge_of_a_person_held_for_another_hub_is_refused(
    kiosk_store: Store, stages: Stages, held: dict[str, str]
) -> None:
    session = _kiosk(kiosk_store, stages)
    session.present_badge("B-001")
    frames = live_attempt(session)
    assert frames[0].notice == (
        f"'B-001' is not enrolled at this site ({KIOSK.site}): held for another hub"
    )
    assert frames[0].badge is None
    assert decided(frames) == [("not_matched", None)]
    with pytest.raises(KioskError, match="held for another hub"):
        _kiosk(kiosk_store, stages, claim="B-001")
    assert claimed_person(kiosk_store, "B-002", KIOSK.site).person_uid == held["B-002"]


def test_a_watch_reload_leaves_out_a_person_held_by_a_move_elsewhere(
    kiosk_store: Store, stages: Stages
) -> None:
    """A running kiosk: the move to hub B is registered by another process."""
    assert stages.recogniser is not None
    _register(kiosk_store, HUB_A, 7)
    person = enrol_person_at(kiosk_store, stages, "B-001", webcam_paths("live")[:2], KIOSK.site)
    watch = GalleryWatch(kiosk_store, stages.recogniser.model, MatchSettings(), KIOSK.site)
    assert person in watch.load()
    with Store.open(kiosk_store.path, Passphrase(PASSPHRASE), config=FAST) as other:
        _register(other, HUB_B, 8)
    change = watch.changed(force=True)
    assert change is not None and person not in change.index and person in change.left
