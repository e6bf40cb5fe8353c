"""A badge presented at a 1:N kiosk: the next attempt is 1:1 against its holder, then the
kiosk identifies again; a badge nobody holds, one not followed by a face in time and one
whose holder is erased meanwhile are each told once, and the kiosk goes on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from desktop.kiosk.assemble import KioskOptions, kiosk_session, kiosk_settings
from desktop.kiosk.frame import KioskFrame
from desktop.kiosk.session import BADGE_TIMEOUT_S, KioskSession
from inference.face.stages import Stages
from sync.store import Passphrase, Store
from tests.conftest import shared_path
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import Ticks, blurred, webcam, webcam_paths
from tests.desktop.kiosk.test_kiosk_session import KIOSK, enrol
from tests.sync.conftest import FAST

pytestmark = pytest.mark.needs_shared


@pytest.fixture
def people(kiosk_store: Store, stages: Stages) -> dict[str, str]:
    """The webcam's person (B-001) and a John of dlib's examples (B-002)."""
    johns = shared_path("data", "faces", "johns")
    john = sorted(next(p for p in sorted(johns.iterdir()) if p.is_dir()).glob("*.jpg"))[:1]
    return {"B-001": enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2]),
            "B-002": enrol(kiosk_store, stages, "B-002", john)}  # fmt: skip


def kiosk(store: Store, stages: Stages, clock: Ticks) -> KioskSession:
    options = KioskOptions(site=KIOSK.site, device=KIOSK.device)
    return kiosk_session(store, stages, kiosk_settings(None), options, {}, clock=clock)


def live_attempt(session: KioskSession, start: int = 10) -> list[KioskFrame]:
    frames = webcam("live", start, 6)
    return [session.process(frame, (start + i) / 10) for i, frame in enumerate(frames)]


def decided(frames: list[KioskFrame]) -> list[tuple[str, str | None]]:
    """(decision, person) of the events recorded (the 20 px face behind is not)."""
    return [(e.decision, e.person_uid) for f in frames for e in f.events]


def test_a_badge_makes_the_next_attempt_one_to_one_then_the_kiosk_identifies_again(
    kiosk_store: Store, stages: Stages, people: dict[str, str]
) -> None:
    session = kiosk(kiosk_store, stages, Ticks())
    session.present_badge("B-002")  # the webcam's person shows John's badge
    claimed = live_attempt(session)
    assert decided(claimed) == [("not_matched", None)]
    assert {f.badge for f in claimed[:2]} == {"B-002"}
    assert session.pipeline.claimed is None  # answered: 1:N again
    staying = live_attempt(session, start=20)
    assert decided(staying) == [] and {f.badge for f in staying} == {None}  # one attempt
    walk_away(session, start=26)
    back = live_attempt(session, start=50)
    assert decided(back) == [("verified", people["B-001"])]


def test_a_badge_answered_when_the_camera_is_lost_ends(
    kiosk_store: Store, stages: Stages, people: dict[str, str]
) -> None:
    """interrupt() decided the badge's attempt but left the badge on: back from the camera
    outage, the same person was checked against John's badge again (a second decision)."""
    session = kiosk(kiosk_store, stages, Ticks())
    session.present_badge("B-002")
    for i, frame in enumerate(webcam("live", 10, 2)):
        session.process(frame, (10 + i) / 10)
    assert [e.decision for e in session.interrupt()] == ["not_matched"]
    assert session.pipeline.claimed is None  # answered: 1:N again
    back = live_attempt(session, start=50)
    assert decided(back) == [("verified", people["B-001"])]
    assert {f.badge for f in back} == {None}


def test_a_person_already_identified_who_presents_their_badge_is_recorded_twice_not_thrice(
    kiosk_store: Store, stages: Stages, people: dict[str, str]
) -> None:
    """In view and identified 1:N, then their own badge: the badge is a new attempt (1:1),
    and once answered the way back to 1:N does not decide them a third time."""
    session = kiosk(kiosk_store, stages, Ticks())
    first = live_attempt(session)
    session.present_badge("B-001")
    badge = live_attempt(session, start=20)
    after = live_attempt(session, start=30)
    verified = ("verified", people["B-001"])
    assert (decided(first), decided(badge), decided(after)) == ([verified], [verified], [])


def walk_away(session: KioskSession, start: int) -> list[KioskFrame]:
    """Empty frames for longer than the tracker keeps a face."""
    blank = np.zeros((480, 640, 3), np.uint8)
    steps = range(session.pipeline.settings.tracker.max_missed + 2)
    return [session.process(blank, (start + index) / 10) for index in steps]


