"""``jaga face ...`` and the ``jaga eval ...`` family.

* ``jaga face verify A.jpg B.jpg``: is the face in B the person in A? One JSON object with
  the decision's status, confidence, similarity and liveness (of B, the probe).
* ``jaga face detect IMG|VIDEO``: JSON lines, one per frame (faces with track ids, quality,
  liveness, best match) with the decisions made at that frame; ``--gallery DIR`` matches
  1:N against a gallery built in memory, ``--claim NAME`` verifies 1:1.
* ``jaga face settings``: every threshold of the pipeline, as JSON.
* ``jaga face pack DIR``: checks a bring-your-own folder and prints its manifest.
* ``jaga eval video|pairs|liveness|identify``: the evaluations; ``video`` lives here, the
  others run from their modules, registered where those are installed.

The parsers import none of the pipeline (``inference.face.cli_options``): each handler
imports what it runs.

Bad input (a missing, empty, truncated or non-image file, a broken settings file, a model
that is not installed) is one ``error:`` line on stderr and exit status 1, never a
traceback; an image without a face is not an error but a decision (``no_face_detected``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.errors import InferenceError, InputError
from inference.face import cli_options
from inference.face.cli_options import MANIFEST_NAME, add_pipeline_arguments
from inference.output_paths import output_file

# The pipeline's modules (OpenCV, numpy, ONNX Runtime) load in the handlers: not for
# `jaga face --help`.
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from inference.face.pipeline import DecisionPipeline, FrameResult

    Image = npt.NDArray[np.uint8]

Handler = Callable[[argparse.Namespace], int]
# Evaluations written next to this one, each registered where its module is installed, by
# add_eval_<name>_parser (inference.face.cli_options).
OTHER_EVALUATIONS = ("pairs", "liveness", "identify")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``face`` and ``eval`` to the ``jaga`` parser."""
    face = subparsers.add_parser("face", help="face detection, liveness and verification")
    commands = face.add_subparsers(dest="face_command", metavar="WHAT", required=True)
    _add_verify(commands)
    _add_detect(commands)
    settings = commands.add_parser("settings", help="print every face threshold as JSON")
    settings.add_argument("--settings", type=Path, help="TOML overriding the defaults")
    settings.set_defaults(handler=_guarded("face settings", _settings))
    pack = commands.add_parser("pack", help="check a bring-your-own InsightFace folder")
    pack.add_argument("folder", type=Path)
    pack.add_argument("--models-dir", type=Path, help="installed default pack (the runtime)")
    pack.add_argument("--write", action="store_true", help=f"write {MANIFEST_NAME} in it")
    pack.set_defaults(handler=_guarded("face pack", _pack))
    register_eval(subparsers)


def register_eval(subparsers: argparse._SubParsersAction[Any]) -> None:
    """``jaga eval``: ``video`` from here, the others from their modules when present."""
    evaluate = subparsers.add_parser("eval", help="evaluations that write JSON reports")
    kinds = evaluate.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    video = kinds.add_parser("video", help="end-to-end fps and time to first decision")
    video.add_argument("file", type=Path)
    video.add_argument("--out", type=output_file, required=True, help="R.json")
    video.add_argument("--max-frames", type=int, help="stop after this many frames")
    live = "play the file at its frame rate, dropping frames as a camera would"
    video.add_argument("--realtime", action="store_true", help=live)
    add_pipeline_arguments(video)
    video.set_defaults(handler=_guarded("eval video", _eval_video))
    for name in OTHER_EVALUATIONS:
        # Found, not imported: the evaluation's module loads when it runs
        if importlib.util.find_spec(f"inference.face.eval_{name}") is not None:
            getattr(cli_options, f"add_eval_{name}_parser")(kinds)


