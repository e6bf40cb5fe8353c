"""Derive the chip template for YuNet's landmarks that cuts dlib's own 150x150 chip.

For every face that both pipelines see (YuNet in ``inference/``; dlib's HOG detector, run
upsampled once as face_recognition does, and its 5-point shape predictor here), dlib's exact
image -> chip map (``get_face_chip_details``, size 150, padding 0.25, as
``compute_face_descriptor`` uses) carries YuNet's landmarks and box into dlib's chip. The
template is the per-coordinate median over the faces; the residuals say how well a
similarity fit to it reproduces dlib's chip::

    .venv/bin/python -m tools.derive_chip_template \\
        --fit nuaa=../shared/data/spoof/nuaa/train/frames/live \\
        --fit lfw=../shared/data/faces/lfw/images \\
        --cache .cache/face_eval --out .cache/face_eval/template.json

Two stages, as the aligner works: a template fitted on YuNet's raw landmarks, then the
landmarks refined by the aligner's second look (:class:`RefineSettings`, which needs a
template to cut its crop: the raw one) and the shipped template fitted on those. Each
``--fit NAME=DIR`` is one set (searched recursively); templates are fitted on every set and
on all of them together, with and without inverse-variance weights, and each is judged on
every set, so that a template fitted on one set is also seen on faces it has not seen.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import InputError
from inference.face import FaceDetector, read_image
from inference.face.align import YUNET_DLIB_CHIP, ChipTemplate, FaceAligner, similarity_transform
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from tools.dlib_reference import CHIP_SIZE, DlibReference, find_shape_predictor

Array = npt.NDArray[np.float64]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".bmp"}
INNER_CHIP = (25, 125)  # the chip's face region, where a misplaced chip costs the descriptor
LANDMARKS = ("right_eye", "left_eye", "nose_tip", "right_mouth", "left_mouth")


@dataclass(frozen=True)
class Observations:
    """Faces seen by both pipelines: the image, YuNet's landmarks and box, dlib's map."""

    paths: tuple[str, ...]
    landmarks: Array  # (n, 5, 2) image pixels
    boxes: Array  # (n, 4)
    to_chip: Array  # (n, 2, 3) image -> dlib's chip

    def mapped_landmarks(self) -> Array:
        """YuNet's landmarks in dlib's chip, (n, 5, 2)."""
        linear, shift = self.to_chip[:, :, :2], self.to_chip[:, :, 2]
        mapped = np.einsum("nij,nkj->nki", linear, self.landmarks) + shift[:, None, :]
        return np.asarray(mapped, np.float64)

    def mapped_boxes(self) -> Array:
        """YuNet's box in dlib's chip: its centre mapped, its sides scaled, (n, 4)."""
        centres = (self.boxes[:, :2] + self.boxes[:, 2:]) / 2
        linear, shift = self.to_chip[:, :, :2], self.to_chip[:, :, 2]
        mapped = np.einsum("nij,nj->ni", linear, centres) + shift
        scale = np.sqrt(np.abs(np.linalg.det(linear)))[:, None]
        half = (self.boxes[:, 2:] - self.boxes[:, :2]) * scale / 2
        return np.concatenate([mapped - half, mapped + half], axis=1)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            paths=np.array(self.paths),
            landmarks=self.landmarks,
            boxes=self.boxes,
            to_chip=self.to_chip,
        )

    @classmethod
    def load(cls, path: Path) -> Observations:
        data = np.load(path)
        return cls(
            tuple(str(p) for p in data["paths"]), data["landmarks"], data["boxes"], data["to_chip"]
        )

    @classmethod
    def concatenate(cls, parts: list[Observations]) -> Observations:
        return cls(
            tuple(p for part in parts for p in part.paths),
            *(
                np.concatenate([getattr(part, name) for part in parts])
                for name in ("landmarks", "boxes", "to_chip")
            ),
        )


def collect(folder: Path, detector: FaceDetector, reference: DlibReference) -> Observations:
    """Observations on every image under ``folder`` where both pipelines find one face
    whose boxes agree (dlib's box centre inside YuNet's largest box)."""
    paths, landmarks, boxes, maps = [], [], [], []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        try:
            bgr = read_image(path)
        except InputError:
            continue
        found = detector.detect(bgr)
        if not found:
            continue
        ours = max(found, key=lambda face: face.area)
        theirs = reference.faces(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), upsample=1)
        if len(theirs) != 1:
            continue
        x1, y1, x2, y2 = theirs[0].box
        if not (ours.x1 < (x1 + x2) / 2 < ours.x2 and ours.y1 < (y1 + y2) / 2 < ours.y2):
            continue
        paths.append(str(path))
        landmarks.append(np.asarray(ours.landmarks, np.float64))
        boxes.append([ours.x1, ours.y1, ours.x2, ours.y2])
        maps.append(theirs[0].to_chip)
    return Observations(
        tuple(paths), np.array(landmarks), np.array(boxes, np.float64), np.array(maps)
    )


def refined(observations: Observations, aligner: FaceAligner) -> Observations:
    """The same faces with the aligner's refined landmarks."""
    points = [
        aligner.refined_points(read_image(Path(path)), landmarks)
        for path, landmarks in zip(observations.paths, observations.landmarks, strict=True)
    ]
    return replace(observations, landmarks=np.array(points))


