"""What the kiosk's screen says: about the largest face, an instruction the person can
follow until an answer comes, and an answer that stays long enough to be read."""

from __future__ import annotations

from desktop.kiosk.prompts import IDLE, Prompt, PromptHold, Tone, frame_prompt
from inference.face.decide import Decision, Status
from inference.face.pipeline import FaceObservation, FrameResult
from inference.face.types import FaceBox, QualityReason, QualityVerdict
from tests.desktop.kiosk.conftest import Ticks

UID = "0f8fad5b-d9cb-469f-a165-70867728950e"
LANDMARKS = ((0.0, 0.0),) * 5
OK = QualityVerdict(True, ())


def face(side: float, verdict: QualityVerdict = OK, decision: Decision | None = None,
         challenge: str | None = None) -> FaceObservation:  # fmt: skip
    box = FaceBox(10, 10, 10 + side, 10 + side, 0.9, LANDMARKS)
    return FaceObservation(1, box, True, verdict, 1.0, None, (), decision, challenge)


def frame(*faces: FaceObservation, status: Status | None = None) -> FrameResult:
    return FrameResult(0, 0.0, status, faces, ())


def test_nobody_and_crowds_are_told_what_to_do() -> None:
    assert frame_prompt(frame(status=Status.NO_FACE_DETECTED), {}) == IDLE
    crowd = frame_prompt(frame(face(90), face(80), status=Status.MULTIPLE_FACES), {})
    assert crowd.text.startswith("One person at a time")


def test_the_largest_face_is_advised_by_its_first_quality_reason() -> None:
    far = QualityVerdict(False, (QualityReason.TOO_SMALL, QualityReason.BLURRY))
    close = QualityVerdict(False, (QualityReason.TOO_CLOSE,))
    assert frame_prompt(frame(face(40, far), face(300, close)), {}) == Prompt(
        "Step back a little", Tone.WORKING
    )


def test_answers_name_the_verified_person_and_refuse_the_rest() -> None:
    verified = Decision(Status.VERIFIED, 1.0, 1, UID, 0.96, 0.9)
    assert frame_prompt(frame(face(100, decision=verified)), {UID: "Ada"}).text == "Welcome, Ada"
    spoof = Decision(Status.SPOOF_DETECTED, 1.0, 1, liveness=0.1)
    assert frame_prompt(frame(face(100, decision=spoof)), {}).tone is Tone.REFUSED
    asked = Decision(Status.CHALLENGE_REQUIRED, 1.0, 1, liveness=0.7)
    blink = frame_prompt(frame(face(100, decision=asked, challenge="blink")), {})
    assert blink == Prompt("Please blink", Tone.WORKING)


def test_an_answer_stays_for_the_hold_time_then_gives_way() -> None:
    clock = Ticks()
    hold = PromptHold(3.0, clock)
    welcome = Prompt("Welcome, Ada", Tone.ACCEPTED)
    assert hold.show(welcome) == welcome
    clock.now = 2.9
    assert hold.show(IDLE) == welcome  # the person walked away at once
    clock.now = 3.0
    assert hold.show(IDLE) == IDLE
    refused = Prompt("Not recognised", Tone.REFUSED)
    assert hold.show(welcome) == welcome
    assert hold.show(refused) == refused  # a newer answer is shown at once
