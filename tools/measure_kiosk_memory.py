"""Whether the kiosk's memory grows per frame, and in which part: the measurement behind the
runtime's session options (``inference.runtime.session``).

Runs one part of the kiosk's per-frame path headless, on the pack's real models (CPU), for
``--frames`` frames, and samples the process's resident memory (``/proc/self/statm``) and
glibc's heap (``mallinfo2``: bytes in use, bytes free in the heap) every ``--every`` frames.
The growth is the least-squares slope of RSS over the samples after the first ``--skip``
frames, in KB per 1,000 frames; the same slope over the later half of those frames
(``late_*``) tells a step during the warm-up (it falls to about 0) from a steady growth
(it does not): one step of 1 MB at frame 800, sampled every 100 frames from 500 to 2,500,
reads as 359 KB per 1,000 frames. At the end ``malloc_trim(0)`` is called once: what RSS
loses then was free heap, not a leak; and ``gc.collect()`` once: Python's free lists
(floats, tuples), which fill towards their caps over thousands of frames and read as
growth in ``py_blocks``, are emptied by a full collection only, which a kiosk's Python
makes rarely.

Parts (each on NUAA's webcam session, live then print, 640x480, looped; or ``--video``):

* ``decode``   the video's frames decoded again and again (``--video``, OpenCV), nothing else;
* ``detect``   YuNet only;
* ``liveness`` the MiniFASNets (and image cues) on each frame's faces, found beforehand;
* ``embed``    alignment and the dlib descriptor on each frame's faces, found beforehand;
* ``store``    one access event recorded and the gallery looked at, every frame (an upper
  bound: a kiosk records one event per attempt);
* ``session``  :meth:`KioskSession.process` on a real store with one person enrolled;
* ``runner``   :class:`KioskRunner` as the window runs it (capture and inference threads),
  decoding ``--video`` (default: the webcam frames written as a video) in a loop.

``--vary`` scales each frame by one of several factors, so the detector's input takes many
shapes (a camera whose resolution changes; the crops' batch sizes vary anyway).

    .venv/bin/python -m tools.measure_kiosk_memory --part session --frames 3000
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from inference.face.assemble import StageChoice, build_stages
from inference.face.detect import read_image
from inference.face.settings import FaceSettings
from inference.face.stages import Stages
from inference.face.types import FaceBox
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PARTS = ("decode", "detect", "liveness", "embed", "store", "session", "runner")
SCALES = (1.0, 0.9, 0.8, 0.75, 0.7, 0.6, 0.5, 1.1, 1.2, 1.25)
Image = npt.NDArray[np.uint8]
PAGE = os.sysconf("SC_PAGE_SIZE")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]  # fmt: skip


_LIBC = ctypes.CDLL("libc.so.6")
_LIBC.mallinfo2.restype = _MallInfo2


def rss_kb() -> int:
    statm = Path("/proc/self/statm").read_text(encoding="ascii")
    return int(statm.split()[1]) * PAGE // 1024


def heap_kb() -> tuple[int, int, int]:
    """glibc's heap (all arenas): KB in use, KB free but kept, KB in mmapped blocks."""
    info = _LIBC.mallinfo2()
    return info.uordblks // 1024, info.fordblks // 1024, info.hblkhd // 1024


def webcam_frames() -> list[Image]:
    frames = []
    for kind in ("live", "print"):
        folder = DATA / "video" / "nuaa_webcam" / kind
        paths = sorted(folder.glob("*.jpg"), key=lambda p: int(re.split(r"[_.]", p.name)[-2]))
        frames += [read_image(path) for path in paths]
    return frames


def varied(frames: list[Image]) -> list[Image]:
    return [np.asarray(cv2.resize(f, None, fx=SCALES[i % len(SCALES)], fy=SCALES[i % len(SCALES)]),
                       np.uint8) for i, f in enumerate(frames)]  # fmt: skip


def patch_session_options(knobs: str) -> None:
    """Bisecting ONNX Runtime's options: ``profile=0`` (no warm-up profile), ``arena=0``,
    ``pattern=0`` (memory pattern), ``extend=same`` (arena grows by what it needs)."""
    from inference.runtime import session as runtime_session

    wanted = dict(item.split("=") for item in knobs.split(",") if item)
    original = runtime_session._session_options

    def options(threads: ThreadBudget, profile_dir: Path | None) -> object:
        made = original(threads, None if wanted.get("profile") == "0" else profile_dir)
        if wanted.get("arena") == "0":
            made.enable_cpu_mem_arena = False
        if wanted.get("pattern") == "0":
            made.enable_mem_pattern = False
        return made

    runtime_session._session_options = options


