"""The measurements behind the face pipeline's default settings, on ``../shared/data``.

Not a test (pytest does not collect it): a script that prints the figures quoted in the
settings' docstrings and in the issue. Run from the repository root::

    .venv/bin/python -m tests.inference.face.measure all        # everything, ~3 min on 2 cores
    .venv/bin/python -m tests.inference.face.measure lfw --limit 300

Sections: ``lfw`` (detection rate on tight crops, with and without the retry), ``walkers``
(small faces at several input caps), ``timing`` (detection per frame), ``tracking`` (id
stability on hamilton), ``roll`` (the roll read on tilted faces), ``size`` (small faces:
found, and their sharpness), ``quality`` (measure distributions on real and degraded faces).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.face import (
    DetectorSettings,
    FaceBox,
    FaceDetector,
    FaceTracker,
    QualityGate,
    QualityMeasures,
)
from inference.pack.install import install
from inference.pack.installed import ModelPack, ModelState
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"
Image = npt.NDArray[np.uint8]
# hamilton_640x360.mp4 is edited footage: shots start at these frames (a jump of the mean
# absolute difference between consecutive 80x45 grey frames above 15 grey levels).
HAMILTON_SHOTS = (0, 20, 82, 211, 275)


def detector(settings: DetectorSettings | None = None) -> FaceDetector:
    """YuNet n on the CPU with two threads, from the installed pack (built if missing)."""
    pack = ModelPack(Path(os.environ.get("JAGA_MODELS_DIR", REPO / ".cache" / "models")))
    specs = [pack.manifest.model(model_id) for model_id in ("yunet_n", "yunet_s")]
    missing = [spec for spec in specs if pack.state(spec) is not ModelState.OK]
    if missing:
        install(pack, missing, mirror=REPO.parent / "shared" / "models")
    runtime = Runtime(pack, preference=(CPU,), threads=ThreadBudget(2))
    return FaceDetector.from_runtime(runtime, "yunet_n", settings)


def video_frames(name: str, every: int = 1) -> Iterator[Image]:
    capture = cv2.VideoCapture(str(DATA / "video" / name))
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            if index % every == 0:
                yield np.asarray(frame, np.uint8)
            index += 1
    finally:
        capture.release()


def lfw_paths(limit: int | None) -> list[Path]:
    paths = sorted((DATA / "faces" / "lfw" / "images").glob("*.jpg"))
    if limit:
        paths = paths[:: max(1, len(paths) // limit)][:limit]
    return paths


def read_grey(path: Path) -> Image:
    """LFW here is grayscale: read it as such, so the detector's grey path is exercised."""
    return np.asarray(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), np.uint8)


def measure_lfw(limit: int | None) -> dict[str, object]:
    """Share of LFW tight crops with a face, without and with the tight-crop retry, and how
    many crops (one face each) gave more than one."""
    images = [read_grey(path) for path in lfw_paths(limit)]
    base = detector()
    report: dict[str, object] = {"images": len(images)}
    for threshold in (0.6, 0.9):
        for border in (0.0, base.settings.retry_border):
            settings = replace(base.settings, score_threshold=threshold, retry_border=border)
            counts = [len(FaceDetector(base.session, "input", settings).detect(image))
                      for image in images]  # fmt: skip
            found = sum(count > 0 for count in counts)
            report[f"score>={threshold} border={border}"] = (
                f"{100 * found / len(images):.2f} % found, "
                f"{sum(count > 1 for count in counts)} with more than one face"
            )
    return report


def measure_walkers() -> dict[str, object]:
    """Recall by face width (1080p px) against a full-resolution reference, per input cap."""
    frames = list(video_frames("walkers_1080p.mp4", every=3))
    reference = detector(DetectorSettings(max_input_side=1920, score_threshold=0.8))
    truth = [reference.detect(frame) for frame in frames]
    report: dict[str, object] = {"frames": len(frames), "reference_faces": sum(map(len, truth))}
    for cap in (640, 960, 1280):
        capped = FaceDetector(reference.session, "input", DetectorSettings(max_input_side=cap))
        found = [capped.detect(frame) for frame in frames]
        report[f"cap {cap}"] = _recall_by_width(truth, found) | {
            "smallest_found_px": round(min(face.width for faces in found for face in faces), 1)
        }
    return report


def _recall_by_width(
    truth: Sequence[Sequence[FaceBox]], found: Sequence[Sequence[FaceBox]]
) -> dict[str, str]:
    bins = {"<40": (0, 40), "40-60": (40, 60), ">=60": (60, 10_000)}
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for expected, got in zip(truth, found, strict=True):
        for face in expected:
            name = next(key for key, (low, high) in bins.items() if low <= face.width < high)
            totals[name] += 1
            hits[name] += any(face.iou(other) > 0.3 for other in got)
    return {name: f"{hits[name]}/{totals[name]}" for name in bins}


