"""What ``jaga eval pairs`` and ``jaga eval identify`` share: the image -> descriptor
pipeline, timed, and the verification measures with their curves.

One face per image: the largest the detector finds (evaluation sets, like a kiosk's
camera, are framed on one subject; the largest face is the nearest). An image with no face
either fails (``NoFacePolicy.FAIL``, the kiosk's behaviour: no decision) or is described
from the whole image taken as the face box (``WHOLE_IMAGE``, what the ``face_recognition``
library does); both counts are reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import InferenceError, InputError
from inference.face.align import FaceAligner, RefineSettings
from inference.face.cli_options import NoFacePolicy
from inference.face.detect import FaceDetector, read_image
from inference.face.embed import EmbedderSettings, Embeddings, FaceEmbedder
from inference.image_file import write_image_file
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff"})
FAILED_SCORE = -2.0  # below every cosine: a pair with a failed image is never accepted


class FacePipeline:
    """Detect -> largest face -> align -> describe, one image at a time."""

    def __init__(self, detector: FaceDetector, aligner: FaceAligner, embedder: FaceEmbedder):
        self.detector, self.aligner, self.embedder = detector, aligner, embedder

    @classmethod
    def from_pack(
        cls,
        models_dir: Path | None,
        threads: int | None = None,
        embedder_settings: EmbedderSettings | None = None,
        refine: RefineSettings | None = None,
    ) -> FacePipeline:
        """The default pipeline on an installed pack (landmarks refined by the detector)."""
        budget = ThreadBudget(threads) if threads else None
        runtime = Runtime(ModelPack(models_dir), threads=budget)
        detector = FaceDetector.from_runtime(runtime)
        return cls(
            detector,
            FaceAligner(detector=detector, refine=refine),
            FaceEmbedder.from_runtime(runtime, settings=embedder_settings),
        )

    def describe(self, image: npt.NDArray[np.uint8], policy: NoFacePolicy) -> Description:
        """The descriptor of the image's largest face (or, under ``WHOLE_IMAGE``, of the
        whole image when there is no face)."""
        faces = self.detector.detect(image)
        if faces:
            aligned = self.aligner.align(image, max(faces, key=lambda face: face.area))
        elif policy is NoFacePolicy.WHOLE_IMAGE:
            height, width = image.shape[:2]
            aligned = self.aligner.align_box(image, (0.0, 0.0, float(width), float(height)))
        else:
            return Description(None, face_found=False)
        return Description(self.embedder.embed_one(aligned.chip), face_found=bool(faces))


@dataclass(frozen=True)
class Description:
    embeddings: Embeddings | None  # one row; None: no descriptor
    face_found: bool


@dataclass(frozen=True)
class DescribedImages:
    """Descriptors of a list of images, keyed by name, with what went wrong and the time
    spent in the pipeline (detection, alignment, descriptor; not reading the files)."""

    rows: dict[str, int]  # image name -> row of ``embeddings``
    embeddings: Embeddings
    no_face: tuple[str, ...]  # the detector found nothing (described anyway or failed)
    unreadable: tuple[str, ...]
    failed: tuple[str, ...]  # no descriptor: unreadable, or no face under FAIL
    wall_seconds: float
    cpu_seconds: float
    images: int

    def vector(self, name: str) -> npt.NDArray[np.float32] | None:
        row = self.rows.get(name)
        return None if row is None else self.embeddings.vectors[row]


def describe_images(
    pipeline: FacePipeline,
    paths: dict[str, Path],
    policy: NoFacePolicy,
    progress: Callable[[str], None] | None = None,
) -> DescribedImages:
    """Each image described once, timed with the wall clock and the process's CPU clock."""
    rows: dict[str, int] = {}
    parts: list[Embeddings] = []
    no_face, unreadable, failed = [], [], []
    wall = cpu = 0.0
    for index, (name, path) in enumerate(paths.items()):
        try:
            image = read_image(path)
        except InferenceError:
            unreadable.append(name)
            failed.append(name)
            continue
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        description = pipeline.describe(image, policy)
        wall, cpu = wall + time.perf_counter() - wall_start, cpu + time.process_time() - cpu_start
        if not description.face_found:
            no_face.append(name)
        if description.embeddings is None:
            failed.append(name)
        else:
            rows[name] = len(parts)
            parts.append(description.embeddings)
        if progress and (index + 1) % 500 == 0:
            progress(f"{index + 1}/{len(paths)} images")
    model = pipeline.embedder.model
    empty = Embeddings(np.zeros((0, model.dimension), np.float32), model)
    embeddings = Embeddings.concatenate(parts) if parts else empty
    return DescribedImages(
        rows, embeddings, tuple(no_face), tuple(unreadable), tuple(failed), wall, cpu, len(paths)
    )


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, sorted."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


