"""How much of the frame faces fill: the measurement behind ``QualitySettings.max_frame_share``.

For every NUAA webcam frame (``spoof/nuaa/train/frames`` and ``video/nuaa_webcam``, live and
print) and every frame of the two videos, the largest face's box as a share of the frame,
max(height / H, width / W): its spread, and how many frames a limit would reject.

    .venv/bin/python -m tools.measure_face_closeness            # ~30 s on 2 cores
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.face.detect import FaceDetector
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
LIMITS = (0.65, 0.7, 0.75, 0.8, 0.9)


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
        "hamilton_640x360.mp4": video_frames("hamilton_640x360.mp4"),
        "walkers_1080p.mp4": video_frames("walkers_1080p.mp4"),
    }
    report = {}
    for name, frames in sources.items():
        shares = [share for image in frames if (share := frame_share(detector, image)) is not None]
        report[name] = summary(shares)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
