"""How much of the frame faces fill: the measurement behind ``QualitySettings.max_frame_share``.

For every NUAA webcam frame (``spoof/nuaa/train/frames`` and ``video/nuaa_webcam``, live and
print) and every frame of the two videos, the largest face's box as a share of the frame,
max(height / H, width / W): its spread, and how many frames a limit would reject; and the
NUAA live frames cut to a 9:16 portrait frame about the face, as a kiosk camera mounted
upright would see them, where the width counts sooner.

Then the attack the limit is for: NUAA printed photos (subjects 0005, 0006, 0008 and 0009,
every 8th print frame) magnified 3x about the face, as if held up close, verified against
the subject's first live frame with liveness on, with the shipped limit and without one.

    .venv/bin/python -m tools.measure_face_closeness            # ~1 min on 2 cores
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.face.assemble import StageChoice, build_stages
from inference.face.cli import verify_images
from inference.face.detect import FaceDetector, read_image
from inference.face.pipeline import DecisionPipeline, Stages
from inference.face.settings import FaceSettings
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
LIMITS = (0.65, 0.7, 0.75, 0.8, 0.9)
CLOSE_SUBJECTS = ("0005", "0006", "0008", "0009")
CLOSE_ZOOM = 3.0


def frame_share(detector: FaceDetector, image: npt.NDArray[np.uint8]) -> float | None:
    faces = detector.detect(image)
    if not faces:
        return None
    face = max(faces, key=lambda found: found.area)
    height, width = image.shape[:2]
    return float(max(face.height / height, face.width / width))


def nuaa_frames(kind: str) -> Iterator[npt.NDArray[np.uint8]]:
    for folder in (DATA / "spoof/nuaa/train/frames" / kind, DATA / "video/nuaa_webcam" / kind):
        for path in sorted(folder.rglob("*.jpg")):
            yield np.asarray(cv2.imread(str(path)), np.uint8)


def portrait_cuts(
    detector: FaceDetector, frames: Iterator[npt.NDArray[np.uint8]]
) -> Iterator[npt.NDArray[np.uint8]]:
    """Each frame cut to 9:16 (its full height) about its largest face."""
    for image in frames:
        faces = detector.detect(image)
        if not faces:
            continue
        centre_x = max(faces, key=lambda found: found.area).center[0]
        height, width = image.shape[:2]
        cut = height * 9 // 16
        left = int(min(max(centre_x - cut / 2, 0), width - cut))
        yield np.ascontiguousarray(image[:, left : left + cut])


def video_frames(name: str) -> Iterator[npt.NDArray[np.uint8]]:
    capture = cv2.VideoCapture(str(DATA / "video" / name))
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        yield np.asarray(frame, np.uint8)
    capture.release()


def summary(shares: list[float]) -> dict[str, object]:
    values = np.array(shares)
    return {
        "faces": len(values),
        "median": round(float(np.median(values)), 3),
        "p99": round(float(np.percentile(values, 99)), 3),
        "max": round(float(values.max()), 3),
        "over": {str(limit): int((values > limit).sum()) for limit in LIMITS},
    }


def main() -> None:
    runtime = Runtime(ModelPack(REPO / ".cache" / "models"), preference=(CPU,),
                      threads=ThreadBudget(2))  # fmt: skip
    detector = FaceDetector.from_runtime(runtime)
    sources = {
        "nuaa live": nuaa_frames("live"),
        "nuaa print": nuaa_frames("print"),
        "nuaa live, 9:16 portrait cut": portrait_cuts(detector, nuaa_frames("live")),
        "hamilton_640x360.mp4": video_frames("hamilton_640x360.mp4"),
        "walkers_1080p.mp4": video_frames("walkers_1080p.mp4"),
    }
    report: dict[str, object] = {}
    for name, frames in sources.items():
        shares = [share for image in frames if (share := frame_share(detector, image)) is not None]
        report[name] = summary(shares)
    stages = build_stages(runtime, FaceSettings(), StageChoice())
    report["prints held up close, verified"] = {
        "with the limit": close_prints_verified(stages, FaceSettings()),
        "without": close_prints_verified(stages, _without_limit(FaceSettings())),
    }
    print(json.dumps(report, indent=1))


def close_prints_verified(stages: Stages, settings: FaceSettings) -> str:
    """How many zoomed prints ``verify`` calls the live subject, of how many tried."""
    pipeline = DecisionPipeline(stages, settings.for_still_images())
    verified = tried = 0
    for subject in CLOSE_SUBJECTS:
        live = sorted((DATA / "spoof/nuaa/train/frames/live" / subject).glob("*.jpg"))[0]
        reference = read_image(live)
        for path in sorted((DATA / "spoof/nuaa/train/frames/print" / subject).glob("*.jpg"))[::8]:
            probe = zoomed(read_image(path), stages, CLOSE_ZOOM)
            verified += verify_images(pipeline, reference, probe)["status"] == "verified"
            tried += 1
    return f"{verified} of {tried}"


def zoomed(image: npt.NDArray[np.uint8], stages: Stages, zoom: float) -> npt.NDArray[np.uint8]:
    """``image`` magnified about its largest face."""
    face = max(stages.detector.detect(image), key=lambda found: found.area)
    height, width = image.shape[:2]
    centre_x, centre_y = face.center
    shift_x, shift_y = width / 2 - zoom * centre_x, height / 2 - zoom * centre_y
    move = np.array([[zoom, 0, shift_x], [0, zoom, shift_y]], np.float32)
    warped = cv2.warpAffine(image, move, (width, height), borderMode=cv2.BORDER_REFLECT)
    return np.asarray(warped, np.uint8)


def _without_limit(settings: FaceSettings) -> FaceSettings:
    quality = dataclasses.replace(settings.quality, max_frame_share=math.inf)
    return dataclasses.replace(settings, quality=quality)


if __name__ == "__main__":
    main()
