"""Tracking: ids survive motion, crossings and short gaps; one-frame ghosts never confirm;
and the performer of a real video keeps one id through his shot."""

from __future__ import annotations

from collections import Counter

import pytest

from inference.face import FaceBox, FaceDetector, FaceTracker, TrackedFace, TrackerSettings
from tests.inference.face.helpers import video_frames

LANDMARKS = ((30.0, 40.0), (70.0, 40.0), (50.0, 60.0), (35.0, 80.0), (65.0, 80.0))


def box_at(x: float, y: float = 100.0, side: float = 80.0) -> FaceBox:
    """A face box whose top-left corner is (x, y); landmarks are placeholders."""
    return FaceBox(x, y, x + side, y + side, 0.9, LANDMARKS)


def ids(tracked: list[TrackedFace]) -> list[int]:
    return [face.track_id for face in tracked]


def test_a_moving_face_keeps_its_id_and_confirms_after_min_hits() -> None:
    tracker = FaceTracker(TrackerSettings(min_hits=3))
    results = [tracker.update([box_at(10 + 20 * step)]) for step in range(10)]
    assert {face.track_id for (face,) in results} == {1}
    assert [face.confirmed for (face,) in results[:4]] == [False, False, True, True]
    assert results[-1][0].hits == 10 and results[-1][0].age == 9


def test_two_faces_crossing_keep_their_ids() -> None:
    """A walks right, B walks left on the same line; they overlap fully mid-way, and for
    three frames around the crossing only the front face (A) is detected."""
    tracker = FaceTracker()
    a_ids, b_ids = set(), set()
    for step in range(30):
        a, b = box_at(20 + 15 * step), box_at(455 - 15 * step)
        hidden = 14 <= step <= 16
        tracked = tracker.update([a] if hidden else [a, b])
        a_ids.add(tracked[0].track_id)
        if not hidden:
            b_ids.add(tracked[1].track_id)
    assert a_ids == {1}
    assert b_ids == {2}


def test_a_confirmed_track_survives_a_short_gap_but_not_a_long_one() -> None:
    tracker = FaceTracker(TrackerSettings(max_missed=5))
    for _ in range(5):
        tracker.update([box_at(100)])
    for _ in range(5):
        tracker.update([])
    assert ids(tracker.update([box_at(100)])) == [1]
    for _ in range(6):
        tracker.update([])
    assert tracker.track_count == 0
    assert ids(tracker.update([box_at(100)])) == [2]


def test_a_one_frame_ghost_never_confirms_and_is_dropped_at_once() -> None:
    tracker = FaceTracker()
    tracker.update([box_at(100), box_at(400)])
    assert ids(tracker.update([box_at(100)])) == [1]
    assert tracker.track_count == 1


def test_a_face_that_jumps_gets_a_new_id_and_reset_forgets() -> None:
    tracker = FaceTracker()
    for _ in range(3):
        tracker.update([box_at(0)])
    assert ids(tracker.update([box_at(600)])) == [2]
    tracker.reset()
    assert tracker.track_count == 0
    assert ids(tracker.update([box_at(0)])) == [3]


@pytest.mark.parametrize("settings", [{"min_iou": 0.0}, {"max_missed": -1}, {"min_hits": 0}])
def test_settings_out_of_range_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TrackerSettings(**settings)  # type: ignore[arg-type]


def test_the_performer_keeps_one_id_through_his_shot(detector: FaceDetector) -> None:
    """hamilton_640x360.mp4, frames 82-210, is one shot of the performer (the video cuts at
    frames 20, 82 and 211); 60 consecutive frames of it keep the test short."""
    tracker = FaceTracker()
    largest = []
    for frame in video_frames("hamilton_640x360.mp4", 100, 60):
        tracked = tracker.update(detector.detect(frame))
        if tracked:
            largest.append(max(tracked, key=lambda face: face.face.area).track_id)
    _, count = Counter(largest).most_common(1)[0]
    assert len(largest) >= 57  # a face in (nearly) every frame
    assert count / len(largest) >= 0.95
