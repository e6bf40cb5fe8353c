"""The parsers of ``jaga face`` and ``jaga eval``: their options, and the evaluations'.

Light: the pipeline's modules (OpenCV, numpy, ONNX Runtime) load when a command runs, not
for ``jaga face --help``. Each evaluation's handler is its module's ``run_<name>``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from inference.cli_numbers import thread_count
from inference.face.types import Aggregate
from inference.output_paths import output_file

Handler = Callable[[argparse.Namespace], int]
# The bring-your-own folder's manifest (inference.face.byo.pack), which `face pack --write` writes
MANIFEST_NAME = "jaga-pack.toml"


class NoFacePolicy(StrEnum):
    """What an evaluation does with an image without a detected face (eval_common)."""

    FAIL = "fail"
    WHOLE_IMAGE = "whole-image"


def add_pipeline_arguments(parser: argparse.ArgumentParser, *, gallery: bool = True) -> None:
    """Options shared by ``face detect``, ``face verify`` and ``eval video``."""
    parser.add_argument("--models-dir", type=Path, help="installed model pack (default: cache)")
    parser.add_argument("--providers", default="tensorrt,cuda,cpu", help="preference order")
    parser.add_argument("--threads", type=thread_count, help="CPU threads per model (default: all)")
    parser.add_argument("--settings", type=Path, help="TOML overriding face settings")
    parser.add_argument("--pack", type=Path, help="bring-your-own InsightFace model folder")
    parser.add_argument("--no-liveness", action="store_true", help="skip passive liveness")
    if gallery:
        parser.add_argument("--gallery", type=Path, help="folder with one sub-folder per person")
        parser.add_argument("--claim", help="1:1: the identity every face is verified against")
        kiosk = "kiosk: frames with several comparable faces add no evidence"
        parser.add_argument("--single-subject", action="store_true", help=kiosk)


def add_pipeline_options(parser: argparse.ArgumentParser) -> None:
    """The options every face evaluation shares: where the models are, threads, no face."""
    parser.add_argument("--models-dir", type=Path, help="installed model pack")
    parser.add_argument("--threads", type=thread_count, help="CPU threads per model (default: all)")
    parser.add_argument(
        "--no-face",
        choices=[policy.value for policy in NoFacePolicy],
        default=NoFacePolicy.FAIL.value,
        help="an image without a detected face: fail (its pairs or probes count as rejected) "
        "or describe the whole image as the face (face_recognition's fallback)",
    )


def add_eval_pairs_parser(eval_subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``eval pairs`` (its handler returns the exit status)."""
    parser = eval_subparsers.add_parser("pairs", help="1:1 verification on labelled image pairs")
    parser.add_argument("--pairs", type=Path, required=True, help="CSV: image_a,image_b,same")
    parser.add_argument("--images", type=Path, required=True, help="folder the names are in")
    parser.add_argument("--out", type=output_file, required=True, help="R.json; PNGs beside it")
    add_pipeline_options(parser)
    parser.set_defaults(handler=_evaluation("pairs"))


def add_eval_liveness_parser(eval_subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``eval liveness`` (its handler returns the exit status)."""
    parser = eval_subparsers.add_parser(
        "liveness", help="passive liveness: APCER per attack type, BPCER, ACER"
    )
    parser.add_argument("--live", type=Path, required=True, help="folder of live images")
    parser.add_argument("--attack", type=Path, required=True,
                        help="folder of attack images; sub-folders are attack types")  # fmt: skip
    parser.add_argument("--out", type=output_file, required=True, help="R.json; PNGs beside it")
    parser.add_argument(
        "--attack-type", metavar="NAME", help="every attack is this type (ignore sub-folders)"
    )
    parser.add_argument("--models-dir", type=Path, help="installed model pack")
    parser.add_argument("--threads", type=thread_count, help="CPU threads per model (default: all)")
    parser.set_defaults(handler=_evaluation("liveness"))


def add_eval_identify_parser(eval_subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``eval identify`` (its handler returns the exit status)."""
    parser = eval_subparsers.add_parser("identify", help="1:N identification, closed and open set")
    parser.add_argument("--gallery", type=Path, required=True, help="one sub-folder per person")
    parser.add_argument("--probes", type=Path, required=True, help="one sub-folder per person")
    parser.add_argument("--out", type=output_file, required=True, help="R.json; the PNG beside it")
    parser.add_argument(
        "--unknown-folds",
        type=int,
        default=2,
        help="groups of enrolled identities withheld in turn as unknowns",
    )
    parser.add_argument(
        "--aggregate",
        choices=[a.value for a in Aggregate],
        default=Aggregate.MAX.value,  # MatchSettings' default (a test keeps the two equal)
        help="how an identity's several templates make one similarity",
    )
    add_pipeline_options(parser)
    parser.set_defaults(handler=_evaluation("identify"))


def _evaluation(name: str) -> Handler:
    """``inference.face.eval_<name>.run_<name>``, imported when the evaluation runs."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        handler: Handler = getattr(importlib.import_module(f"inference.face.eval_{name}"),
                                   f"run_{name}")  # fmt: skip
        return handler(args)

    return run
