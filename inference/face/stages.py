"""The stages a :class:`~inference.face.pipeline.DecisionPipeline` runs, each seen through the
smallest protocol it needs.

The default pack (YuNet, MiniFASNets, dlib) and a bring-your-own pack (SCRFD, ArcFace)
satisfy the same protocols, and tests drive the pipeline with hand-written fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from inference.face.embed import DescriptorModel, Embeddings
from inference.face.match import Identification, Verification
from inference.face.types import FaceBox, TrackedFace

AnyImage = npt.NDArray[np.generic]


class Detector(Protocol):
    def detect(self, image: AnyImage) -> list[FaceBox]: ...


class LivenessReading(Protocol):
    @property
    def score(self) -> float: ...


class LivenessScorer(Protocol):
    def score_faces(self, image: AnyImage, faces: Sequence[FaceBox]) -> Sequence[LivenessReading]:
        """P(real) of each face, in order, batched."""
        ...


class Recogniser(Protocol):
    """Aligns and describes faces the way one descriptor network wants."""

    @property
    def model(self) -> DescriptorModel: ...

    def describe(self, image: AnyImage, faces: Sequence[FaceBox]) -> Embeddings: ...


class Gallery(Protocol):
    """The in-memory index to match against (:class:`~inference.face.match.GalleryIndex`)."""

    model: DescriptorModel

    def __len__(self) -> int: ...

    def __contains__(self, identity: object) -> bool: ...

    def verify(self, probe: Embeddings, claimed: str) -> Verification: ...

    def identify_many(self, probes: Embeddings, k: int | None = None) -> list[Identification]: ...


class Challenge(Protocol):
    """One active challenge for one track (:class:`~inference.face.challenge.ChallengeSession`)."""

    @property
    def current_action(self) -> str | None: ...

    def feed(self, frame: AnyImage, face: TrackedFace, timestamp: float | None = None) -> str:
        """Feed a frame of the track; returns ``pending``, ``passed``, ``failed`` or
        ``timeout``."""
        ...


@dataclass(frozen=True)
class Stages:
    """The stages of one pipeline; all but the detector are optional."""

    detector: Detector
    liveness: LivenessScorer | None = None
    recogniser: Recogniser | None = None
    gallery: Gallery | None = None
    similarity_threshold: float | None = None
    """The recogniser's own 1:1 threshold when it is not the default descriptor (BYO)."""
    challenges: Callable[[], Challenge] | None = None
    """Starts a challenge for a track whose decision is ``challenge_required``; without it
    the caller runs the challenge and reports with :meth:`DecisionPipeline.record_challenge`."""
    identify_threshold: float | None = None
    """The BYO recogniser's own 1:N threshold (its 1:1 one is no bar for 1:N)."""
