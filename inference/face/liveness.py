"""Passive liveness: is the face in this image a live person, or a photo or a screen?

Two MiniFASNet models (Silent-Face-Anti-Spoofing) each look at the face on their own
crop: the detector's box scaled by 2.7 (MiniFASNetV2, the face and a little hair) and by
4.0 (MiniFASNetV1SE, which also sees the surroundings: a hand, a paper edge, a bezel). Each
gives three logits; class 1 is "real". As upstream, the two softmaxes are averaged, and the
score is the averaged probability of "real", in [0, 1].

The crop is upstream's ``CropImage`` arithmetic: the box is scaled around its centre (the
scale is first reduced, if needed, so that the crop fits the image), shifted back inside
the image where it crosses an edge, cut on whole pixels with the bottom-right pixel
included, and resized to 80x80. The networks see BGR 0-255, as in training.

:class:`PassiveLiveness` then applies the image cues of :mod:`inference.face.liveness_cues`
(evidence the models under-use: a straight frame around the face), each of which can only
lower the score, and compares it with :attr:`LivenessSettings.threshold`.

Faces are scored in batches, so several faces (of one image or of several) cost one run
per model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from inference.face.detect import as_bgr
from inference.face.liveness_cues import CueReading, CueSettings, read_cues
from inference.face.types import FaceBox
from inference.runtime import ModelSession, Runtime
from inference.runtime.tensorrt import MAX_BATCH

FloatArray = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class CropModel:
    """One liveness model and the crop it was trained on."""

    model_id: str
    crop_scale: float

    def __post_init__(self) -> None:
        if self.crop_scale <= 0:
            raise ValueError(f"crop_scale must be positive, got {self.crop_scale}")


@dataclass(frozen=True)
class LivenessSettings:
    """Passive liveness settings; the defaults and their measurements are in the docstrings
    (figures from ``python -m inference.face.liveness_study``)."""

    models: tuple[CropModel, ...] = (
        CropModel("minifasnet_v2", 2.7),
        CropModel("minifasnet_v1se", 4.0),
    )
    """The fused models, each on the crop scale its weights were trained with."""
    threshold: float = 0.5
    """A face is live when its score reaches this. 0.5 is the point where "real" is more
    probable than every attack class together: the models' own decision, not a fit to our
    data (NUAA alone would pick 0.03, its equal-error point). Measured around it (``python
    -m inference.face.liveness_study passive``), at 0.3 / 0.5 / 0.7: live NUAA frames
    rejected 6.9 / 11.9 / 22.4 %, the live NUAA webcam sequence 0 / 0.8 / 0.8 %; NUAA prints
    accepted at none; the phone-recaptured poster ``image_F1`` (0.335) accepted at 0.3 only;
    synthetic screen recaptures (full grid, grid 0.3, no grid) accepted 6.0, 10.9, 14.5 %
    at 0.3 and 6.0, 1.8, 7.3 % at 0.5. 0.5 keeps more attacks out at the cost of the
    weakest live frames; averaging over a session does not win them back (2 of 16 live
    NUAA sessions average below 0.5: low scores belong to whole sessions, not to frames)."""
    real_class: int = 1
    """Index of "real" among the models' three classes."""
    input_side: int = 80
    """Side of the square crop the models take."""
    min_face_side_px: float = 40.0
    """Faces whose box has a shorter side are ``too_small``: their crops are enlarged to
    80 px and the texture the models read is not in them. NUAA live frames shrunk so the
    face is 80 / 50 / 30 / 20 px wide are accepted 77 / 73 / 59 / 34 % of the time (91 % at
    their own ~170 px); prints stay rejected at every size. 40 is the quality gate's own
    minimum face side."""
    max_batch: int = MAX_BATCH
    """Crops per run; the TensorRT engines are built for batches up to this size."""
    cues: CueSettings = field(default_factory=CueSettings)
    """The image cues applied on top of the models (``liveness_cues``)."""

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("at least one liveness model is needed")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {self.threshold}")
        if self.input_side < 1 or self.min_face_side_px < 0:
            raise ValueError("input_side >= 1, min_face_side_px >= 0")
        if not 1 <= self.max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be at least 1 and at most {MAX_BATCH}")
        if self.real_class not in (0, 1, 2):
            raise ValueError(
                f"real_class is one of the models' 3 classes (0-2), not {self.real_class}"
            )


