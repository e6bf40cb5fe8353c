"""What one frame of the face pipeline produced: each tracked face's observation, the
frame's result, and the time its stages took.

Values only, so that callers (the kiosk, the video evaluation, the CLI's JSON) depend on
them without the pipeline's machinery.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from inference.face.decide import Candidate, Decision, Status, frame_decision
from inference.face.types import FaceBox, QualityVerdict

STAGES = ("detect", "track", "quality", "liveness", "describe", "match", "decide")


@dataclass(frozen=True)
class FaceObservation:
    """One tracked face in one frame: what every stage said of it."""

    track_id: int
    face: FaceBox
    confirmed: bool
    quality: QualityVerdict
    weight: float
    liveness: float | None
    candidates: tuple[Candidate, ...]
    decision: Decision | None
    challenge: str | None = None
    """The action the face is asked for now (``blink``, ``turn_left``...), if any."""

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "track_id": self.track_id,
            "box": [round(v, 1) for v in (self.face.x1, self.face.y1, self.face.x2, self.face.y2)],
            "score": round(self.face.score, 4),
            "confirmed": self.confirmed,
            "quality": [str(reason) for reason in self.quality.reasons] or "ok",
        }
        if self.liveness is not None:
            out["liveness"] = round(self.liveness, 4)
        if self.candidates:
            out["best"] = {"identity": self.candidates[0].identity,
                           "similarity": round(self.candidates[0].similarity, 4)}  # fmt: skip
        if self.decision is not None:
            out["decision"] = str(self.decision.status)
        if self.challenge is not None:
            out["challenge"] = self.challenge
        return out


@dataclass(frozen=True)
class FrameResult:
    """Everything one frame produced. ``status`` is set for frame-level answers
    (``no_face_detected``, ``multiple_faces``); ``decisions`` are the ones made at this
    frame, including those of tracks that ended."""

    index: int
    time_s: float
    status: Status | None
    faces: tuple[FaceObservation, ...]
    decisions: tuple[Decision, ...]
    stage_ms: dict[str, float] = field(default_factory=dict)

    @property
    def frame_decision(self) -> Decision | None:
        """The frame-level decision, when the frame has one."""
        return frame_decision(self.status) if self.status is not None else None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"frame": self.index, "time_s": round(self.time_s, 3)}
        if self.status is not None:
            out["status"] = str(self.status)
        out["faces"] = [face.as_json() for face in self.faces]
        if self.decisions:
            out["decisions"] = [decision.as_json() for decision in self.decisions]
        return out


class StageTimer:
    """Milliseconds spent in each stage of one frame."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.ms[stage] += (time.perf_counter() - started) * 1000