# --- verification measures -------------------------------------------------------------


@dataclass(frozen=True)
class Roc:
    """Operating points for "accept when score >= threshold", thresholds decreasing."""

    thresholds: FloatArray
    far: FloatArray  # impostor pairs accepted / impostor pairs
    tar: FloatArray  # genuine pairs accepted / genuine pairs


def roc(scores: FloatArray, same: BoolArray) -> Roc:
    """Every distinct operating point (one per distinct score), from (0, 0) upward."""
    genuine, impostor = int(same.sum()), int((~same).sum())
    if genuine == 0 or impostor == 0:
        raise InputError("the measures need both same-person and different-person pairs")
    order = np.argsort(-scores, kind="stable")
    ordered, labels = scores[order], same[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(ordered)), len(ordered) - 1]
    tar = np.cumsum(labels)[last_of_each] / genuine
    far = np.cumsum(~labels)[last_of_each] / impostor
    return Roc(np.r_[np.inf, ordered[last_of_each]], np.r_[0.0, far], np.r_[0.0, tar])


def auc(curve: Roc) -> float:
    """Area under the ROC curve (trapezoids: ties count half, as the Mann-Whitney U)."""
    return float(np.sum(np.diff(curve.far) * (curve.tar[1:] + curve.tar[:-1]) / 2))


def tar_at_far(curve: Roc, target: float) -> tuple[float, float]:
    """(TAR, threshold) at the loosest threshold whose FAR does not exceed ``target``."""
    allowed = np.flatnonzero(curve.far <= target)[-1]
    return float(curve.tar[allowed]), float(curve.thresholds[allowed])


def accuracy_at(scores: FloatArray, same: BoolArray, threshold: float) -> float:
    return float(np.mean((scores >= threshold) == same))


