"""The liveness study's sections on the active challenge (``python -m
inference.face.liveness_study tilt challenge``): what a waved photo does to the challenge's
signals, and the challenge itself on the NUAA webcam sequences. The models and data sets are
:class:`inference.face.liveness_study.Study`'s.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from inference.face.challenge import ChallengeAction, ChallengeSession, ChallengeSettings
from inference.face.detect import read_image
from inference.face.liveness_signals import FaceSignals, appearance_change, read_signals
from inference.face.liveness_synth import tilted_photo
from inference.face.track import FaceTracker
from inference.face.types import TrackedFace

if TYPE_CHECKING:  # the study runs these sections: it imports this module, not the reverse
    from inference.face.liveness_study import Image, Study

NUAA_FPS = 20.0  # NUAA's webcam frame rate: frame numbers / 20 = seconds


def section_tilt(study: Study) -> None:
    """A photo turned about a vertical / horizontal axis: yaw, openness, aspect, eyes."""
    paths = [study.data / "video/nuaa_webcam/live/0001_00_00_01_0.jpg",
             study.data / "video/nuaa_webcam/print/0001_00_00_01_0.jpg",
             study.data / "spoof/samples/image_T1.jpg"]  # fmt: skip
    for path in paths:
        image = read_image(path)
        face = study.largest_face(image)
        if face is None:
            continue
        still = read_signals(image, study.mesh.mesh(image, face))
        for axis in ("y", "x"):
            for degrees in (-50, -30, 30, 50):
                turned = tilted_photo(image, face.center, degrees, axis)
                moved = study.largest_face(turned)
                if moved is not None:
                    now = read_signals(turned, study.mesh.mesh(turned, moved))
                    name = f"{path.parent.name}/{path.name}"
                    print(f"{name} {axis} {degrees:+d}: {_change(still, now)}")

    _print_real_turn(study)


def _print_real_turn(study: Study, first: int = 87, last: int = 111) -> None:
    """The yaw change of a real head turning in hamilton between two frames."""
    capture = cv2.VideoCapture(str(study.data / "video" / "hamilton_640x360.mp4"))
    yaws = {}
    for index in range(last + 1):
        ok, frame = capture.read()
        if not ok:
            break
        if index in (first, last):
            image = np.asarray(frame, np.uint8)
            face = study.largest_face(image)
            if face is not None:
                yaws[index] = read_signals(image, study.mesh.mesh(image, face)).yaw
    capture.release()
    if len(yaws) == 2:
        print(
            f"hamilton frames {first} -> {last}, a real turn: yaw {yaws[last] - yaws[first]:+.3f}"
        )


def _change(still: FaceSignals, now: FaceSignals) -> str:
    return (f"yaw {now.yaw - still.yaw:+.3f}, openness "
            f"{now.eye_openness / still.eye_openness - 1:+.3f}, aspect "
            f"{now.face_aspect / still.face_aspect - 1:+.3f}, eye appearance "
            f"{appearance_change(now.eye_patch, still.eye_patch):.3f}")  # fmt: skip


def section_challenge(study: Study) -> None:
    """Each action asked from every 8th frame on, until it ends or the sequence does."""
    settings = ChallengeSettings()
    for label in ("live", "print"):
        frames = _webcam_track(study, label)
        for action in ChallengeAction:
            outcomes: dict[str, int] = {}
            for start in range(0, len(frames), 8):
                if frames[-1][2] - frames[start][2] < settings.step_timeout_s:
                    break  # the sequence ends before the step could time out
                outcome = _run_challenge(
                    study, frames[start:], replace(settings, actions=(action,))
                )
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            print(f"webcam {label:5s} {action.value:10s} {outcomes}")
        _print_eye_changes(study, label, frames)


def _print_eye_changes(
    study: Study, label: str, frames: list[tuple[Image, TrackedFace, float]]
) -> None:
    """Each frame against the medians of the 10 frames before it, as the blink test reads."""
    readings = [read_signals(image, study.mesh.mesh(image, t.face)) for image, t, _ in frames]
    changes, drops, aspects = [], [], []
    for index in range(3, len(readings)):
        before = readings[max(0, index - 10) : index]
        patches = [r.eye_patch for r in before if r.eye_patch is not None]
        reference = np.median(np.stack(patches), axis=0).astype(np.float32) if patches else None
        now = readings[index]
        changes.append(appearance_change(now.eye_patch, reference))
        drops.append(1 - now.eye_openness / float(np.median([r.eye_openness for r in before])))
        aspects.append(abs(now.face_aspect / float(np.median([r.face_aspect for r in before])) - 1))
    top = int(np.argmax(changes))
    others = max(c for i, c in enumerate(changes) if i != top)
    print(f"webcam {label:5s} eye change: largest {changes[top]:.3f} at {frames[top + 3][2]:.2f} s"
          f" (openness drop {drops[top]:.3f}, aspect change {aspects[top]:.3f}), next {others:.3f};"
          f" openness drop max {max(drops):.3f}, aspect change max {max(aspects):.3f}")  # fmt: skip


def _webcam_track(study: Study, label: str) -> list[tuple[Image, TrackedFace, float]]:
    paths = sorted(study.images(f"video/nuaa_webcam/{label}"), key=_frame_number)
    tracker, frames = FaceTracker(), []
    for path in paths:
        image = read_image(path)
        face = study.largest_face(image)
        if face is not None:
            frames.append((image, tracker.update([face])[0], _frame_number(path) / NUAA_FPS))
    return frames


def _frame_number(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[1])


def _run_challenge(
    study: Study, frames: list[tuple[Image, TrackedFace, float]], settings: ChallengeSettings
) -> str:
    session = ChallengeSession(study.mesh, settings, rng=random.Random(0))
    for image, tracked, seconds in frames:
        status = session.feed(image, tracked, seconds)
        if status.value != "pending":
            return status.value + (f" ({session.failure.value})" if session.failure else "")
    return "pending"
