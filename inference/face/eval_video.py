"""``jaga eval video FILE --out R.json``: end-to-end throughput and time to decision.

Every frame of the file goes through the whole pipeline (detect, track, quality, liveness,
align, embed, match, decide) on this machine's providers, in order and without dropping
any: a file is a benchmark, so the report says how fast the pipeline *is* (``fps``, and the
``realtime_factor`` against the video's own frame rate). A live camera instead drops
frames it cannot keep up with (:mod:`inference.face.live`).

Time to first decision is measured per confirmed track, from the frame the face first
appears (its first detection, before the tracker confirms it) to the frame whose
processing produced its first decision, in frames, in seconds of video time and in seconds
of wall time on this machine. Tracks still undecided when the file ends are decided then
and reported apart (``decided_at_end``): their time says when the video stopped, not how
fast the pipeline decides.

A video file is bounded as a photo is (:mod:`inference.image_file`): only a regular file is
opened (a named pipe would wait for a writer for ever, /dev/zero never ends), a frame of
more than ``MAX_FRAME_PIXELS`` and a video of more than ``MAX_VIDEO_FRAMES`` are refused
from what the container declares before a frame is read, and a frame or a stream that
turns out larger than it declared is refused when it is read. A file that opens as a video
and gives no frame, and a still photo (which FFmpeg opens as a video of one frame, whatever
its name), are refused when opened (:func:`read_ahead`). Each refusal is one
:class:`InputError` line naming the file.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import InputError
from inference.face.pipeline import STAGES, DecisionPipeline, FrameResult
from inference.image_header import PHOTO_START_BYTES, starts_as_photo
from inference.regular_file import open_regular_file

Image = npt.NDArray[np.uint8]
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
# The largest frame a camera records, 8K (DCI): 8192 x 4320 px, 35 MP, 106 MB decoded as BGR.
# A kiosk camera or a phone on a boat records 4K at most; a file declaring more (a few bytes
# of video can declare any size) is refused before its frames are decoded.
MAX_FRAME_PIXELS = 8192 * 4320
# Two hours at 30 fps. ``eval video`` keeps a few numbers per frame for its report, and a
# kiosk replays a file in real time: a file that never ends (or a stream of tiny frames
# declaring days) is refused instead of decoded without end.
MAX_VIDEO_FRAMES = 2 * 60 * 60 * 30


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    frames: int  # as the container declares it; the frames actually read are counted
    width: int
    height: int


def open_video(path: Path) -> tuple[cv2.VideoCapture, VideoInfo]:
    """An opened capture and what the container says; an InputError for a file that is not
    a readable video, or that declares frames or a length over the bounds."""
    if not path.exists():
        raise InputError(f"{path} does not exist")
    _check_regular(path)
    _check_utf8_name(path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InputError(f"{path} is not a readable video")
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    info = VideoInfo(path, fps if fps > 0 else 30.0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
                     int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))  # fmt: skip
    try:
        check_frame_pixels(info.width, info.height, path)
        if info.frames > MAX_VIDEO_FRAMES:
            raise InputError(_too_long(path, f"{info.frames} frames"))
    except InputError:
        capture.release()
        raise
    return capture, info


def _check_regular(path: Path) -> None:
    try:
        os.close(open_regular_file(path, "a video file"))
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from error


def _check_utf8_name(path: Path) -> None:
    """OpenCV takes a file name as UTF-8 text: one in other bytes (a Latin-1 name, which Linux
    allows and Python holds as surrogates) crashed the process (SIGSEGV) in VideoCapture."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise InputError(
            f"{shown} is not a UTF-8 file name, which OpenCV cannot open: rename the file"
        ) from None


def check_frame_pixels(width: int, height: int, path: Path) -> None:
    """:class:`InputError` for a frame of more than ``MAX_FRAME_PIXELS``."""
    if width * height > MAX_FRAME_PIXELS:
        raise InputError(
            f"{path} has frames of {width}x{height} px ({width * height / 1e6:.0f} MP), more"
            f" than the {MAX_FRAME_PIXELS / 1e6:.0f} MP a video frame may have (8K): save it"
            " at a lower resolution"
        )


def _too_long(path: Path, frames: str) -> str:
    return (
        f"{path} has {frames}; a video may have {MAX_VIDEO_FRAMES} (two hours at 30 fps):"
        " cut it shorter"
    )


# A generator, not any iterator: a caller that stops early closes it to let go of the file.
VideoFrames = Generator[tuple[float, Image], None, None]


