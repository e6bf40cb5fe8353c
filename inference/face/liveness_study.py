"""The measurements behind the liveness settings, on ``../shared/data``. Not a test: a script
that prints the figures quoted in the settings' docstrings and in the issue::

    python -m inference.face.liveness_study all          # about 6 minutes on 2 cores
    python -m inference.face.liveness_study cues probes  # some sections

Sections: ``passive`` (ISO figures per set, with and without the moire cue), ``sessions``
(live NUAA sessions whose mean score is rejected), ``cues`` (the
moire peak on live faces of four cameras, on attacks and on synthetic screen recaptures),
``probes`` (the cues not shipped), ``size`` and ``grey`` (small and grayscale faces),
``tilt`` (what a waved photo does to the challenge's signals), ``challenge`` (the active
challenge on the NUAA webcam sequences; these two in :mod:`.liveness_study_challenge`),
``timing`` (CPU time per stage). Models come from ``$JAGA_MODELS_DIR``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.face.detect import FaceDetector, read_image
from inference.face.landmarks import FaceMeshRunner
from inference.face.liveness import LivenessStatus, PassiveLiveness
from inference.face.liveness_cues import CueSettings, read_cues
from inference.face.liveness_metrics import iso_errors
from inference.face.liveness_probes import frame_coverage, framed, glare_blob
from inference.face.liveness_signals import read_signals
from inference.face.liveness_study_challenge import section_challenge, section_tilt
from inference.face.liveness_synth import screen_recapture
from inference.face.types import FaceBox
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU

Image = npt.NDArray[np.uint8]
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
GRID_STRENGTHS = {"screen_grid_full": 1.0, "screen_grid_0.3": 0.3, "screen_no_grid": 0.0}
THRESHOLDS = (0.3, 0.5, 0.7)


class Study:
    """The models, on the CPU with one thread each, and the data sets."""

    def __init__(self, data: Path) -> None:
        runtime = Runtime(ModelPack(), preference=(CPU,), threads=ThreadBudget(1))
        self.data = data
        self.detector = FaceDetector.from_runtime(runtime)
        self.liveness = PassiveLiveness.from_runtime(runtime)
        self.mesh = FaceMeshRunner.from_runtime(runtime)

    def largest_face(self, image: Image) -> FaceBox | None:
        faces = self.detector.detect(image)
        return max(faces, key=lambda face: face.area) if faces else None

    def images(self, folder: str, stride: int = 1) -> list[Path]:
        return sorted((self.data / folder).rglob("*.jpg"))[::stride]

    def sets(self) -> dict[str, list[Path]]:
        """The real sets: name -> image paths (name ends in _live for bona fide ones)."""
        samples = self.data / "spoof" / "samples"
        return {
            "nuaa_live": self.images("spoof/nuaa/train/frames/live"),
            "nuaa_print": self.images("spoof/nuaa/train/frames/print"),
            "webcam_live": self.images("video/nuaa_webcam/live"),
            "webcam_print": self.images("video/nuaa_webcam/print"),
            "sample_T1_live": [samples / "image_T1.jpg"],
            "sample_F1_print": [samples / "image_F1.jpg"],
            "sample_F2_replay": [samples / "image_F2.jpg"],
        }

    def synthetic_sources(self) -> list[Path]:
        """Live frames the synthetic recaptures are made of (55 images)."""
        return (self.images("spoof/nuaa/train/frames/live", 12)
                + self.images("video/nuaa_webcam/live", 25)
                + [self.data / "spoof" / "samples" / "image_T1.jpg"])  # fmt: skip

    def synthetic_screens(self, strength: float) -> Iterator[Image]:
        rng = np.random.default_rng(0)
        sources = self.synthetic_sources()
        for index, path in enumerate(sources):
            background = read_image(sources[(index * 7 + 3) % len(sources)])
            yield screen_recapture(read_image(path), background, rng, strength)

    def faces_of(self, paths: list[Path]) -> Iterator[tuple[Image, FaceBox]]:
        for path in paths:
            image = read_image(path)
            face = self.largest_face(image)
            if face is not None:
                yield image, face

    def faces_of_shrunk(
        self, paths: list[Path], width: int | None
    ) -> Iterator[tuple[Image, FaceBox]]:
        """Each image shrunk so its largest face is ``width`` px wide (None: as it is)."""
        for image, face in self.faces_of(paths):
            if width is None:
                yield image, face
                continue
            k = width / face.width
            small = np.asarray(cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA),
                               np.uint8)  # fmt: skip
            found = self.largest_face(small)
            if found is not None:
                yield small, found

    def live_video_faces(self) -> Iterator[tuple[Image, FaceBox]]:
        """Faces in hamilton (every 3rd frame) and the first 300 frames of walkers (every
        10th): live people filmed by other cameras."""
        for name, step, limit in (
            ("hamilton_640x360.mp4", 3, 10**6),
            ("walkers_1080p.mp4", 10, 300),
        ):
            capture = cv2.VideoCapture(str(self.data / "video" / name))
            for index in range(limit):
                ok, frame = capture.read()
                if not ok:
                    break
                if index % step == 0:
                    pixels = np.asarray(frame, np.uint8)
                    yield from ((pixels, face) for face in self.detector.detect(pixels)[:5])
            capture.release()


def _pct(values: list[float], points: tuple[int, ...] = (5, 50, 95, 100)) -> str:
    if not values:
        return "-"
    quantiles = np.percentile(values, points)
    return " ".join(f"p{p}={v:.3f}" for p, v in zip(points, quantiles, strict=True))


def _screen_faces(study: Study, strength: float) -> list[tuple[Image, FaceBox]]:
    found = []
    for image in study.synthetic_screens(strength):
        face = study.largest_face(image)
        if face is not None:
            found.append((image, face))
    return found


def section_passive(study: Study) -> None:
    """Scores per set; ISO figures at several thresholds, with and without the moire cue."""
    no_cue = replace(study.liveness.settings, cues=CueSettings(moire=False))
    plain = PassiveLiveness(study.liveness.sessions, no_cue)
    named = {name: list(study.faces_of(paths)) for name, paths in study.sets().items()}
    for name, strength in GRID_STRENGTHS.items():
        named[name] = _screen_faces(study, strength)
    with_cue: dict[str, list[float]] = {}
    models_only: dict[str, list[float]] = {}
    for name, faces in named.items():
        with_cue[name] = [verdict.score for verdict in study.liveness.score_batch(faces)]
        models_only[name] = [verdict.score for verdict in plain.score_batch(faces)]
        print(f"{name:18s} faces {len(faces):4d}  score {_pct(with_cue[name])}")
    for threshold in THRESHOLDS:
        for label, scores in (("models+cue", with_cue), ("models only", models_only)):
            for group in ("nuaa", "webcam", "sample", "screen"):
                print(f"t={threshold} {label:11s} {group:7s} {_iso_text(scores, group, threshold)}")


def _iso_text(scores: dict[str, list[float]], group: str, threshold: float) -> str:
    chosen = {name: np.array(values) for name, values in scores.items() if name.startswith(group)}
    live = np.concatenate([v for k, v in chosen.items() if k.endswith("live")] or [np.zeros(0)])
    attacks = {k: v for k, v in chosen.items() if not k.endswith("live")}
    errors = iso_errors(live, attacks, threshold)
    text = ", ".join(f"APCER {k} {e.apcer:.4f} ({e.accepted}/{e.attacks})"
                     for k, e in errors.per_type.items())  # fmt: skip
    if errors.live:
        text += (f"; BPCER {errors.bpcer:.4f} ({errors.rejected}/{errors.live});"
                 f" ACER {errors.acer:.4f}")  # fmt: skip
    return text


def section_cues(study: Study) -> None:
    """The moire peak per set, on live faces of other cameras and on synthetic screens."""
    sets = {name: list(study.faces_of(paths)) for name, paths in study.sets().items()}
    sets["hamilton_walkers_live"] = list(study.live_video_faces())
    for name, strength in GRID_STRENGTHS.items():
        sets[name] = _screen_faces(study, strength)
    onset, full = CueSettings().moire_onset, CueSettings().moire_full
    middle = (onset + full) / 2
    for name, faces in sets.items():
        verdicts = study.liveness.score_batch(faces)
        peaks = [v.cues.moire_peak for v in verdicts if v.cues.moire_peak is not None]
        vetoed = sum(peak >= middle for peak in peaks)
        judged = [v for v in verdicts if v.status is not LivenessStatus.TOO_SMALL]
        live = sum(v.live for v in judged)
        print(f"{name:22s} faces {len(faces):4d} peak {_pct(peaks)}  >= {middle:g}: {vetoed};"
              f" live {live}/{len(judged)} of those not too small")  # fmt: skip


def section_probes(study: Study) -> None:
    """The cues not shipped: frame edges and glare, per set."""
    for name, paths in study.sets().items():
        coverages, glare = [], []
        for image, face in study.faces_of(paths):
            coverages.append(frame_coverage(image, face))
            glare.append(glare_blob(image, face))
        rate = np.mean([framed(c, 0.8) for c in coverages]) if coverages else 0.0
        print(f"{name:18s} framed (opposite sides >= 0.8) {rate:.3f}  glare blob {_pct(glare)}")


def section_size_and_grey(study: Study) -> None:
    """Acceptance at 0.5 of NUAA faces shrunk to a given width, and of grayscale frames."""
    for label in ("live", "print"):
        paths = study.images(f"spoof/nuaa/train/frames/{label}", 6)
        for width in (None, 80, 50, 30, 20):
            scores = [study.liveness.score(image, face).model_score
                      for image, face in study.faces_of_shrunk(paths, width)]  # fmt: skip
            accepted = float(np.mean(np.array(scores) >= 0.5))
            print(f"{label:5s} face width {width or 'own':>4}: {len(scores)} faces, "
                  f"accepted {accepted:.3f}, median {np.median(scores):.3f}")  # fmt: skip
        grey = []
        for path in paths:
            image = np.asarray(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), np.uint8)
            face = study.largest_face(image)
            if face is not None:
                grey.append(study.liveness.score(image, face).model_score)
        print(f"{label:5s} grayscale: {len(grey)} faces, accepted "
              f"{np.mean(np.array(grey) >= 0.5):.3f}, median {np.median(grey):.3f}")  # fmt: skip


def section_sessions(study: Study) -> None:
    """NUAA live sessions (subject, session) whose mean score falls below the threshold."""
    sessions: dict[str, list[float]] = {}
    for path in study.images("spoof/nuaa/train/frames/live"):
        image = read_image(path)
        face = study.largest_face(image)
        if face is not None:
            key = path.stem.rsplit("_", 1)[0]
            sessions.setdefault(key, []).append(study.liveness.score(image, face).score)
    threshold = study.liveness.settings.threshold
    low = {k: float(np.mean(v)) for k, v in sessions.items() if np.mean(v) < threshold}
    print(f"{len(low)} of {len(sessions)} live sessions average below {threshold}: {low}")


def section_timing(study: Study) -> None:
    """CPU time per NUAA frame (one thread per model): detection, liveness, the cue alone."""
    faces = list(study.faces_of(study.images("spoof/nuaa/train/frames/live", 10)))
    cue_settings = CueSettings()

    def detect(image: Image, face: FaceBox) -> object:
        return study.detector.detect(image)

    def cue(image: Image, face: FaceBox) -> object:
        return read_cues(image, face, cue_settings)

    def challenge_signals(image: Image, face: FaceBox) -> object:
        return read_signals(image, study.mesh.mesh(image, face))

    stages: dict[str, Callable[[Image, FaceBox], object]] = {
        "detect": detect,
        "facemesh + signals": challenge_signals,
        "liveness (2 models + cue)": study.liveness.score,
        "moire cue alone": cue,
    }
    for name, stage in stages.items():
        started = time.process_time()
        for image, face in faces:
            stage(image, face)
        print(f"{name:26s} {1000 * (time.process_time() - started) / len(faces):.1f} ms CPU")


SECTIONS = {
    "passive": section_passive,
    "sessions": section_sessions,
    "cues": section_cues,
    "probes": section_probes,
    "size": section_size_and_grey,
    "tilt": section_tilt,
    "challenge": section_challenge,
    "timing": section_timing,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("sections", nargs="+", choices=[*SECTIONS, "all"])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    study = Study(args.data)
    for name in SECTIONS if "all" in args.sections else args.sections:
        print(f"== {name}")
        SECTIONS[name](study)


if __name__ == "__main__":
    main()
