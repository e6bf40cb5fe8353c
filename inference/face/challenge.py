"""Active liveness: ask for a random action (blink, turn left, turn right) and check it.

A photo or a screen that passed the passive check cannot answer a challenge it did not
know in advance. A :class:`ChallengeSession` draws its actions from an injectable random
source, is fed the frames of one track, and answers ``pending`` until the actions are seen
(``passed``), the time runs out (``timeout``), or the face does something that a live
person answering would not (``failed``: the track changed, or the head turned from the
centre to the other side).

What counts, read from FaceMesh by :mod:`inference.face.liveness_signals`:

* **blink**: a frame whose eyes are closed, then a frame whose eyes are open again. Closed
  is an eye-openness drop (eye aspect ratio over face aspect) of ``blink_ratio_drop`` under
  the open-eye level, or a small drop (``blink_ratio_dip``) together with an eye
  appearance change of at least ``blink_appearance_change`` (at webcam resolution
  FaceMesh's lids hardly move, the pixels do) - and in both cases a face whose aspect
  stayed within ``max_aspect_change`` of the open-eye frames', which a photo tilted back
  and forth does not. The levels and the reference appearance are medians over the last
  open frames, so a slow change of light or pose is not a blink; eyes "closed" for longer
  than ``blink_max_s`` are a change of scene, not a blink, and the references start again.
* **turn left / right**: the yaw leaves the neutral yaw (the median of the session's first
  frames) by ``turn_yaw`` towards the asked side. Left and right are the subject's own:
  in an unmirrored camera frame the subject's left is the image's right.

Times come with each frame (``timestamp``) or from the injected clock, in seconds.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

from inference.face.landmarks import FaceMesh
from inference.face.liveness_signals import FaceSignals, appearance_change, read_signals
from inference.face.types import FaceBox, TrackedFace

FloatArray = npt.NDArray[np.float32]


class ChallengeAction(StrEnum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"


class ChallengeStatus(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"


class FailureReason(StrEnum):
    TRACK_CHANGED = "track_changed"
    WRONG_TURN = "wrong_turn"


class MeshSource(Protocol):
    """What the session needs to read landmarks (:class:`FaceMeshRunner` is one)."""

    def mesh(self, image: npt.NDArray[np.generic], face: FaceBox) -> FaceMesh: ...


@dataclass(frozen=True)
class ChallengeSettings:
    """Challenge settings; where a default was measured, the docstring says on what."""

    actions: tuple[ChallengeAction, ...] = tuple(ChallengeAction)
    """The actions a step may ask for."""
    steps: int = 1
    """Actions asked in a row (never the same twice running). A replayed video that happens
    to show the asked action passes one step with probability ~1/3, two with ~1/9."""
    step_timeout_s: float = 6.0
    """Time to answer one step: reading the prompt and reacting take 1-2 s."""
    neutral_frames: int = 3
    """Usable frames at the start of the session whose median yaw is the neutral yaw."""
    min_face_flag: float = 0.5
    """Frames whose mesh is less sure than this that it saw a face are skipped."""
    turn_yaw: float = 0.2
    """Yaw change that counts as a turn (about 17 degrees for a typical head). Measured: the
    NUAA live webcam sequence, sitting still, spans -0.06..0.04; the hand-held printed photo,
    moved by 0.37 inter-ocular distances between frames (median), spans 0.03..0.06; three
    photos turned about their vertical axis in front of a camera (600 px focal length)
    moved it by at most 0.09 at 30 degrees and 0.15 at 50; a real head turning in hamilton
    (frames 87 to 111) by 0.30."""
    mirrored: bool = False
    """True when the frames are mirrored (a selfie view): left and right swap."""
    open_history: int = 10
    """Open-eye frames whose medians are the open-eye level and the reference appearance."""
    min_open_history: int = 3
    """Open-eye frames needed before a blink can be seen."""
    blink_ratio_drop: float = 0.3
    """A relative eye-openness drop that is a closed eye on its own (sharp landmarks). Three
    photos tilted back by 30 degrees lowered it by 9-16 %, by 50 degrees by 15-26 %."""
    max_aspect_change: float = 0.05
    """Relative face-aspect change beyond which a frame cannot be a closed eye: the face
    itself changed shape. The NUAA live webcam frames moved it by at most 1.9 % against the
    last open frames (0.2 % on the blink), the waved print by 1.3 %; photos tilted back by
    30 degrees by 3-10 %, by 50 degrees by 7-22 %."""
    blink_ratio_dip: float = 0.03
    """The smallest drop that, with an appearance change, is a closed eye (the one real
    blink of the NUAA webcam sequence: 7 % against the open frames before it)."""
    blink_appearance_change: float = 0.4
    """Eye appearance change (1 - correlation) of a closed eye. NUAA webcam: the blink
    0.72; every other live frame at most 0.26; the printed photo at most 0.15. Photos turned
    by 30 degrees: at most 0.36; by 50 degrees up to 0.89, but each of those either kept its
    openness (a drop under 3 %) or changed its aspect by 12 % or more."""
    blink_max_s: float = 1.0
    """Eyes closed longer than this are not a blink (a blink lasts 0.1-0.4 s)."""

    def __post_init__(self) -> None:
        if not self.actions or self.steps < 1:
            raise ValueError("need at least one action and one step")
        if self.steps > 1 and len(set(self.actions)) < 2:
            raise ValueError("several steps need at least two different actions")
        if self.step_timeout_s <= 0 or self.blink_max_s <= 0 or self.turn_yaw <= 0:
            raise ValueError("step_timeout_s, blink_max_s and turn_yaw must be positive")
        if self.neutral_frames < 1 or not 1 <= self.min_open_history <= self.open_history:
            raise ValueError("need neutral_frames >= 1 and 1 <= min_open_history <= open_history")


def draw_actions(settings: ChallengeSettings, rng: random.Random) -> tuple[ChallengeAction, ...]:
    """``settings.steps`` actions, no action twice in a row."""
    drawn: list[ChallengeAction] = []
    for _ in range(settings.steps):
        choices = [action for action in settings.actions if not drawn or action != drawn[-1]]
        drawn.append(rng.choice(choices))
    return tuple(drawn)


class BlinkDetector:
    """Sees a blink in a stream of :class:`FaceSignals`: closed eyes, then open again."""

    def __init__(self, settings: ChallengeSettings) -> None:
        self.settings = settings
        self._ratios: deque[float] = deque(maxlen=settings.open_history)
        self._aspects: deque[float] = deque(maxlen=settings.open_history)
        self._patches: deque[FloatArray] = deque(maxlen=settings.open_history)
        self._closed_since: float | None = None

    def update(self, signals: FaceSignals, timestamp: float) -> bool:
        """Feed one frame; True on the frame that completes a blink."""
        if len(self._ratios) < self.settings.min_open_history:
            self._remember(signals)
            return False
        if self.is_closed(signals):
            if self._closed_since is None:
                self._closed_since = timestamp
            elif timestamp - self._closed_since > self.settings.blink_max_s:
                self._restart()  # a lasting change of scene, not a blink
            return False
        blinked = self._closed_since is not None
        self._closed_since = None
        self._remember(signals)
        return blinked

    def is_closed(self, signals: FaceSignals) -> bool:
        """Whether this frame's eyes read as closed against the open-eye references."""
        open_ratio, aspect = float(np.median(self._ratios)), float(np.median(self._aspects))
        if aspect <= 0 or abs(signals.face_aspect / aspect - 1) > self.settings.max_aspect_change:
            return False
        drop = 1.0 - signals.eye_openness / open_ratio if open_ratio > 0 else 0.0
        if drop >= self.settings.blink_ratio_drop:
            return True
        change = appearance_change(signals.eye_patch, self._reference_patch())
        return drop >= self.settings.blink_ratio_dip and (
            change >= self.settings.blink_appearance_change
        )

    def _reference_patch(self) -> FloatArray | None:
        if not self._patches:
            return None
        return np.asarray(np.median(np.stack(self._patches), axis=0), np.float32)

    def _remember(self, signals: FaceSignals) -> None:
        self._ratios.append(signals.eye_openness)
        self._aspects.append(signals.face_aspect)
        if signals.eye_patch is not None:
            self._patches.append(signals.eye_patch)

    def _restart(self) -> None:
        self._ratios.clear()
        self._aspects.clear()
        self._patches.clear()
        self._closed_since = None