class LivenessStatus(StrEnum):
    """The verdict on one face; the values are stable strings for logs and the UI."""

    LIVE = "live"
    SPOOF = "spoof"
    TOO_SMALL = "too_small"


@dataclass(frozen=True)
class LivenessScore:
    """The verdict on one face.

    ``score`` is what the threshold is compared with: the fused models' P(real), lowered
    by any cue that fired. ``model_score`` is the fused P(real) alone and ``model_scores``
    each model's, in the order of :attr:`LivenessSettings.models`.
    """

    score: float
    status: LivenessStatus
    model_score: float
    model_scores: tuple[float, ...]
    cues: CueReading

    def __post_init__(self) -> None:
        values = (self.score, self.model_score, *self.model_scores)
        if not all(0.0 <= value <= 1.0 for value in values):
            raise ValueError(f"liveness scores must lie in [0, 1], got {values}")

    @property
    def live(self) -> bool:
        return self.status is LivenessStatus.LIVE


@dataclass(frozen=True)
class CropRect:
    """Whole-pixel crop ``[x1, x2) x [y1, y2)`` inside the image."""

    x1: int
    y1: int
    x2: int
    y2: int


class PassiveLiveness:
    """Scores faces with the fused MiniFASNet models and the image cues."""

    def __init__(
        self, sessions: Mapping[str, ModelSession], settings: LivenessSettings | None = None
    ) -> None:
        self.settings = settings or LivenessSettings()
        missing = [m.model_id for m in self.settings.models if m.model_id not in sessions]
        if missing:
            raise ValueError(f"no session for liveness models {missing}")
        self.sessions = dict(sessions)

    @classmethod
    def from_runtime(
        cls, runtime: Runtime, settings: LivenessSettings | None = None
    ) -> PassiveLiveness:
        """Sessions for every model of ``settings`` from the installed pack."""
        chosen = settings or LivenessSettings()
        return cls({m.model_id: runtime.session(m.model_id) for m in chosen.models}, chosen)

    @property
    def providers(self) -> dict[str, str]:
        return {model_id: session.provider for model_id, session in self.sessions.items()}

    def score(self, image: npt.NDArray[np.generic], face: FaceBox) -> LivenessScore:
        """The verdict on one face of ``image`` (BGR, BGRA or grayscale uint8)."""
        return self.score_batch([(image, face)])[0]

    def score_faces(
        self, image: npt.NDArray[np.generic], faces: Sequence[FaceBox]
    ) -> list[LivenessScore]:
        """The verdicts on several faces of one image, in their order."""
        bgr = as_bgr(image)
        return self.score_batch([(bgr, face) for face in faces])

    def score_batch(
        self, items: Sequence[tuple[npt.NDArray[np.generic], FaceBox]]
    ) -> list[LivenessScore]:
        """The verdicts on (image, face) pairs, one batched run per model."""
        if not items:
            return []
        pairs = [(as_bgr(image), face) for image, face in items]
        per_model = [self._model_scores(pairs, model) for model in self.settings.models]
        return [
            self._verdict(bgr, face, tuple(float(scores[index]) for scores in per_model))
            for index, (bgr, face) in enumerate(pairs)
        ]

    def model_probabilities(self, crops: FloatArray, model_id: str) -> FloatArray:
        """Softmax of one model over a (N, 3, side, side) batch of crops, run in chunks."""
        session = self.sessions[model_id]
        chunks = []
        for start in range(0, len(crops), self.settings.max_batch):
            batch = crops[start : start + self.settings.max_batch]
            chunks.append(softmax(np.asarray(session.run({"input": batch})[0], np.float32)))
        return np.concatenate(chunks)

    def _model_scores(self, pairs: Sequence[tuple[Image, FaceBox]], model: CropModel) -> FloatArray:
        side = self.settings.input_side
        crops = np.stack([model_input(bgr, face, model.crop_scale, side) for bgr, face in pairs])
        probabilities = self.model_probabilities(crops, model.model_id)
        return np.asarray(probabilities[:, self.settings.real_class], np.float32)

    def _verdict(self, bgr: Image, face: FaceBox, model_scores: tuple[float, ...]) -> LivenessScore:
        # A model answering nan or inf (a broken build, a faulty accelerator) cannot vouch
        # for the face, and the fusion must not let the other model carry it: it fails closed.
        clipped = tuple(float(np.clip(v, 0.0, 1.0)) if math.isfinite(v) else 0.0
                        for v in model_scores)  # fmt: skip
        broken = not all(math.isfinite(value) for value in model_scores)
        model_score = 0.0 if broken else float(np.mean(clipped))
        cues = read_cues(bgr, face, self.settings.cues)
        score = min(model_score, cues.ceiling)
        status = self._status(face, score)
        return LivenessScore(score, status, model_score, clipped, cues)

    def _status(self, face: FaceBox, score: float) -> LivenessStatus:
        if min(face.width, face.height) < self.settings.min_face_side_px:
            return LivenessStatus.TOO_SMALL
        return LivenessStatus.LIVE if score >= self.settings.threshold else LivenessStatus.SPOOF


