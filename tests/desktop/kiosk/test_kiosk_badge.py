"""A badge presented at a 1:N kiosk: the next attempt is 1:1 against its holder, then the
kiosk identifies again; a badge nobody holds, one not followed by a face in time and one
whose holder is erased meanwhile are each told once, and the kiosk goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.kiosk.assemble import KioskOptions, kiosk_session, kiosk_settings
from desktop.kiosk.session import BADGE_TIMEOUT_S, KioskFrame, KioskSession
from inference.face.stages import Stages
from sync.store import Passphrase, Store
from tests.conftest import shared_path
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import webcam, webcam_paths
from tests.desktop.kiosk.test_kiosk_session import KIOSK, enrol
from tests.sync.conftest import FAST

pytestmark = pytest.mark.needs_shared


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def people(kiosk_store: Store, stages: Stages) -> dict[str, str]:
    """The webcam's person (B-001) and a John of dlib's examples (B-002)."""
    johns = shared_path("data", "faces", "johns")
    john = sorted(next(p for p in sorted(johns.iterdir()) if p.is_dir()).glob("*.jpg"))[:1]
    return {"B-001": enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2]),
            "B-002": enrol(kiosk_store, stages, "B-002", john)}  # fmt: skip


def kiosk(store: Store, stages: Stages, clock: FakeClock) -> KioskSession:
    options = KioskOptions(site=KIOSK.site, device=KIOSK.device)
    built = kiosk_session(store, stages, kiosk_settings(None), options, {})
    return KioskSession(built.pipeline, store, built.identity, clock=clock)


def live_attempt(session: KioskSession, start: int = 10) -> list[KioskFrame]:
    return [session.process(frame, i / 10) for i, frame in enumerate(webcam("live", start, 6))]


def decided(frames: list[KioskFrame]) -> list[tuple[str, str | None]]:
    """(decision, person) of the events about the person (not the 20 px face behind)."""
    return [(e.decision, e.person_uid) for f in frames for e in f.events
            if e.decision != "low_quality"]  # fmt: skip


def test_a_badge_makes_the_next_attempt_one_to_one_then_the_kiosk_identifies_again(
    kiosk_store: Store, stages: Stages, people: dict[str, str]
) -> None:
    session = kiosk(kiosk_store, stages, FakeClock())
    session.present_badge("B-002")  # the webcam's person shows John's badge
    claimed = live_attempt(session)
    assert decided(claimed)[0] == ("not_matched", None)
    assert {f.badge for f in claimed[:2]} == {"B-002"}
    assert session.pipeline.claimed is None  # answered: 1:N again
    again = live_attempt(session, start=20)  # still there: identified among everyone
    assert ("verified", people["B-001"]) in decided(claimed + again)
    assert {f.badge for f in again} == {None}


def test_a_badge_nobody_holds_is_told_once_and_changes_nothing(
    kiosk_store: Store, stages: Stages, people: dict[str, str]
) -> None:
    session = kiosk(kiosk_store, stages, FakeClock())
    session.present_badge("B-404")
    frames = live_attempt(session)
    assert frames[0].notice == "nobody enrolled here has the id 'B-404'"
    assert all(f.notice is None for f in frames[1:])
    assert decided(frames) == [("verified", people["B-001"])]


def test_a_badge_not_followed_by_a_face_in_time_expires(
    kiosk_store: Store, stages: Stages, people: dict[str, str]
) -> None:
    clock = FakeClock()
    session = kiosk(kiosk_store, stages, clock)
    session.present_badge("B-002")
    clock.now += BADGE_TIMEOUT_S
    frames = live_attempt(session)
    assert frames[0].notice == "badge B-002: no face was checked in time"
    assert decided(frames) == [("verified", people["B-001"])]


def test_a_badge_whose_holder_is_erased_meanwhile_ends_without_stopping_the_kiosk(
    kiosk_store: Store, stages: Stages, people: dict[str, str], tmp_path: Path
) -> None:
    from desktop.kiosk.gallery import GalleryWatch
    from inference.face.match import MatchSettings

    assert stages.recogniser is not None
    options = KioskOptions(site=KIOSK.site, device=KIOSK.device)
    built = kiosk_session(kiosk_store, stages, kiosk_settings(None), options, {})
    watch = GalleryWatch(kiosk_store, stages.recogniser.model, MatchSettings(), every_s=0.0)
    session = KioskSession(built.pipeline, kiosk_store, built.identity, watch)
    session.present_badge("B-002")
    with Store.open(kiosk_store.path, Passphrase(PASSPHRASE), config=FAST) as other:
        other.people.erase(people["B-002"], operator="hub", reason="erasure request")
    frames = live_attempt(session)
    assert frames[0].notice == "badge B-002: its holder is no longer enrolled"
    assert decided(frames) == [("verified", people["B-001"])]
