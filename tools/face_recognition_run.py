"""Run the ``face_recognition`` library (dlib's own pipeline) over a list of images, timed.

What it records per image, cached in one ``.npz`` so that the comparison can be re-reported
without re-running dlib: the 128-D encoding, whether HOG found a face (otherwise the whole
image is the box, as the issue's reference measurement did), the HOG box and the five
shape-predictor points (so that dlib's own chip can be cut again), and the CPU seconds of
detection and of landmarks + descriptor.

The calls are face_recognition's own, in the order ``face_encodings(image)`` makes them:
``_raw_face_locations(image, 1)`` (HOG, upsampled once) and then ``face_encodings`` with
those untrimmed boxes, so the detection and descriptor times can be told apart.
"""

from __future__ import annotations

import os

# One thread, as the comparison asks: dlib and BLAS must not borrow the second core.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
    import face_recognition
    from face_recognition import api as fr_api


@dataclass(frozen=True)
class FaceRecognitionRun:
    """face_recognition's results on ``names``, row by row."""

    names: tuple[str, ...]
    encodings: npt.NDArray[np.float64]  # (n, 128), raw: face_recognition compares distances
    found: npt.NDArray[np.bool_]  # HOG found a face (else: the whole image was the box)
    boxes: npt.NDArray[np.float64]  # (n, 4) x1, y1, x2, y2 of the box that was used
    points: npt.NDArray[np.float64]  # (n, 5, 2) the 5-point shape in dlib's order
    detect_cpu_s: npt.NDArray[np.float64]
    encode_cpu_s: npt.NDArray[np.float64]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            names=np.array(self.names),
            encodings=self.encodings,
            found=self.found,
            boxes=self.boxes,
            points=self.points,
            detect_cpu_s=self.detect_cpu_s,
            encode_cpu_s=self.encode_cpu_s,
        )

    @classmethod
    def load(cls, path: Path) -> FaceRecognitionRun:
        data = np.load(path)
        return cls(
            tuple(str(n) for n in data["names"]),
            data["encodings"],
            data["found"],
            data["boxes"],
            data["points"],
            data["detect_cpu_s"],
            data["encode_cpu_s"],
        )


def run_face_recognition(folder: Path, names: Sequence[str]) -> FaceRecognitionRun:
    """face_recognition on each image, timed with ``time.process_time``."""
    rows = [_one_image(folder / name) for name in names]
    return FaceRecognitionRun(
        names=tuple(names),
        encodings=np.stack([row[0] for row in rows]),
        found=np.array([row[1] for row in rows]),
        boxes=np.array([row[2] for row in rows], np.float64),
        points=np.array([row[3] for row in rows], np.float64),
        detect_cpu_s=np.array([row[4] for row in rows]),
        encode_cpu_s=np.array([row[5] for row in rows]),
    )


def load(path: Path) -> npt.NDArray[np.uint8]:
    """An image as face_recognition reads it (PIL, RGB)."""
    return np.asarray(face_recognition.load_image_file(str(path)), np.uint8)


def _one_image(
    path: Path,
) -> tuple[npt.NDArray[np.float64], bool, tuple[float, ...], list[tuple[int, int]], float, float]:
    return describe(load(path))


def describe(
    image: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.float64], bool, tuple[float, ...], list[tuple[int, int]], float, float]:
    """face_recognition's encoding of one RGB image, with the CPU seconds of its steps."""
    started = time.process_time()
    rects = fr_api._raw_face_locations(image, 1)
    detected = time.process_time()
    found = len(rects) > 0
    height, width = image.shape[:2]
    css = [fr_api._rect_to_css(rects[0])] if found else [(0, width, height, 0)]
    encoding = face_recognition.face_encodings(image, css)[0]
    encoded = time.process_time()
    rect = fr_api._css_to_rect(css[0])
    shape = fr_api.pose_predictor_5_point(image, rect)  # again, untimed: for dlib's chip
    points = [(shape.part(i).x, shape.part(i).y) for i in range(5)]
    box = (float(rect.left()), float(rect.top()), float(rect.right()), float(rect.bottom()))
    return (
        np.asarray(encoding, np.float64),
        found,
        box,
        points,
        detected - started,
        encoded - detected,
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="the .npz to write")
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    all_names = sorted(path.name for path in args.images.iterdir() if path.is_file())
    chosen = all_names[: args.limit] if args.limit else all_names
    run = run_face_recognition(args.images, chosen)
    run.save(args.out)
    print(
        f"{len(chosen)} images, no face in {int((~run.found).sum())}, "
        f"CPU ms/image detect {1000 * run.detect_cpu_s.mean():.1f} "
        f"encode {1000 * run.encode_cpu_s.mean():.1f}"
    )
