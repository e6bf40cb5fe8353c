"""An erasure (or the end of a consent) that lands while a verification of the person is
in flight: the decision the pipeline made on the gallery it held a moment before must not
be recorded, nor greeted, as them. The kiosk looks at its gallery between frames only
(``GalleryWatch``, at most every second), so without a last look at the store before a
``verified`` is taken, the erased person was let in, and named in a new access event that
travels to the hub, after their erasure."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from desktop.kiosk.errors import KioskError
from desktop.kiosk.prompts import Tone
from desktop.kiosk.session import KioskSession
from inference.face.decide import Status
from inference.face.pipeline import FrameResult
from inference.face.stages import AnyImage, Stages
from sync.store import AccessEvent, Store
from tests.desktop.kiosk.conftest import webcam, webcam_paths
from tests.desktop.kiosk.test_kiosk_consent import clocked, enrol_for_a_day  # noqa: F401
from tests.desktop.kiosk.test_kiosk_session import ATTEMPT, enrol
from tests.desktop.kiosk.test_kiosk_watch import erase_elsewhere, watched
from tests.sync.conftest import FakeClock

pytestmark = pytest.mark.needs_shared


def when_verified(kiosk: KioskSession, act: Callable[[], None]) -> None:
    """Run ``act`` once, just after the pipeline verified someone and before the session
    took the decision: the moment an erasure by a sync or ``jaga store`` can land in."""
    real = kiosk.pipeline.process
    done: list[bool] = []

    def process(image: AnyImage, time_s: float | None = None) -> FrameResult:
        result = real(image, time_s)
        if not done and any(d.status is Status.VERIFIED for d in result.decisions):
            done.append(True)
            act()
        return result

    kiosk.pipeline.process = process  # type: ignore[method-assign]


def run(kiosk: KioskSession) -> tuple[list[AccessEvent], list[Tone]]:
    start, count = ATTEMPT
    events: list[AccessEvent] = []
    tones = []
    for index, frame in enumerate(webcam("live", start, count)):
        shown = kiosk.process(frame, index / 10)
        events += shown.events
        tones.append(shown.prompt(kiosk.names_of(shown.events)).tone)
    return events + list(kiosk.finish()), tones


def test_an_erasure_landing_while_the_person_is_verified_is_not_let_in(
    kiosk_store: Store, stages: Stages
) -> None:
    person = enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2])
    kiosk = watched(kiosk_store, stages)
    when_verified(kiosk, lambda: erase_elsewhere(kiosk_store, person))
    events, tones = run(kiosk)
    assert person not in {e.person_uid for e in events}
    assert "verified" not in {e.decision for e in events}
    assert Tone.ACCEPTED not in tones
    stored = kiosk_store.access.between("0000", "9999")
    assert person not in {e.person_uid for e in stored}


def test_a_consent_ending_while_the_person_is_verified_is_not_let_in(
    clocked: tuple[Store, FakeClock],  # noqa: F811
    stages: Stages,
) -> None:
    store, clock = clocked
    person = enrol_for_a_day(store, stages)
    kiosk = watched(store, stages)
    when_verified(kiosk, lambda: clock.advance(days=1))
    events, tones = run(kiosk)
    assert person not in {e.person_uid for e in events}
    assert Tone.ACCEPTED not in tones


def test_a_claim_erased_while_it_is_verified_is_recorded_unmatched_then_stops_the_kiosk(
    kiosk_store: Store, stages: Stages
) -> None:
    person = enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2])
    kiosk = watched(kiosk_store, stages, claim="B-001")
    when_verified(kiosk, lambda: erase_elsewhere(kiosk_store, person))
    start, count = ATTEMPT
    events: list[AccessEvent] = []
    with pytest.raises(KioskError, match="erased"):
        for index, frame in enumerate(webcam("live", start, count)):
            events += kiosk.process(frame, index / 10).events
    assert [(e.decision, e.person_uid) for e in events] == [("not_matched", None)]