def _guarded(command: str, handler: Handler) -> Handler:
    """``handler`` with known failures turned into one line on stderr and status 1."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (InferenceError, OSError) as exc:
            print(f"jaga {command}: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130

    return run


# --- face verify --------------------------------------------------------------------------


def _add_verify(commands: argparse._SubParsersAction[Any]) -> None:
    verify = commands.add_parser("verify", help="1:1: is the face in PROBE the one in REFERENCE?")
    verify.add_argument("reference", type=Path, help="the enrolled photo (A)")
    verify.add_argument("probe", type=Path, help="the photo to check (B); liveness is read here")
    add_pipeline_arguments(verify, gallery=False)
    verify.set_defaults(handler=_guarded("face verify", _verify))


def _verify(args: argparse.Namespace) -> int:
    from inference.face.assemble import pipeline_from_args
    from inference.face.detect import read_image

    reference, probe = read_image(args.reference), read_image(args.probe)
    args.single_subject = True  # a kiosk's question: one person in front of the camera
    pipeline, meta = pipeline_from_args(args, still=True, recogniser=True)
    print(json.dumps(verify_images(pipeline, reference, probe) | {"models": meta}))
    return 0


def verify_images(pipeline: DecisionPipeline, reference: Image, probe: Image) -> dict[str, object]:
    """The decision on ``probe`` against the largest face of ``reference``."""
    from inference.face.match import GalleryIndex
    from inference.face.pipeline import DecisionPipeline

    stages = pipeline.stages
    if stages.recogniser is None:
        raise InputError("verification needs a recogniser")
    faces = stages.detector.detect(reference)
    if not faces:
        return {"status": "no_face_detected", "confidence": 1.0, "image": "reference",
                "reference_faces": 0}  # fmt: skip
    largest = max(faces, key=lambda face: face.area)
    template = stages.recogniser.describe(reference, [largest])
    gallery = GalleryIndex(template, ["reference"], pipeline.settings.match)
    checker = DecisionPipeline(dataclasses.replace(stages, gallery=gallery), pipeline.settings,
                               claimed="reference")  # fmt: skip
    result = checker.process(probe, 0.0)
    decisions = list(result.decisions) + checker.finish()
    # a small face behind the subject is not a rival, and not the one being verified
    nearest = max(result.faces, key=lambda seen: seen.face.area, default=None)
    chosen = [d for d in decisions if nearest is not None and d.track_id == nearest.track_id]
    decision = result.frame_decision or (chosen[0] if chosen else None)
    out = decision.as_json() if decision is not None else {"status": "no_face_detected"}
    out.pop("track_id", None)
    out.pop("candidates", None)
    return out | {"image": "probe", "reference_faces": len(faces), "probe_faces": len(result.faces),
                  "thresholds": dataclasses.asdict(checker.thresholds)}  # fmt: skip


# --- face detect --------------------------------------------------------------------------


def _add_detect(commands: argparse._SubParsersAction[Any]) -> None:
    detect = commands.add_parser("detect", help="faces and decisions of an image or a video")
    detect.add_argument("input", type=Path, help="an image, or a video file")
    detect.add_argument("--max-frames", type=int, help="video: stop after this many frames")
    detect.add_argument("--decisions-only", action="store_true",
                        help="video: print only the frames where a decision was made")  # fmt: skip
    add_pipeline_arguments(detect)
    detect.set_defaults(handler=_guarded("face detect", _detect))


def _detect(args: argparse.Namespace) -> int:
    from inference.face.assemble import pipeline_from_args
    from inference.face.detect import read_image
    from inference.face.eval_video import VIDEO_SUFFIXES, open_video, run_video

    is_video = args.input.suffix.lower() in VIDEO_SUFFIXES
    # a bad input fails before the models load
    image = None if is_video else read_image(args.input)
    if is_video:
        open_video(args.input)[0].release()
    pipeline, meta = pipeline_from_args(args, still=not is_video)
    print(json.dumps({"input": str(args.input), "models": meta}))
    if image is not None:
        result = pipeline.process(image, 0.0)
        ended = tuple(pipeline.finish())
        print(json.dumps(dataclasses.replace(result, decisions=result.decisions + ended)
                         .as_json()))  # fmt: skip
        return 0

    def emit(result: FrameResult) -> None:
        if result.decisions or not args.decisions_only:
            print(json.dumps(result.as_json()), flush=True)

    run = run_video(pipeline, args.input, args.max_frames, emit)
    print(json.dumps({"end": True, "frames": run.frames, "decisions": dict(run.statuses)}))
    return 0


# --- face settings, face pack, eval video ---------------------------------------------------


def _settings(args: argparse.Namespace) -> int:
    from inference.face.settings import load_settings

    print(json.dumps(load_settings(args.settings).as_dict(), indent=2))
    return 0


def _pack(args: argparse.Namespace) -> int:
    from inference.face.assemble import runtime_from_args
    from inference.face.byo import ArcFaceRecogniser, ScrfdDetector, load_byo_pack

    pack = load_byo_pack(args.folder)
    args.providers, args.threads = "cpu", None
    runtime = runtime_from_args(args)
    checked = {}
    if pack.detector is not None:
        checked["detector"] = ScrfdDetector.from_pack(runtime, pack).provider
    if pack.recogniser is not None:
        checked["recogniser"] = ArcFaceRecogniser.from_pack(runtime, pack).provider
    manifest = pack.to_toml()
    if args.write:
        (args.folder / MANIFEST_NAME).write_text(manifest, encoding="utf-8")
    print(json.dumps({"folder": str(args.folder), "inferred": pack.inferred, "loaded": checked,
                      "notes": list(pack.notes), "written": bool(args.write)}))  # fmt: skip
    print(manifest, end="", file=sys.stderr)
    return 0


def _eval_video(args: argparse.Namespace) -> int:
    from inference.face.assemble import pipeline_from_args
    from inference.face.eval_video import open_video, run_video
    from inference.face.live import replay_live

    open_video(args.file)[0].release()  # a bad file fails before the models load
    pipeline, meta = pipeline_from_args(args)
    extra: dict[str, object] = {"mode": "every frame"}
    if args.realtime:
        run, mailbox = replay_live(pipeline, args.file, args.max_frames)
        extra = {"mode": "realtime", "frames_dropped": mailbox.dropped}
    else:
        run = run_video(pipeline, args.file, args.max_frames)
    report = {"file": str(args.file), "video_fps": run.fps} | extra | run.report()
    # other work on the machine slows every figure: say how busy it was
    report |= {"models": meta, "cpu_count": os.cpu_count(), "load_average": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    ttfd = report["time_to_first_decision"]
    print(f"{run.frames} frames at {report['fps']} fps end to end; time to first decision "
          f"(median): {_median(ttfd, 'video_seconds')} s video, "
          f"{_median(ttfd, 'wall_seconds')} s wall; wrote {args.out}")  # fmt: skip
    return 0


def _median(times: object, unit: str) -> object:
    summary = times.get(unit) if isinstance(times, dict) else None
    return summary.get("median") if isinstance(summary, dict) else None