def load_stages(threads: int) -> Stages:
    runtime = Runtime(ModelPack(None), preference=(CPU,), threads=ThreadBudget(threads))
    return build_stages(runtime, FaceSettings(), StageChoice())


def largest_faces(stages: Stages, frames: list[Image]) -> list[list[FaceBox]]:
    return [stages.detector.detect(frame) for frame in frames]


def looped(frames: list[Image]) -> Iterator[Image]:
    while True:
        yield from frames


def video_loop(path: Path) -> Iterator[Image]:
    while True:
        capture = cv2.VideoCapture(str(path))
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                yield np.asarray(frame, np.uint8)
        finally:
            capture.release()


def write_video(frames: list[Image], path: Path) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


class Sampler:
    def __init__(self, every: int) -> None:
        self.every = every
        self.samples: list[dict[str, float]] = []
        self.started = time.monotonic()

    def tick(self, frame: int) -> None:
        if frame % self.every == 0:
            used, free, mapped = heap_kb()
            sample = {"frame": frame, "rss_kb": rss_kb(), "heap_used_kb": used,
                      "heap_free_kb": free, "mmapped_kb": mapped,
                      "py_blocks": sys.getallocatedblocks(),
                      "s": round(time.monotonic() - self.started, 1)}  # fmt: skip
            self.samples.append(sample)
            print(json.dumps(sample), flush=True)


def slope_per_1000(samples: list[dict[str, float]], key: str, skip: int) -> float | None:
    kept = [s for s in samples if s["frame"] >= skip]
    if len(kept) < 3:
        return None
    x = np.array([s["frame"] for s in kept], float)
    y = np.array([s[key] for s in kept], float)
    return round(float(np.polyfit(x, y, 1)[0]) * 1000, 1)


def per_frame_part(
    part: str, stages: Stages, frames: list[Image]
) -> Callable[[Image, int], object]:
    """The work of one frame, for the parts that run on decoded frames."""
    if part == "detect":
        return lambda frame, _: stages.detector.detect(frame)
    faces = {id(f): boxes for f, boxes in zip(frames, largest_faces(stages, frames), strict=True)}
    if part == "liveness":
        assert stages.liveness is not None
        liveness = stages.liveness
        return lambda frame, _: liveness.score_faces(frame, faces[id(frame)])
    if part == "embed":
        assert stages.recogniser is not None
        recogniser = stages.recogniser
        return lambda frame, _: recogniser.describe(frame, faces[id(frame)])
    raise ValueError(part)


def run(args: argparse.Namespace) -> dict[str, object]:
    sampler = Sampler(args.every)
    frames = webcam_frames()
    if args.vary:
        frames = varied(frames)
    if args.part == "decode":
        source = video_loop(args.video or write_video(frames, Path(tempfile.mkdtemp()) / "w.avi"))
        for index in range(args.frames + 1):
            next(source)
            sampler.tick(index)
        return summary(args, sampler)
    patch_session_options(args.ort)
    stages = load_stages(args.threads)
    if args.part in ("store", "session", "runner"):
        return with_store(args, stages, frames, sampler)
    work = per_frame_part(args.part, stages, frames)
    source = looped(frames)
    for index in range(args.frames + 1):
        work(next(source), index)
        sampler.tick(index)
    return summary(args, sampler)


def with_store(
    args: argparse.Namespace, stages: Stages, frames: list[Image], sampler: Sampler
) -> dict[str, object]:
    from desktop.kiosk.assemble import KioskOptions, kiosk_session, kiosk_settings, open_kiosk
    from desktop.kiosk.enrol import NewPerson, enrol_person
    from sync.store import Passphrase, Store

    folder = Path(tempfile.mkdtemp(prefix="jaga-kioskmem-"))
    live = sorted((DATA / "video" / "nuaa_webcam" / "live").glob("*.jpg"),
                  key=lambda p: int(re.split(r"[_.]", p.name)[-2]))  # fmt: skip
    key = Passphrase("measure-kiosk-memory")
    with Store.create(folder / "kiosk.db", key) as store:
        person = NewPerson("B-001", "Person", "gate", "v1", "operator", 30)
        enrol_person(store, stages, FaceSettings(), person, [live[0], live[4]])
        options = KioskOptions(site="gate", device="kiosk-1")
        session = kiosk_session(store, stages, kiosk_settings(None), options, {})
        if args.part == "store":
            decision = None
            for index in range(args.frames + 1):
                if decision is None:
                    result = session.pipeline.process(frames[10], 0.0)
                    decision = next(iter(result.decisions), None)
                    if decision is None:
                        decision = session.pipeline.finish()[0]
                store.access.record(session.event(decision))
                session._reload_gallery(force=True)  # what process does
                sampler.tick(index)
        elif args.part == "session":
            source = looped(frames)
            for index in range(args.frames + 1):
                session.process(next(source), index / 10)
                sampler.tick(index)
    if args.part == "runner":  # the store opened by the inference thread, as the window does
        models = (kiosk_settings(None), stages)
        opener = partial(open_kiosk, folder / "kiosk.db", key, options, {}, models=models)
        run_runner(args, opener, frames, sampler, folder)
    return summary(args, sampler)