def measure_timing() -> dict[str, object]:
    """Median and best wall time of one detect() call, with and without the upright look."""
    default = detector()
    plain = FaceDetector(default.session, "input", DetectorSettings(upright_passes=0))
    report: dict[str, object] = {}
    for name in ("hamilton_640x360.mp4", "walkers_1080p.mp4"):
        frames = list(video_frames(name, every=5))[:20]
        for label, faces in (("default", default), ("no upright look", plain)):
            times = []
            for frame in frames:
                started = time.perf_counter()
                faces.detect(frame)
                times.append(1000 * (time.perf_counter() - started))
            report[f"{name}, {label}"] = (
                f"median {statistics.median(times):.1f} ms, best {min(times):.1f} ms"
            )
    return report


def measure_tracking() -> dict[str, object]:
    """Per shot of hamilton: how many frames' largest face carries the shot's main id, and
    how many confirmed ids the shot shows."""
    faces = detector()
    tracker = FaceTracker()
    per_frame = [
        tracker.update(faces.detect(frame)) for frame in video_frames("hamilton_640x360.mp4")
    ]
    report: dict[str, object] = {}
    for start, end in itertools.pairwise(HAMILTON_SHOTS):
        shot = per_frame[start:end]
        largest = [max(found, key=lambda face: face.face.area).track_id for found in shot if found]
        main_id, count = Counter(largest).most_common(1)[0] if largest else (None, 0)
        confirmed = {face.track_id for found in shot for face in found if face.confirmed}
        report[f"frames {start}-{end - 1}"] = (
            f"largest face has id {main_id} in {count}/{len(largest)} frames with a face; "
            f"{len(confirmed)} confirmed ids in the shot"
        )
    return report


def measure_roll(limit: int | None) -> dict[str, object]:
    """LFW faces turned in the image plane by 12 to 45 degrees, read with and without the
    upright looks: the roll read (minus the unturned face's), and the landmarks mapped back
    against the unturned face's (mean distance in inter-ocular distances)."""
    plain = detector(DetectorSettings(upright_passes=0))
    default = FaceDetector(plain.session, "input")
    rolls: dict[str, list[float]] = {}
    errors: dict[str, list[float]] = {}
    upright_faces = 0
    for path in lfw_paths(limit):
        image = cv2.copyMakeBorder(read_grey(path), 150, 150, 150, 150, cv2.BORDER_REPLICATE)
        upright = plain.detect(np.asarray(image, np.uint8))
        if not upright or abs(upright[0].roll_degrees) > 4:
            continue  # only faces that are upright to begin with
        upright_faces += 1
        for angle in (12, 20, 30, 45):
            turned, back = _turned(np.asarray(image, np.uint8), angle)
            for name, faces in (("no upright look", plain), ("default", default)):
                found = faces.detect(turned)
                key = f"{name}, turned {angle}"
                rolls.setdefault(key, [])
                if found:
                    face = max(found, key=lambda face: face.area)
                    rolls[key].append(face.roll_degrees - upright[0].roll_degrees)
                    errors.setdefault(key, []).append(_landmark_error(face, back, upright[0]))
    return {"upright faces": upright_faces} | {
        key: f"found {len(values)}, roll read: median {np.median(values):.1f}; landmark "
        f"error: median {np.median(errors[key]):.3f}, 90th pct "
        f"{np.percentile(errors[key], 90):.3f}"
        for key, values in rolls.items()
        if values
    }


def _turned(image: Image, angle: float) -> tuple[Image, npt.NDArray[np.float64]]:
    """``image`` turned clockwise by ``angle`` degrees, and the transform that undoes it."""
    turn = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), -angle, 1.0)
    turned = cv2.warpAffine(image, turn, image.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(turned, np.uint8), np.asarray(cv2.invertAffineTransform(turn), np.float64)


def _landmark_error(face: FaceBox, back: npt.NDArray[np.float64], upright: FaceBox) -> float:
    mapped = np.asarray(face.landmarks) @ back[:, :2].T + back[:, 2]
    distances = np.linalg.norm(mapped - np.asarray(upright.landmarks), axis=1)
    return float(distances.mean() / upright.inter_ocular_px)


def measure_size(limit: int | None) -> dict[str, object]:
    """LFW faces shrunk to a given inter-ocular distance on a 640x480 grey canvas: how many
    are found, and the sharpness measured on them; plus the box side / inter-ocular ratio."""
    faces, gate = detector(), QualityGate()
    found: dict[int, list[float]] = {}
    ratios = []
    for path in lfw_paths(limit):
        image = read_grey(path)
        (face, *_) = faces.detect(image) or (None,)
        if face is None:
            continue
        ratios.append(min(face.width, face.height) / face.inter_ocular_px)
        for inter_ocular in (10, 15, 20, 25, 30):
            canvas = _shrunk_on_canvas(image, inter_ocular / face.inter_ocular_px)
            small = faces.detect(canvas)
            measures = gate.assess(canvas, small[0]).measures if small else None
            found.setdefault(inter_ocular, []).append(measures.sharpness if measures else math.nan)
    report: dict[str, object] = {
        "box side / inter-ocular, median": round(float(np.median(ratios)), 2)
    }
    for inter_ocular, values in found.items():
        report[f"inter-ocular {inter_ocular} px"] = (
            f"found {np.isfinite(values).sum()}/{len(values)}, sharpness 1st/5th/50th pct "
            + " ".join(f"{v:.3f}" for v in np.nanpercentile(values, [1, 5, 50]))
        )
    return report


def _shrunk_on_canvas(image: Image, scale: float) -> Image:
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640), 127, np.uint8)
    canvas[100 : 100 + small.shape[0], 200 : 200 + small.shape[1]] = small
    return canvas


