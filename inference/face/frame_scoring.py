"""What a frame's accepted faces score, stage by stage: liveness, descriptors, candidates.

The pipeline (``inference.face.pipeline``) asks these of every face the quality gate
accepts, decided or not; and the settings a pipeline's gate and thresholds start from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from inference.errors import InputError
from inference.face.decide import Candidate, Mode
from inference.face.embed import Embeddings
from inference.face.frames import StageTimer
from inference.face.quality import QualitySettings
from inference.face.stages import AnyImage, Stages
from inference.face.types import FaceBox


def liveness_scores(
    stages: Stages, image: AnyImage, faces: Sequence[FaceBox]
) -> list[float | None]:
    """Each face's liveness in [0, 1]; None for each where no liveness stage runs."""
    if stages.liveness is None or not faces:
        return [None] * len(faces)
    readings = stages.liveness.score_faces(image, faces)
    return [min(1.0, max(0.0, float(reading.score))) for reading in readings]


def describe_faces(
    stages: Stages, image: AnyImage, faces: Sequence[FaceBox], timer: StageTimer
) -> Embeddings | None:
    """Descriptors of ``faces``; None where nothing could be matched (no gallery, or an
    empty one: every face is unknown, and a descriptor would cost time for nothing)."""
    gallery, recogniser = stages.gallery, stages.recogniser
    if gallery is None or recogniser is None or not faces or len(gallery) == 0:
        return None
    with timer("describe"):
        return recogniser.describe(image, faces)


def match_candidates(
    stages: Stages,
    probes: Embeddings | None,
    count: int,
    timer: StageTimer,
    *,
    claimed: str | None,
    top_k: int,
) -> list[tuple[Candidate, ...]]:
    """Each face's candidates: the claimed identity's similarity (1:1), else the gallery's
    ``top_k`` closest (1:N); none without a gallery or descriptors."""
    gallery = stages.gallery
    if gallery is None or probes is None:
        return [() for _ in range(count)]
    with timer("match"):
        if claimed is not None:
            return [(_candidate(claimed, gallery.verify(probes.take([n]), claimed)
                                .similarity),) for n in range(count)]  # fmt: skip
        answers = gallery.identify_many(probes, top_k)
    return [tuple(_candidate(c.identity, c.similarity) for c in a.candidates) for a in answers]


def own_threshold(stages: Stages, mode: Mode) -> float | None:
    """A BYO recogniser's own threshold for ``mode`` (None: the match settings' apply). Its
    1:1 threshold is never used for 1:N, where an unknown face meets every identity."""
    if stages.similarity_threshold is None or mode is Mode.VERIFY:
        return stages.similarity_threshold
    if stages.identify_threshold is None and stages.gallery is not None:
        raise InputError(
            "1:N with this recogniser needs its identify_threshold in jaga-pack.toml: its "
            "similarity_threshold is for 1:1. Choose it from 1:N trials on your own people "
            "(the best candidate's similarity for people enrolled and for people not), as "
            "jaga eval identify measures them for the default descriptor"
        )
    return stages.identify_threshold  # None without a gallery: nothing is matched


def gate_settings(quality: QualitySettings, stages: Stages) -> QualitySettings:
    """A face too close for liveness to see around it matters only where liveness runs:
    without it (photos compared with ``--no-liveness``, tight crops) no share is too close."""
    if stages.liveness is None:
        return dataclasses.replace(quality, max_frame_share=math.inf)
    return quality


def _candidate(identity: str, similarity: float) -> Candidate:
    # float32 dot products of unit vectors can land a hair outside [-1, 1]
    return Candidate(identity, min(1.0, max(-1.0, float(similarity))))