def fit_template(observations: Observations, name: str, weighted: bool) -> ChipTemplate:
    """The per-coordinate median of YuNet's landmarks and box in dlib's chip; weighted:
    each point weighs the inverse of its median squared distance to its median (the
    inverse-variance weights of a least-squares fit, robustly), the largest weight 1."""
    mapped = observations.mapped_landmarks()
    points = np.median(mapped, axis=0)
    box = np.median(observations.mapped_boxes(), axis=0)
    spread = np.median(np.sum((mapped - points[None]) ** 2, axis=2), axis=0)
    weights = tuple(round(float(w), 3) for w in spread.min() / spread) if weighted else None
    return replace(
        YUNET_DLIB_CHIP,
        name=name,
        size=CHIP_SIZE,
        points=tuple((round(float(x), 2), round(float(y), 2)) for x, y in points),
        face_box=(_r(box[0]), _r(box[1]), _r(box[2]), _r(box[3])),
        weights=weights,
    )


def residuals(observations: Observations, template: ChipTemplate) -> dict[str, object]:
    """How far the chips cut with ``template`` land from dlib's own, in chip pixels.

    ``landmark_px``: distance of each mapped YuNet landmark to its template point (the
    template's own spread). ``chip_shift_px``: per face, the mean displacement between the
    similarity-fitted chip and dlib's chip over the inner face region of the chip.
    """
    distances = np.linalg.norm(observations.mapped_landmarks() - template.as_array(), axis=2)
    axis = np.arange(*INNER_CHIP, 5.0)
    grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    shifts = np.array(
        [
            _chip_shift(points, to_chip, template, grid)
            for points, to_chip in zip(observations.landmarks, observations.to_chip, strict=True)
        ]
    )
    return {
        "faces": len(distances),
        "landmark_px_median": dict(zip(LANDMARKS, map(_r, np.median(distances, 0)), strict=True)),
        "landmark_px_p90": dict(
            zip(LANDMARKS, map(_r, np.percentile(distances, 90, 0)), strict=True)
        ),
        "chip_shift_px": {
            "mean": _r(shifts.mean()),
            "median": _r(np.median(shifts)),
            "p90": _r(np.percentile(shifts, 90)),
            "p99": _r(np.percentile(shifts, 99)),
        },
    }


def _chip_shift(points: Array, dlib_to_chip: Array, template: ChipTemplate, grid: Array) -> float:
    """Mean distance, over ``grid`` (dlib chip pixels), between where a dlib chip pixel sits
    in our chip and where it sits in dlib's."""
    ours = similarity_transform(points, template.as_array(), template.weight_array())
    back = cv2.invertAffineTransform(dlib_to_chip)
    in_ours = (grid @ back[:, :2].T + back[:, 2]) @ ours[:, :2].T + ours[:, 2]
    return float(np.mean(np.linalg.norm(in_ours - grid, axis=1)))


def _r(value: float | np.floating) -> float:
    return round(float(value), 2)


def judge(sets: dict[str, Observations], label: str) -> dict[str, object]:
    """Templates fitted on each set (plain and weighted), each judged on every set."""
    report: dict[str, object] = {}
    for name, observed in sets.items():
        for weighted in (False, True):
            template = fit_template(observed, f"{label}, fitted on {name}", weighted)
            report[f"{name}{' weighted' if weighted else ''}"] = {
                "points": template.points,
                "weights": template.weights,
                "face_box": template.face_box,
                "residuals_on": {other: residuals(o, template) for other, o in sets.items()},
            }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="append", required=True, metavar="NAME=DIR")
    parser.add_argument("--models-dir", type=Path, help="installed model pack")
    parser.add_argument("--cache", type=Path, help="folder keeping each set's observations")
    parser.add_argument("--out", type=Path, help="JSON report (templates and residuals)")
    args = parser.parse_args()
    predictor = find_shape_predictor()
    if predictor is None:
        raise SystemExit("dlib's shape_predictor_5_face_landmarks.dat was not found")
    runtime = Runtime(ModelPack(args.models_dir), preference=(CPU,), threads=ThreadBudget(1))
    detector = FaceDetector.from_runtime(runtime)
    raw: dict[str, Observations] = {}
    for item in args.fit:
        name, folder = item.split("=", 1)
        cache = args.cache / f"template_observations_{name}.npz" if args.cache else None
        if cache is not None and cache.exists():
            raw[name] = Observations.load(cache)
            continue
        raw[name] = collect(Path(folder), detector, DlibReference(predictor))
        if cache is not None:
            raw[name].save(cache)
    raw["all"] = Observations.concatenate(list(raw.values()))
    raw_template = fit_template(raw["all"], "raw landmarks, fitted on all", weighted=False)
    aligner = FaceAligner(raw_template, detector)
    better = {name: refined(observed, aligner) for name, observed in raw.items() if name != "all"}
    better["all"] = Observations.concatenate(list(better.values()))
    report = {"raw landmarks": judge(raw, "raw"), "refined landmarks": judge(better, "refined")}
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
