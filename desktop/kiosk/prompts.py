"""What the kiosk's screen tells the person in front of it, frame by frame, without Qt.

A prompt is an instruction the person can follow ("Come closer", "Please blink") or the
answer about them ("Welcome, Ada", "Not recognised"). An answer stays on screen for
``HOLD_S`` seconds after it is given, though the person walks away at once: a greeting
that vanishes with the face is never read. The words say what to do, never a score: a
similarity is for the audit trail, not for someone at a door.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from inference.face.decide import Decision, Status
from inference.face.pipeline import FaceObservation, FrameResult
from inference.face.types import QualityReason

HOLD_S = 3.0


class Tone(StrEnum):
    IDLE = "idle"  # nobody there
    WORKING = "working"  # someone there, no answer yet
    ACCEPTED = "accepted"
    REFUSED = "refused"


@dataclass(frozen=True)
class Prompt:
    text: str
    tone: Tone

    @property
    def is_answer(self) -> bool:
        return self.tone in (Tone.ACCEPTED, Tone.REFUSED)


IDLE = Prompt("Look at the camera", Tone.IDLE)
CHECKING = Prompt("Checking…", Tone.WORKING)
# While the camera or the store is gone and tried again (desktop.kiosk.runner.Outage).
UNAVAILABLE = {"camera": Prompt("Camera unavailable — retrying", Tone.IDLE),
               "store": Prompt("Kiosk unavailable — retrying", Tone.IDLE)}  # fmt: skip
# A camera that only a restart of the kiosk (or a replug) frees (Outage.restart).
CAMERA_RESTART = Prompt("Camera stuck — the kiosk needs a restart", Tone.IDLE)
# The kiosk stopped and is not tried again (a source that cannot play, a wrong key, no model
# pack): the state line tells the operator why; the person is not asked to look at a camera.
OUT_OF_SERVICE = Prompt("Kiosk out of service", Tone.IDLE)
# A verified face whose decision the store cannot take yet (another writer holds it, a
# full disk): nobody is let in on a decision a kill would lose (desktop.kiosk.session).
NOT_RECORDING = Prompt("Kiosk cannot record — please wait", Tone.WORKING)
ADVICE = {
    QualityReason.TOO_SMALL: "Come closer",
    QualityReason.TOO_CLOSE: "Step back a little",
    QualityReason.BLURRY: "Hold still",
    QualityReason.POSE_YAW: "Look straight at the camera",
    QualityReason.POSE_PITCH: "Look straight at the camera",
    QualityReason.POSE_ROLL: "Hold your head straight",
    QualityReason.TOO_DARK: "Too dark here: step into the light",
    QualityReason.TOO_BRIGHT: "Too bright: step out of the glare",
    QualityReason.LOW_CONTRAST: "Step into even light",
    QualityReason.OUTSIDE_IMAGE: "Move to the middle of the picture",
    QualityReason.TOO_BRIEF: "Stay in front of the camera a moment",
}
ACTIONS = {"blink": "Please blink", "turn_left": "Turn your head to the left",
           "turn_right": "Turn your head to the right"}  # fmt: skip


def frame_prompt(result: FrameResult, names: Mapping[str, str], badge: str | None = None) -> Prompt:
    """The prompt for one frame: about the largest face, the one standing at the kiosk."""
    if result.status is Status.NO_FACE_DETECTED or not result.faces:
        return IDLE if badge is None else Prompt(f"Badge {badge}: look at the camera", Tone.WORKING)
    if result.status is Status.MULTIPLE_FACES:
        return Prompt("One person at a time, please", Tone.WORKING)
    face = max(result.faces, key=lambda f: f.face.width * f.face.height)
    if face.decision is not None:
        return decision_prompt(face.decision, names, face.challenge)
    return _advice(face)


def decision_prompt(
    decision: Decision, names: Mapping[str, str], action: str | None = None
) -> Prompt:
    if decision.status is Status.VERIFIED:
        name = names.get(decision.identity or "", "")
        return Prompt(f"Welcome, {name}" if name else "Welcome", Tone.ACCEPTED)
    if decision.status is Status.NOT_MATCHED:
        return Prompt("Not recognised", Tone.REFUSED)
    if decision.status is Status.SPOOF_DETECTED:
        return Prompt("Photo or screen detected: step up to the camera yourself", Tone.REFUSED)
    if decision.status is Status.CHALLENGE_REQUIRED:
        return Prompt(ACTIONS.get(action or "", "Follow the instruction"), Tone.WORKING)
    reasons = decision.reasons
    advice = ADVICE.get(reasons[0], "") if reasons else ""
    return Prompt(f"Not checked: {advice.lower()}" if advice else "Not checked", Tone.REFUSED)


def _advice(face: FaceObservation) -> Prompt:
    reasons = face.quality.reasons
    return Prompt(ADVICE[reasons[0]], Tone.WORKING) if reasons else CHECKING


def notice_prompt(notice: str) -> Prompt:
    """A refusal the person must read once (a badge nobody here holds)."""
    return Prompt(notice[:1].upper() + notice[1:], Tone.REFUSED)


class PromptHold:
    """Keeps an answer on screen for ``hold_s`` against what the next frames would show,
    unless a newer answer comes, or the kiosk cannot record (``NOT_RECORDING``)."""

    def __init__(self, hold_s: float = HOLD_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._hold_s = hold_s
        self._clock = clock
        self._answer: Prompt | None = None
        self._since = 0.0

    def clear(self) -> None:
        """Forget the answer held: its person is gone (the camera was lost meanwhile)."""
        self._answer = None

    def show(self, prompt: Prompt) -> Prompt:
        if prompt == NOT_RECORDING:  # about who is there now: a greeting held for the one
            self._answer = None  # before would tell them "Welcome" on an unwritten decision
            return prompt
        now = self._clock()
        if prompt.is_answer and prompt != self._answer:
            self._answer, self._since = prompt, now
            return prompt
        if self._answer is not None and now - self._since < self._hold_s:
            return self._answer
        self._answer = None
        return prompt
