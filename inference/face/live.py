"""Live streams: when inference falls behind, frames are dropped, never queued.

A queue between a 30 fps camera and a pipeline that manages 10 fps grows without limit, and
every answer is about a face that left seconds ago. The capture side therefore puts frames
in a one-slot :class:`LatestFrameMailbox`: a new frame replaces the one waiting (which is
counted as dropped), and the inference side always takes the newest. The kiosk's capture
and inference workers exchange frames this way.

:func:`replay_live` plays a file at its own frame rate through the same mailbox, so that a
recorded video measures what a live camera would see on this machine: frames processed and
dropped, and time to decision with the drops included (``jaga eval video --realtime``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from inference.face.eval_video import Image, VideoRun, open_video, video_frames
from inference.face.pipeline import DecisionPipeline, FrameResult

T = TypeVar("T")


class LatestFrameMailbox(Generic[T]):
    """A one-slot, thread-safe mailbox: ``put`` never blocks, ``take`` gets the newest."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.delivered = 0
        self.dropped = 0

    def put(self, item: T) -> None:
        """Leave ``item``, replacing (and counting as dropped) any frame not yet taken."""
        with self._condition:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._condition.notify()

    @property
    def closed(self) -> bool:
        with self._condition:
            return self._closed

    def close(self) -> None:
        """No more frames will come; ``take`` returns None once the slot is empty."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def take(self, timeout: float | None = None) -> T | None:
        """The newest frame, waiting for one; None when closed and empty, or on timeout."""
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            if item is not None:
                self.delivered += 1
            return item


def replay_live(
    pipeline: DecisionPipeline,
    path: Path,
    max_frames: int | None = None,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> tuple[VideoRun, LatestFrameMailbox[tuple[float, Image]]]:
    """``path`` played in real time into a mailbox, processed as fast as the pipeline can."""
    _, info = open_video(path)
    mailbox: LatestFrameMailbox[tuple[float, Image]] = LatestFrameMailbox()
    start = time.perf_counter()
    player = threading.Thread(target=_play, args=(path, max_frames, mailbox, start),
                              name="jaga-replay", daemon=True)  # fmt: skip
    run = VideoRun(info.fps)
    player.start()
    try:
        while (item := mailbox.take()) is not None:
            video_time, frame = item
            started = time.perf_counter()
            result = pipeline.process(frame, video_time)
            run.record(result, started, time.perf_counter())  # CPU time: shared with the player
            if on_frame is not None:
                on_frame(result)
    finally:
        mailbox.close()
        player.join()
    end = FrameResult(max(0, run.frames - 1), run.last_time, None, (), tuple(pipeline.finish()))
    run.decided(end, time.perf_counter(), at_end=True)
    return run, mailbox


def _play(
    path: Path, max_frames: int | None, mailbox: LatestFrameMailbox[tuple[float, Image]],
    start: float,
) -> None:  # fmt: skip
    """Decode frames and post each at its own time, as a camera would."""
    try:
        for video_time, frame in video_frames(path, max_frames):
            if mailbox.closed:  # the consumer stopped: stop decoding too
                return
            delay = start + video_time - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            mailbox.put((video_time, frame))
    finally:
        mailbox.close()