Degradation = Callable[[Image, FaceBox], Image]
ALL_MEASURES = ("sharpness", "brightness", "contrast", "yaw", "pitch", "roll_degrees",
                "inter_ocular_px")  # fmt: skip
# name -> (how the copy is made, the measures it is meant to move)
DEGRADATIONS: dict[str, tuple[Degradation, tuple[str, ...]]] = {
    "real": (lambda image, face: image, ALL_MEASURES),
    "blur sigma=iod/40": (lambda image, face: _blur(image, face.inter_ocular_px / 40),
                          ("sharpness",)),
    "blur sigma=iod/20": (lambda image, face: _blur(image, face.inter_ocular_px / 20),
                          ("sharpness",)),
    "dark x0.5": (lambda image, face: _levels(image, 0.5, 0.0), ("brightness", "contrast")),
    "dark x0.25": (lambda image, face: _levels(image, 0.25, 0.0), ("brightness", "contrast")),
    "bright x0.5": (lambda image, face: _levels(image, 0.5, 255.0), ("brightness", "contrast")),
    "bright x0.25": (lambda image, face: _levels(image, 0.25, 255.0), ("brightness", "contrast")),
    "contrast x0.5": (lambda image, face: _levels(image, 0.5, 128.0), ("contrast",)),
    "contrast x0.25": (lambda image, face: _levels(image, 0.25, 128.0), ("contrast",)),
}  # fmt: skip


def _blur(image: Image, sigma: float) -> Image:
    return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), np.uint8)


def _levels(image: Image, gain: float, anchor: float) -> Image:
    """Grey levels pulled towards ``anchor``: 0 darkens, 255 brightens, 128 flattens."""
    pulled = anchor + (image.astype(np.float32) - anchor) * gain
    return np.asarray(np.clip(pulled, 0, 255), np.uint8)


def measure_quality(limit: int | None) -> dict[str, object]:
    """Percentiles (1, 5, 50, 95, 99) of the measures each degradation moves, and the share
    of faces the default gate rejects for each reason."""
    faces, gate = detector(), QualityGate()
    paths = lfw_paths(limit) + sorted((DATA / "faces" / "johns").rglob("*.jpg"))
    samples: dict[str, list[tuple[QualityMeasures, tuple[str, ...]]]] = {}
    for path in paths:
        image = np.asarray(cv2.imread(str(path)), np.uint8)
        found = faces.detect(image)
        for name, (degrade, _) in DEGRADATIONS.items() if found else ():
            verdict = gate.assess(degrade(image, found[0]), found[0])
            assert verdict.measures is not None
            samples.setdefault(name, []).append((verdict.measures, verdict.reasons))
    return {name: _summarise(rows, DEGRADATIONS[name][1]) for name, rows in samples.items()}


def _summarise(
    rows: Sequence[tuple[QualityMeasures, tuple[str, ...]]], keys: Sequence[str]
) -> dict[str, object]:
    summary: dict[str, object] = {"faces": len(rows)}
    for key in keys:
        values = [getattr(measures, key) for measures, _ in rows]
        percentiles = np.percentile(values, [1, 5, 50, 95, 99])
        summary[key] = " ".join(f"{value:.3g}" for value in percentiles)
    reasons = Counter(reason for _, found in rows for reason in found)
    summary["rejected_%"] = {key: round(100 * n / len(rows), 1) for key, n in reasons.items()}
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    choices = ["lfw", "walkers", "timing", "tracking", "roll", "size", "quality", "all"]
    parser.add_argument("section", choices=choices)
    parser.add_argument("--limit", type=int, default=None, help="LFW images (default: all)")
    args = parser.parse_args(argv)
    sections: dict[str, Callable[[], dict[str, object]]] = {
        "lfw": lambda: measure_lfw(args.limit),
        "walkers": measure_walkers,
        "timing": measure_timing,
        "tracking": measure_tracking,
        "roll": lambda: measure_roll(args.limit or 300),
        "size": lambda: measure_size(args.limit or 300),
        "quality": lambda: measure_quality(args.limit or 300),
    }
    chosen = sections if args.section == "all" else {args.section: sections[args.section]}
    for name, run in chosen.items():
        print(json.dumps({name: run()}, indent=1))


if __name__ == "__main__":
    main()
