"""``eval video``'s bookkeeping (time to first decision, per-stage times) on scripted frame
results, and the live mailbox that drops frames when inference falls behind."""

from __future__ import annotations

import threading
import time

import numpy as np
import numpy.typing as npt
import pytest

from inference.face.decide import Decision, Status
from inference.face.eval_video import VideoRun, run_video
from inference.face.live import LatestFrameMailbox, replay_live
from inference.face.pipeline import STAGES, DecisionPipeline, FaceObservation, FrameResult, Stages
from inference.face.types import FaceBox, QualityVerdict
from tests.conftest import shared_path

FACE = FaceBox(10, 10, 110, 110, 0.9, ((40, 50), (80, 50), (60, 70), (45, 90), (75, 90)))


def observed(track_id: int) -> FaceObservation:
    return FaceObservation(track_id, FACE, True, QualityVerdict(True, ()), 1.0, None, (), None)


def frame(index: int, tracks: list[int], decided: tuple[int, ...] = ()) -> FrameResult:
    decisions = tuple(Decision(Status.NOT_MATCHED, 1.0, t) for t in decided)
    return FrameResult(index, index / 10, None, tuple(observed(t) for t in tracks), decisions,
                       dict.fromkeys(STAGES, 2.0))  # fmt: skip


def test_time_to_first_decision_counts_from_the_first_appearance() -> None:
    run = VideoRun(fps=10.0)
    script = [frame(0, [1]), frame(1, [1, 2]), frame(2, [1, 2], (1,)), frame(3, [2]),
              frame(4, [2], (2,)), frame(5, [2], (2,))]  # fmt: skip
    for index, result in enumerate(script):
        run.record(result, started=float(index), ended=index + 0.5)
    run.decided(FrameResult(5, 0.5, None, (), (Decision(Status.NOT_MATCHED, 1.0, 3),)), 9.0)
    report = run.report()
    rows = {row["track_id"]: row for row in report["per_track"]}  # type: ignore[attr-defined]
    assert rows[1]["frames"] == 2 and rows[1]["video_seconds"] == pytest.approx(0.2)
    assert rows[1]["wall_seconds"] == pytest.approx(2.5)  # from frame 0's start to frame 2's end
    assert rows[2]["frames"] == 3 and 3 not in rows  # track 3 never appeared: not counted
    assert report["decisions"] == {"not_matched": 2}
    assert report["time_to_first_decision"]["frames"]["median"] == 2.5  # type: ignore[index]
    assert report["first_decision"]["track_id"] == 1  # type: ignore[index]
    assert report["fps"] == pytest.approx(2.0) and report["frames"] == 6
    assert report["stage_ms"]["detect"]["mean"] == 2.0  # type: ignore[index]


def test_tracks_decided_when_the_file_ends_are_reported_apart() -> None:
    run = VideoRun(fps=10.0)
    run.record(frame(0, [1]), 0.0, 0.1)
    run.decided(FrameResult(0, 0.0, None, (), (Decision(Status.NOT_MATCHED, 1.0, 1),)), 0.2,
                at_end=True)  # fmt: skip
    report = run.report()
    assert report["decided_at_end"] == 1 and report["tracks_decided_while_visible"] == 0
    assert report["first_decision"] is None


# --- the mailbox ------------------------------------------------------------------------------


def test_the_mailbox_keeps_only_the_newest_frame() -> None:
    mailbox: LatestFrameMailbox[int] = LatestFrameMailbox()
    for item in range(5):
        mailbox.put(item)
    assert mailbox.take(timeout=0) == 4 and mailbox.dropped == 4
    assert mailbox.take(timeout=0.01) is None  # empty, still open
    mailbox.put(7)
    mailbox.close()
    assert mailbox.take() == 7 and mailbox.take() is None and mailbox.delivered == 2


def test_take_waits_for_a_frame_from_another_thread() -> None:
    mailbox: LatestFrameMailbox[str] = LatestFrameMailbox()
    putter = threading.Timer(0.05, mailbox.put, args=("frame",))
    putter.start()
    assert mailbox.take(timeout=5) == "frame"
    putter.join()


class SlowDetector:
    """Finds one face per frame, taking ``seconds`` to do it (an overloaded machine)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def detect(self, image: npt.NDArray[np.generic]) -> list[FaceBox]:
        time.sleep(self.seconds)
        return [FACE]


def test_a_file_is_processed_frame_by_frame_and_a_live_replay_drops_frames() -> None:
    video = shared_path("data", "video", "hamilton_640x360.mp4")
    every = run_video(DecisionPipeline(Stages(SlowDetector(0.0))), video, max_frames=12)
    assert every.frames == 12 and every.report()["tracks_confirmed"] == 1
    live, mailbox = replay_live(DecisionPipeline(Stages(SlowDetector(0.1))), video, max_frames=15)
    assert 0 < live.frames < 15 and mailbox.dropped > 0
    assert live.frames + mailbox.dropped == 15  # every frame was either processed or dropped
    assert all(thread.name != "jaga-replay" for thread in threading.enumerate())  # joined