def test_a_badge_presented_before_the_face_was_decided_does_not_lose_its_attempt(
    kiosk_store: Store, stages: Stages, people: dict[str, str]
) -> None:
    """The webcam's person, in view 1:N for two sharp frames and a blurred one (not yet
    decided), shows John's badge and walks away at once: their attempt was dropped with
    the switch, unrecorded. It is decided on what it gathered, under 1:N's rules: matched,
    but on two accepted frames, too brief to be let in."""
    session = kiosk(kiosk_store, stages, Ticks())
    sharp = webcam("live", 10, 3)
    seen = [session.process(frame, (10 + i) / 10)
            for i, frame in enumerate([*sharp[:2], blurred(sharp[2])])]  # fmt: skip
    assert decided(seen) == []
    session.present_badge("B-002")
    assert decided(walk_away(session, start=13)) == [("low_quality", None)]
    # that 1:N answer is not John's badge's: it still waits for a face, checked 1:1
    assert session.pipeline.claimed == people["B-002"]
    assert decided(live_attempt(session, start=50)) == [("not_matched", None)]


def test_a_badge_that_expired_verifies_nobody(
    kiosk_store: Store, stages: Stages, people: dict[str, str]
) -> None:
    """The webcam's person shows their own badge; two sharp frames and a blurred one (not
    yet decided) when the badge's time is up, and they walk away: an attempt a badge left
    undecided ends with it, recorded too brief to be checked, never verified as its holder
    after the badge ended."""
    clock = Ticks()
    session = kiosk(kiosk_store, stages, clock)
    session.present_badge("B-001")
    sharp = webcam("live", 10, 3)
    seen = [session.process(frame, (10 + i) / 10)
            for i, frame in enumerate([*sharp[:2], blurred(sharp[2])])]  # fmt: skip
    clock.now += BADGE_TIMEOUT_S
    gone = walk_away(session, start=13)
    assert gone[0].notice == "badge B-001: no face was checked in time"
    assert decided([*seen, *gone]) == [("low_quality", None)]


def test_a_badge_nobody_holds_is_told_once_and_changes_nothing(
    kiosk_store: Store, stages: Stages, people: dict[str, str]
) -> None:
    session = kiosk(kiosk_store, stages, Ticks())
    session.present_badge("B-404")
    frames = live_attempt(session)
    assert frames[0].notice == "nobody enrolled here has the id 'B-404'"
    assert all(f.notice is None for f in frames[1:])
    assert decided(frames) == [("verified", people["B-001"])]


def test_a_badge_not_followed_by_a_face_in_time_expires(
    kiosk_store: Store, stages: Stages, people: dict[str, str]
) -> None:
    clock = Ticks()
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
    watch = GalleryWatch(
        kiosk_store, stages.recogniser.model, MatchSettings(), KIOSK.site, every_s=0.0
    )
    session = KioskSession(built.pipeline, kiosk_store, built.identity, watch)
    session.present_badge("B-002")
    with Store.open(kiosk_store.path, Passphrase(PASSPHRASE), config=FAST) as other:
        other.people.erase(people["B-002"], operator="hub", reason="erasure request")
    frames = live_attempt(session)
    assert frames[0].notice == "badge B-002: its holder is no longer enrolled"
    assert decided(frames) == [("verified", people["B-001"])]


def test_a_badge_of_someone_enrolled_a_moment_ago_elsewhere_is_honoured(
    kiosk_store: Store, stages: Stages, people: dict[str, str]
) -> None:
    """Enrolled at the desk (another connection) and at the kiosk within the watch's
    interval: the badge's holder had no templates in the running gallery, and the 1:1
    pipeline refused to start, which stopped the kiosk."""
    session = kiosk(kiosk_store, stages, Ticks())
    johns = shared_path("data", "faces", "johns")
    another = sorted(sorted(p for p in johns.iterdir() if p.is_dir())[1].glob("*.jpg"))[:1]
    with Store.open(kiosk_store.path, Passphrase(PASSPHRASE), config=FAST) as desk:
        enrol(desk, stages, "B-003", another)
    session.present_badge("B-003")  # the webcam's person shows the newcomer's badge
    frames = live_attempt(session)
    assert frames[0].notice is None and frames[0].badge == "B-003"
    assert decided(frames) == [("not_matched", None)]