def softmax(logits: FloatArray) -> FloatArray:
    """Row-wise softmax, stable for large logits; nan where a logit is not finite (which
    the verdict reads as a broken model)."""
    with np.errstate(invalid="ignore"):
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), np.float32)


def scaled_crop_rect(face: FaceBox, image_width: int, image_height: int, scale: float) -> CropRect:
    """The crop of ``face`` at ``scale``, by upstream's ``CropImage._get_new_box``.

    The scale is reduced to what fits the image, the scaled box centred on the face box,
    shifted inside the image where it crosses an edge, and cut to whole pixels (truncated,
    as upstream's ``int``); upstream includes the bottom-right pixel, hence the ``+ 1``.
    """
    last_x, last_y = image_width - 1, image_height - 1
    scale = min(last_y / face.height, last_x / face.width, scale)
    half_width, half_height = face.width * scale / 2, face.height * scale / 2
    centre_x, centre_y = face.center
    left, right = _shift_inside(centre_x - half_width, centre_x + half_width, last_x)
    top, bottom = _shift_inside(centre_y - half_height, centre_y + half_height, last_y)
    x1, y1 = max(0, math.trunc(left)), max(0, math.trunc(top))
    x2 = min(image_width, max(x1 + 1, math.trunc(right) + 1))
    y2 = min(image_height, max(y1 + 1, math.trunc(bottom) + 1))
    return CropRect(x1, y1, x2, y2)


def _shift_inside(low: float, high: float, last: float) -> tuple[float, float]:
    """``[low, high]`` moved (not shrunk) to start at 0 or end at ``last``, as upstream."""
    if low < 0:
        low, high = 0.0, high - low
    if high > last:
        low, high = low - (high - last), last
    return low, high


def model_input(bgr: Image, face: FaceBox, scale: float, side: int) -> FloatArray:
    """The (3, side, side) float32 BGR 0-255 crop one model reads."""
    rect = scaled_crop_rect(face, bgr.shape[1], bgr.shape[0], scale)
    patch = bgr[rect.y1 : rect.y2, rect.x1 : rect.x2]
    resized = cv2.resize(patch, (side, side), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(np.asarray(resized, np.float32).transpose(2, 0, 1))