def best_threshold(scores: FloatArray, same: BoolArray) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy; the threshold sits midway between the two
    scores it separates, so it does not hug one pair of this data."""
    candidates = np.unique(scores)
    midpoints = np.r_[
        candidates[0] - 1e-6, (candidates[1:] + candidates[:-1]) / 2, candidates[-1] + 1e-6
    ]
    accepted = scores[None, :] >= midpoints[:, None]
    accuracies = np.mean(accepted == same[None, :], axis=1)
    best = int(np.argmax(accuracies))
    return float(midpoints[best]), float(accuracies[best])


def cross_validate(
    scores: FloatArray, same: BoolArray, folds: npt.NDArray[np.int64]
) -> dict[str, object]:
    """k-fold accuracy: each fold judged at the threshold that is best on the other folds."""
    thresholds, accuracies = [], []
    for fold in np.unique(folds):
        held = folds == fold
        threshold, _ = best_threshold(scores[~held], same[~held])
        thresholds.append(threshold)
        accuracies.append(accuracy_at(scores[held], same[held], threshold))
    return {
        "folds": len(accuracies),
        "accuracy_mean": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "fold_accuracies": [round(a, 5) for a in accuracies],
        "fold_thresholds": [round(t, 5) for t in thresholds],
        "threshold_mean": float(np.mean(thresholds)),
    }


# --- curves, drawn with OpenCV -----------------------------------------------------------

WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (200, 200, 200)
COLOURS = (
    (200, 110, 40),
    (40, 40, 210),
    (40, 160, 40),
    (160, 40, 160),
    (0, 140, 255),
    (120, 120, 0),
)  # BGR
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class Axis:
    label: str
    low: float
    high: float
    log: bool

    def fraction(self, values: FloatArray) -> FloatArray:
        clipped = np.clip(np.asarray(values, np.float64), self.low, self.high)
        if self.log:
            span = np.log10(self.high / self.low)
            return np.asarray((np.log10(clipped) - np.log10(self.low)) / span, np.float64)
        return np.asarray((clipped - self.low) / (self.high - self.low), np.float64)

    def ticks(self) -> list[float]:
        if self.log:
            first, last = int(np.floor(np.log10(self.low))), int(np.ceil(np.log10(self.high)))
            return [10.0**e for e in range(first, last + 1)]
        return [float(v) for v in np.linspace(self.low, self.high, 6)]


def curves_png(
    path: Path,
    title: str,
    x: Axis,
    y: Axis,
    series: Iterable[tuple[str, FloatArray, FloatArray]],
    *,
    size: int = 480,
    legend_at: tuple[float, float] = (0.02, 0.97),
) -> None:
    """Labelled curves on one plot, written as a PNG; the legend's top-left corner sits at
    ``legend_at`` (fractions of the plot's width from the left and height from the bottom),
    where the curves are not."""
    pad = 60
    legend_x = pad + round(legend_at[0] * size)
    legend_y = pad + size - round(legend_at[1] * size)
    canvas = np.full((size + 2 * pad, size + 2 * pad, 3), 255, np.uint8)

    def to_pixels(xs: FloatArray, ys: FloatArray) -> npt.NDArray[np.int32]:
        px = pad + x.fraction(xs) * size
        py = pad + size - y.fraction(ys) * size
        return np.stack([px, py], axis=1).round().astype(np.int32)

    _grid(canvas, x, y, pad, size)
    for index, (label, xs, ys) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        cv2.polylines(canvas, [to_pixels(xs, ys)], False, colour, 2, cv2.LINE_AA)
        cv2.putText(
            canvas,
            label,
            (legend_x, legend_y + 14 + 18 * index),
            FONT,
            0.45,
            colour,
            1,
            cv2.LINE_AA,
        )
    cv2.putText(canvas, title, (pad, pad - 20), FONT, 0.55, BLACK, 1, cv2.LINE_AA)
    cv2.putText(canvas, x.label, (pad + size // 2 - 60, pad + size + 45), FONT, 0.45, BLACK, 1)
    cv2.putText(canvas, y.label, (5, pad - 5), FONT, 0.45, BLACK, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not write_image_file(path, canvas):
        raise InferenceError(f"cannot write {path}")


def _grid(canvas: npt.NDArray[np.uint8], x: Axis, y: Axis, pad: int, size: int) -> None:
    for tick in x.ticks():
        px = pad + round(float(x.fraction(np.array([tick]))[0]) * size)
        cv2.line(canvas, (px, pad), (px, pad + size), GREY, 1)
        cv2.putText(canvas, _tick_text(tick), (px - 14, pad + size + 18), FONT, 0.38, BLACK, 1)
    for tick in y.ticks():
        py = pad + size - round(float(y.fraction(np.array([tick]))[0]) * size)
        cv2.line(canvas, (pad, py), (pad + size, py), GREY, 1)
        cv2.putText(canvas, _tick_text(tick), (8, py + 4), FONT, 0.38, BLACK, 1)
    cv2.rectangle(canvas, (pad, pad), (pad + size, pad + size), BLACK, 1)


def _tick_text(value: float) -> str:
    return f"{value:.0e}" if value < 0.01 else f"{value:g}"


def roc_and_det_png(curves: Sequence[tuple[str, Roc]], roc_path: Path, det_path: Path) -> None:
    """ROC (TAR against FAR, log FAR) and DET (FNMR against FMR, both log) plots."""
    floor = 1e-4
    far_axis = Axis("false accept rate (FMR)", floor, 1.0, log=True)
    # the TAR axis starts a little below the lowest TAR at FAR 1e-3: where the curves differ
    lowest = min(tar_at_far(curve, 1e-3)[0] for _, curve in curves)
    tar_floor = min(0.9, float(np.floor(lowest * 10) / 10))
    curves_png(
        roc_path,
        "ROC",
        far_axis,
        Axis("true accept rate", tar_floor, 1.0, log=False),
        [(label, c.far, c.tar) for label, c in curves],
        legend_at=(0.45, 0.4),
    )
    curves_png(
        det_path,
        "DET",
        far_axis,
        Axis("false reject rate (FNMR)", floor, 1.0, log=True),
        [(label, c.far[1:], 1.0 - c.tar[1:]) for label, c in curves],  # not the accept-none point
        legend_at=(0.05, 0.3),
    )
