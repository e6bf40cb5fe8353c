"""What one frame shows of one track, as :class:`inference.face.decide.TrackDecider` fuses it.

``FrameEvidence`` is a frame's quality verdict, liveness and matches; ``quality_weight``
(with its anchors, ``WeightSettings``) says how much an accepted frame counts, and
``AcceptedFrame`` is such a frame as the decider keeps it. Apart from the decider, which is the
rules that fuse them; ``inference.face.decide`` exports the public names too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inference.face.decision import Candidate
from inference.face.quality import QualitySettings
from inference.face.types import QualityMeasures, QualityVerdict


@dataclass(frozen=True)
class WeightSettings:
    """Anchors of :func:`quality_weight` (measured: see :mod:`settings`). The pose limits are
    the quality gate's own, so a face at the gate's edge counts least."""

    full_inter_ocular_px: float = 51.0
    full_sharpness: float = 0.165
    floor: float = 0.1
    """The least an accepted frame counts: it passed the gate, so it is evidence."""

    def __post_init__(self) -> None:
        if min(self.full_inter_ocular_px, self.full_sharpness) <= 0:
            raise ValueError("weight anchors must be positive")
        if not 0.0 < self.floor <= 1.0:
            raise ValueError(f"floor lies in (0, 1], got {self.floor}")


def quality_weight(
    measures: QualityMeasures, weights: WeightSettings, limits: QualitySettings
) -> float:
    """How much an accepted frame counts, in [floor, 1]: the product of a size, a sharpness
    and a pose term, each 1 at or beyond its anchor; the pose terms fall to 0 at the gate's
    limits (quadratically: a slightly turned face is nearly as good as a frontal one)."""
    size = min(1.0, measures.inter_ocular_px / weights.full_inter_ocular_px)
    sharp = min(1.0, measures.sharpness / weights.full_sharpness)
    yaw = 1.0 - min(1.0, abs(measures.yaw) / limits.max_abs_yaw) ** 2
    pitch_off = abs(measures.pitch - limits.pitch_reference) / limits.max_abs_pitch
    pitch = 1.0 - min(1.0, pitch_off) ** 2
    weight = size * sharp * yaw * pitch
    return max(weights.floor, weight) if math.isfinite(weight) else weights.floor


@dataclass(frozen=True)
class FrameEvidence:
    """What one frame showed of one track."""

    time_s: float
    """Capture time (video time for files), for ``max_seconds``."""
    quality: QualityVerdict
    weight: float = 0.0
    """:func:`quality_weight` of an accepted frame; ignored for a rejected one."""
    liveness: float | None = None
    """P(real), or None where no liveness model runs."""
    candidates: tuple[Candidate, ...] = ()
    """The matcher's answer, best first: the claimed identity (1:1) or the top k (1:N)."""
    confirmed: bool = True
    """Whether the tracker trusts the track yet; unconfirmed tracks collect but never decide."""

    def __post_init__(self) -> None:
        if self.quality.ok and not 0.0 < self.weight <= 1.0:
            raise ValueError(f"an accepted frame's weight lies in (0, 1], got {self.weight}")
        if self.liveness is not None and not 0.0 <= self.liveness <= 1.0:
            raise ValueError(f"liveness lies in [0, 1], got {self.liveness}")


@dataclass
class AcceptedFrame:
    weight: float
    liveness: float | None
    candidates: dict[str, float]


def accepted_frame(evidence: FrameEvidence) -> AcceptedFrame:
    scores = {c.identity: c.similarity for c in evidence.candidates}
    return AcceptedFrame(evidence.weight, evidence.liveness, scores)


def best_identity(frame: AcceptedFrame) -> str:
    return min(frame.candidates.items(), key=lambda item: (-item[1], item[0]))[0]
