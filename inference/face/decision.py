"""What the face pipeline answers: a :class:`Decision` per track (or per frame), with the
seed system's statuses and a confidence rather than a boolean.

=====================  =============  ===============================================
status                 about          carries
=====================  =============  ===============================================
``no_face_detected``   a frame        nothing else: confidence 1
``multiple_faces``     a frame        nothing else (single-subject mode only)
``low_quality``        a track        the quality gate's reasons, most frequent first
``spoof_detected``     a track        fused liveness (and the best similarity)
``challenge_required`` a track        fused liveness; the only status that is not final
``verified``           a track        identity, fused similarity, fused liveness
``not_matched``        a track        fused similarity (None: empty gallery), liveness
=====================  =============  ===============================================

``confidence`` is the quality-weighted share of the fused frames that, taken alone, support
the status (1.0 for facts of a frame and for policy statuses); how the frames are fused is
:mod:`inference.face.decide`'s business.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from enum import StrEnum

from inference.face.types import QualityReason


class Status(StrEnum):
    """The answer about a track (or a frame); values are stable strings for logs and UI."""

    NO_FACE_DETECTED = "no_face_detected"
    MULTIPLE_FACES = "multiple_faces"
    LOW_QUALITY = "low_quality"
    SPOOF_DETECTED = "spoof_detected"
    CHALLENGE_REQUIRED = "challenge_required"
    VERIFIED = "verified"
    NOT_MATCHED = "not_matched"


FRAME_STATUSES = (Status.NO_FACE_DETECTED, Status.MULTIPLE_FACES)


class Mode(StrEnum):
    """Whom a face is compared with."""

    VERIFY = "1:1"
    """The claimed identity's templates only (a badge, a name typed at the kiosk)."""
    IDENTIFY = "1:N"
    """Every identity of the gallery, top k, open set."""


class ChallengePolicy(StrEnum):
    """When a site asks a live-looking face for an active challenge (blink, turn the head)."""

    NEVER = "never"
    """Passive liveness decides alone."""
    UNCERTAIN = "uncertain"
    """Only when fused liveness passes its threshold but stays below ``challenge_below``."""
    ALWAYS = "always"
    """Every face that passes passive liveness (high-security sites)."""


@dataclass(frozen=True)
class Candidate:
    """One identity the matcher offered for a face, with its cosine similarity."""

    identity: str
    similarity: float

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("a candidate needs an identity")
        if not -1.0 - 1e-5 <= self.similarity <= 1.0 + 1e-5:
            raise ValueError(f"a cosine similarity lies in [-1, 1], got {self.similarity}")


@dataclass(frozen=True)
class Decision:
    """The answer about one track (``track_id``) or one frame (``track_id`` None)."""

    status: Status
    confidence: float
    track_id: int | None = None
    identity: str | None = None
    similarity: float | None = None
    liveness: float | None = None
    reasons: tuple[QualityReason, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    frames: int = 0
    """Accepted frames whose evidence was fused."""
    claimed: str | None = None
    """The identity the track was verified against (1:1); None for 1:N and frames."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence lies in [0, 1], got {self.confidence}")
        if self.liveness is not None and not 0.0 <= self.liveness <= 1.0:
            raise ValueError(f"liveness lies in [0, 1], got {self.liveness}")
        if (self.track_id is None) != (self.status in FRAME_STATUSES):
            raise ValueError(f"{self.status} is about a {'frame' if self.track_id else 'track'}")
        if self.status is Status.VERIFIED and (self.identity is None or self.similarity is None):
            raise ValueError("verified needs an identity and a similarity")
        if (self.status is Status.LOW_QUALITY) != bool(self.reasons):
            raise ValueError("reasons belong to low_quality, and low_quality needs them")

    @property
    def final(self) -> bool:
        """False only while a challenge is awaited."""
        return self.status is not Status.CHALLENGE_REQUIRED

    def withdrawn(self, identities: Collection[str]) -> Decision:
        """This decision, unless it verified one of ``identities`` (people who left the
        gallery before it was taken: erased, their consent ended): then ``not_matched``, as
        a face nobody enrolled matches, without them among its candidates. The similarity
        left is the best remaining candidate's (None without one), never theirs."""
        if self.status is not Status.VERIFIED or self.identity not in identities:
            return self
        rest = tuple(c for c in self.candidates if c.identity not in identities)
        best = rest[0].similarity if rest else None
        return replace(self, status=Status.NOT_MATCHED, confidence=1.0, identity=None,
                       similarity=best, candidates=rest)  # fmt: skip

    def as_json(self) -> dict[str, object]:
        """A plain dict for JSON output; absent values are left out, not null."""
        out: dict[str, object] = {"status": str(self.status), "confidence": _r(self.confidence)}
        optional: dict[str, object | None] = {
            "track_id": self.track_id,
            "identity": self.identity,
            "similarity": None if self.similarity is None else _r(self.similarity),
            "liveness": None if self.liveness is None else _r(self.liveness),
        }
        out.update({key: value for key, value in optional.items() if value is not None})
        if self.reasons:
            out["reasons"] = [str(reason) for reason in self.reasons]
        if self.candidates:
            out["candidates"] = [{"identity": c.identity, "similarity": _r(c.similarity)}
                                 for c in self.candidates]  # fmt: skip
        if self.track_id is not None:
            out["frames"] = self.frames
        return out


def frame_decision(status: Status) -> Decision:
    """``no_face_detected`` or ``multiple_faces``: facts of one frame, so confidence 1."""
    if status not in FRAME_STATUSES:
        raise ValueError(f"{status} is decided per track, not per frame")
    return Decision(status, 1.0)


def _r(value: float) -> float:
    return round(float(value), 4)