def video_frames(path: Path, max_frames: int | None = None) -> VideoFrames:
    """(video time in seconds, BGR frame) for each frame of the file, in order; an
    InputError for a frame, or a stream, over the bounds its container declared within.

    The file is opened, or refused, by this call, not at the first frame: a caller checks
    its source before it loads models for it. Refused too: a file that gives no frame, and
    a still photo (``read_ahead``). ``close()`` lets go of the file, read or not."""
    capture, info = open_video(path)
    try:
        first = read_ahead(capture, path)
    except BaseException:
        capture.release()
        raise
    return _frames(capture, info, path, max_frames, first)


def read_ahead(capture: cv2.VideoCapture, path: Path) -> list[Image]:
    """The frames read to tell a video from a file that only opens as one, to be given
    first. An InputError for a file with no frame it can read (saved with none, or every
    frame damaged), and for a still photo, which FFmpeg opens as a video of one frame
    whatever the file's name: a kiosk ran on it, decided that frame and said it was done. A
    photo is told by its content: one frame from a file that starts as a JPEG, a PNG or a
    WebP (``image_header.starts_as_photo``); a clip of one frame in a video container is a
    video still."""
    first = _read(capture)
    if first is None:
        raise InputError(f"{path} holds no frame it can read: an empty or damaged video")
    check_frame_pixels(first.shape[1], first.shape[0], path)
    if not _starts_as_a_photo(path):
        return [first]
    second = _read(capture)
    if second is None:
        raise InputError(f"{path} is a still photo, not a video")
    check_frame_pixels(second.shape[1], second.shape[0], path)
    return [first, second]


def _read(capture: cv2.VideoCapture) -> Image | None:
    ok, frame = capture.read()
    return np.asarray(frame, np.uint8) if ok else None


def _starts_as_a_photo(path: Path) -> bool:
    """Whether the file starts as a photo would (read again: it is open)."""
    try:
        with path.open("rb") as file:
            start = file.read(PHOTO_START_BYTES)
    except OSError:
        return False  # it was just opened as a video: let that reading stand
    return starts_as_photo(start)


def _frames(
    capture: cv2.VideoCapture,
    info: VideoInfo,
    path: Path,
    max_frames: int | None,
    first: list[Image],
) -> VideoFrames:
    try:
        index = 0
        while max_frames is None or index < max_frames:
            frame = first.pop(0) if first else _read(capture)
            if frame is None:
                return
            if index >= MAX_VIDEO_FRAMES:
                raise InputError(_too_long(path, f"more than {MAX_VIDEO_FRAMES} frames"))
            check_frame_pixels(frame.shape[1], frame.shape[0], path)
            yield index / info.fps, frame
            index += 1
    finally:
        capture.release()


@dataclass
class _TrackTimes:
    first_frame: int
    first_time: float
    first_wall: float
    decided_frame: int | None = None
    decided_time: float | None = None
    decided_wall: float | None = None
    status: str | None = None
    reasons: tuple[str, ...] = ()
    identity: str | None = None
    similarity: float | None = None
    at_end: bool = False