def run_runner(
    args: argparse.Namespace, opener: Any, frames: list[Image], sampler: Sampler, folder: Path
) -> None:
    from desktop.kiosk.runner import KioskRunner

    video = args.video or write_video(frames, folder / "webcam.avi")
    done = threading.Event()
    counted = [0]

    def timed() -> Iterator[tuple[float, Image]]:
        for index, frame in enumerate(video_loop(video)):
            time.sleep(1 / args.fps)  # a camera's pace, not a file's
            yield index / args.fps, frame

    class Listener:
        def ready(self, _session: object) -> None: ...
        def frame(self, _image: object, _frame: object) -> None:
            sampler.tick(counted[0])
            counted[0] += 1
            if counted[0] > args.frames:
                done.set()

        def finished(self, _events: object) -> None: ...
        def failed(self, error: BaseException) -> None:
            print("failed:", error)
            done.set()

        def unavailable(self, _outage: object) -> None: ...

    runner = KioskRunner(timed, opener, Listener())
    runner.start()
    done.wait()
    runner.stop(30)


def summary(args: argparse.Namespace, sampler: Sampler) -> dict[str, object]:
    before = rss_kb()
    _LIBC.malloc_trim(0)
    after = rss_kb()
    blocks = sys.getallocatedblocks()
    gc.collect()
    skip = args.skip
    late = (skip + args.frames) // 2
    found = {
        "part": args.part, "vary": args.vary, "ort": args.ort, "threads": args.threads,
        "frames": args.frames,
        "arena_env": {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "JAGA_ORT"))},
        "rss_kb_per_1000_frames": slope_per_1000(sampler.samples, "rss_kb", skip),
        "heap_used_kb_per_1000_frames": slope_per_1000(sampler.samples, "heap_used_kb", skip),
        "heap_free_kb_per_1000_frames": slope_per_1000(sampler.samples, "heap_free_kb", skip),
        "mmapped_kb_per_1000_frames": slope_per_1000(sampler.samples, "mmapped_kb", skip),
        "py_blocks_per_1000_frames": slope_per_1000(sampler.samples, "py_blocks", skip),
        "late_from_frame": late,
        "late_rss_kb_per_1000_frames": slope_per_1000(sampler.samples, "rss_kb", late),
        "late_heap_used_kb_per_1000_frames": slope_per_1000(sampler.samples, "heap_used_kb", late),
        "late_heap_free_kb_per_1000_frames": slope_per_1000(sampler.samples, "heap_free_kb", late),
        "late_py_blocks_per_1000_frames": slope_per_1000(sampler.samples, "py_blocks", late),
        "rss_kb_end": before, "rss_kb_after_malloc_trim": after,
        "py_blocks_end": blocks, "py_blocks_after_gc_collect": sys.getallocatedblocks(),
        "fps": round(args.frames / (time.monotonic() - sampler.started), 1),
    }  # fmt: skip
    return {"summary": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=PARTS, default="session")
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--every", type=int, default=100, help="sample every N frames")
    parser.add_argument("--skip", type=int, default=500, help="frames of warm-up left out")
    parser.add_argument("--vary", action="store_true", help="frames of varying sizes")
    parser.add_argument("--video", type=Path, help="decode/runner: this video")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per model")
    parser.add_argument("--ort", default="", help="profile=0,arena=0,pattern=0 (bisecting)")
    parser.add_argument("--fps", type=float, default=13.0, help="runner: the camera's pace")
    print(json.dumps(run(parser.parse_args())))


if __name__ == "__main__":
    main()