class ChallengeSession:
    """One challenge for one track. Not thread-safe: feed it from one worker."""

    def __init__(
        self,
        landmarks: MeshSource,
        settings: ChallengeSettings | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.landmarks = landmarks
        self.settings = settings or ChallengeSettings()
        self.clock = clock
        self.actions = draw_actions(self.settings, rng or random.SystemRandom())
        self.status = ChallengeStatus.PENDING
        self.failure: FailureReason | None = None
        self._step = 0
        self._step_started: float | None = None
        self._centred = False  # the head was near neutral during this step
        self._track_id: int | None = None
        self._neutral: list[float] = []
        self._blinks = BlinkDetector(self.settings)

    @property
    def current_action(self) -> ChallengeAction | None:
        """The action to ask for now; None once the session is over."""
        if self.status is not ChallengeStatus.PENDING:
            return None
        return self.actions[self._step]

    def feed(
        self,
        frame: npt.NDArray[np.generic],
        face: TrackedFace | FaceBox,
        timestamp: float | None = None,
    ) -> ChallengeStatus:
        """Feed one frame and the tracked face in it; returns the status after it."""
        now = self.clock() if timestamp is None else timestamp
        if self.status is not ChallengeStatus.PENDING:
            return self.status
        if isinstance(face, TrackedFace) and not self._same_track(face.track_id):
            return self._fail(FailureReason.TRACK_CHANGED)
        box = face.face if isinstance(face, TrackedFace) else face
        return self.feed_signals(read_signals(frame, self.landmarks.mesh(frame, box)), now)

    def feed_signals(self, signals: FaceSignals, timestamp: float) -> ChallengeStatus:
        """Feed one frame's readings directly (the seam the tests and replays use)."""
        if self.poll(timestamp) is not ChallengeStatus.PENDING:
            return self.status
        if signals.face_flag < self.settings.min_face_flag:
            return self.status
        blinked = self._blinks.update(signals, timestamp)
        if len(self._neutral) < self.settings.neutral_frames:
            self._neutral.append(signals.yaw)
            return self.status
        return self._judge(self.actions[self._step], signals, blinked, timestamp)

    def poll(self, timestamp: float | None = None) -> ChallengeStatus:
        """The status at ``timestamp`` (default: now), timing out a step that ran too long."""
        now = self.clock() if timestamp is None else timestamp
        if self.status is ChallengeStatus.PENDING:
            if self._step_started is None:
                self._step_started = now
            elif now - self._step_started > self.settings.step_timeout_s:
                self.status = ChallengeStatus.TIMEOUT
        return self.status

    def _judge(
        self, action: ChallengeAction, signals: FaceSignals, blinked: bool, now: float
    ) -> ChallengeStatus:
        if action is ChallengeAction.BLINK:
            done = blinked
        else:
            turned = self._turn_towards(signals.yaw)
            wanted = 1 if action is ChallengeAction.TURN_LEFT else -1
            self._centred = self._centred or turned == 0
            if turned == -wanted and self._centred:
                # a head still turned from the previous step may come back through centre
                return self._fail(FailureReason.WRONG_TURN)
            done = turned == wanted
        if done:
            self._next_step(now)
        return self.status

    def _turn_towards(self, yaw: float) -> int:
        """+1 for a turn to the subject's left, -1 to the right, 0 for none."""
        change = yaw - float(np.median(self._neutral))
        if self.settings.mirrored:
            change = -change
        if abs(change) < self.settings.turn_yaw:
            return 0
        return 1 if change > 0 else -1

    def _next_step(self, now: float) -> None:
        self._step += 1
        self._step_started = now
        self._centred = False
        if self._step == len(self.actions):
            self.status = ChallengeStatus.PASSED

    def _same_track(self, track_id: int) -> bool:
        if self._track_id is None:
            self._track_id = track_id
        return self._track_id == track_id

    def _fail(self, reason: FailureReason) -> ChallengeStatus:
        self.status = ChallengeStatus.FAILED
        self.failure = reason
        return self.status