@dataclass
class VideoRun:
    """What happened while a video was processed, frame by frame."""

    fps: float
    frames: int = 0
    faces: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    last_time: float = 0.0
    confirmed: set[int] = field(default_factory=set)
    stage_ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    tracks: dict[int, _TrackTimes] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)

    def record(
        self, result: FrameResult, started: float, ended: float, cpu_seconds: float = 0.0
    ) -> None:
        """One processed frame; ``started``/``ended`` bracket its processing (perf_counter),
        ``cpu_seconds`` is the process's CPU time spent on it (every thread)."""
        self.frames += 1
        self.cpu_seconds += cpu_seconds
        self.last_time = result.time_s
        self.faces += len(result.faces)
        self.wall_seconds += ended - started
        for stage, ms in result.stage_ms.items():
            self.stage_ms[stage].append(ms)
        for face in result.faces:
            if face.track_id not in self.tracks:
                self.tracks[face.track_id] = _TrackTimes(result.index, result.time_s, started)
            if face.confirmed:
                self.confirmed.add(face.track_id)
        self.decided(result, ended)

    def decided(self, result: FrameResult, wall: float, at_end: bool = False) -> None:
        """Record the first decision of each track among ``result``'s."""
        for decision in result.decisions:
            times = self.tracks.get(decision.track_id or -1)
            if times is None or times.decided_frame is not None:
                continue
            times.decided_frame, times.decided_time = result.index, result.time_s
            times.decided_wall = wall
            times.status, times.at_end = str(decision.status), at_end
            times.reasons = tuple(str(reason) for reason in decision.reasons)
            times.identity, times.similarity = decision.identity, decision.similarity
            self.statuses[str(decision.status)] += 1

    def report(self) -> dict[str, object]:
        decided = {tid: t for tid, t in self.tracks.items() if t.decided_frame is not None}
        live = {tid: t for tid, t in decided.items() if not t.at_end}
        fps = self.frames / self.wall_seconds if self.wall_seconds else 0.0
        return {
            "frames": self.frames,
            "video_seconds": round(self.last_time + 1 / self.fps, 3) if self.frames else 0.0,
            "wall_seconds": round(self.wall_seconds, 3),
            "fps": round(fps, 2),
            "realtime_factor": round(fps / self.fps, 3),
            # None where not measured (a live replay shares the process with its player)
            "cpu_seconds_per_frame": round(self.cpu_seconds / self.frames, 4)
            if self.frames and self.cpu_seconds
            else None,
            "stage_ms": {stage: _summary(values) for stage, values in self.stage_ms.items()},
            "faces_detected": self.faces,
            "tracks_seen": len(self.tracks),
            "tracks_confirmed": len(self.confirmed),
            "tracks_decided": len(decided),
            "tracks_decided_while_visible": len(live),
            "decided_at_end": len(decided) - len(live),
            "decisions": dict(sorted(self.statuses.items())),
            "time_to_first_decision": self._times(live),
            "first_decision": self._first(live),
            "per_track": [self._row(tid, t) for tid, t in sorted(decided.items())],
        }

    def _row(self, track_id: int, times: _TrackTimes) -> dict[str, object]:
        frames = (times.decided_frame or 0) - times.first_frame
        video_seconds = (times.decided_time or 0.0) - times.first_time
        return {
            "track_id": track_id,
            "status": times.status,
            "first_frame": times.first_frame,
            "decided_frame": times.decided_frame,
            "frames": frames,
            "video_seconds": round(video_seconds, 3),
            "wall_seconds": round((times.decided_wall or 0.0) - times.first_wall, 3),
            "at_end": times.at_end,
        } | _present(reasons=list(times.reasons), identity=times.identity,
                     similarity=times.similarity and round(times.similarity, 4))  # fmt: skip

    def _times(self, tracks: dict[int, _TrackTimes]) -> dict[str, object]:
        """Summaries in each unit, over every decided track and per status."""
        rows = [self._row(tid, t) for tid, t in tracks.items()]
        units = ("frames", "video_seconds", "wall_seconds")
        times: dict[str, object] = {unit: _summary([float(row[unit]) for row in rows])  # type: ignore[arg-type]
                                    for unit in units}  # fmt: skip
        statuses = sorted({str(row["status"]) for row in rows})
        times["video_seconds_by_status"] = {
            status: _summary([float(row["video_seconds"]) for row in rows  # type: ignore[arg-type]
                              if row["status"] == status]) for status in statuses}  # fmt: skip
        return times

    def _first(self, tracks: dict[int, _TrackTimes]) -> dict[str, object] | None:
        """The video's first decision, from the first appearance of that track's face."""
        if not tracks:
            return None
        track_id = min(tracks, key=lambda tid: (tracks[tid].decided_frame or 0, tid))
        return self._row(track_id, tracks[track_id])


def _present(**values: object) -> dict[str, object]:
    return {key: value for key, value in values.items() if value}


def _summary(values: list[float]) -> dict[str, float | int] | None:
    if not values:
        return None
    return {"count": len(values), "mean": round(statistics.fmean(values), 3),
            "median": round(statistics.median(values), 3),
            "p95": round(float(np.percentile(values, 95)), 3),
            "min": round(min(values), 3), "max": round(max(values), 3)}  # fmt: skip


def run_video(
    pipeline: DecisionPipeline,
    path: Path,
    max_frames: int | None = None,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> VideoRun:
    """Every frame of ``path`` through ``pipeline``, then the open tracks decided."""
    _, info = open_video(path)
    run = VideoRun(info.fps)
    for video_time, frame in video_frames(path, max_frames):
        started, cpu = time.perf_counter(), time.process_time()
        result = pipeline.process(frame, video_time)
        run.record(result, started, time.perf_counter(), time.process_time() - cpu)
        if on_frame is not None:
            on_frame(result)
    end = FrameResult(max(0, run.frames - 1), run.last_time, None, (), tuple(pipeline.finish()))
    run.decided(end, time.perf_counter(), at_end=True)
    if on_frame is not None and end.decisions:
        on_frame(end)
    return run
