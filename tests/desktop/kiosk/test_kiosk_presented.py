"""Which refusals were presented, so recorded: a face too small to check on every frame
(far behind the person at the kiosk, a false detection) is not; a person at the kiosk whose
attempt had one frame too small among others refused for another reason is. The kiosk's
real models, NUAA's webcam session and a real store."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.face.stages import Stages
from sync.store import Store
from tests.desktop.kiosk.conftest import Image, webcam, webcam_paths
from tests.desktop.kiosk.test_kiosk_session import enrol, session

pytestmark = pytest.mark.needs_shared


def further_back(frame: Image, scale: float, *, blur: bool = False) -> Image:
    """The frame's person further from the camera (``scale`` of their size, about their
    face's centre, on grey), moving if ``blur``."""
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full_like(frame, 128)
    left, top = int(344 - 344 * scale), int(184 - 184 * scale)  # the face's centre stays
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return np.asarray(cv2.GaussianBlur(canvas, (7, 7), 0) if blur else canvas, np.uint8)


def test_a_blurred_attempt_with_one_frame_too_small_is_recorded(
    kiosk_store: Store, stages: Stages
) -> None:
    """About 1 m back (a 48 px face, big enough), moving until the attempt times out; one
    frame measured 40 px (too small). Told "Not checked: hold still", and recorded: a frame
    too small among others does not make the face one nobody presented."""
    enrol(kiosk_store, stages, "B-001", webcam_paths("live")[0:8:4])
    live = webcam("live", 10, 40)
    frames = [further_back(f, 0.30, blur=True) for f in live]
    frames[2] = further_back(live[2], 0.25)  # the one frame too small
    kiosk = session(kiosk_store, stages)
    told = [d for i, f in enumerate(frames) for d in kiosk.process(f, i / 10).result.decisions]
    kiosk.finish()
    assert [(d.status.value, [str(r) for r in d.reasons]) for d in told] == [
        ("low_quality", ["blurry", "too_small"])
    ]
    assert [e.decision for e in kiosk_store.access.between("0000", "9999")] == ["low_quality"]
