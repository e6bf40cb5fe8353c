"""``jaga fish train | combine | eval | export-training-set | build-pack | bench``.

This module builds the ``jaga fish`` parser: each command's options, ``torch_device``, the
type of ``train --device``, and ``pack_version``, the type of ``train``/``combine
--version``, which refuse a device or a version when the command line is read. What
each command runs is in :mod:`inference.fish.cli_commands`, imported when it runs (numpy,
OpenCV: not for `jaga fish --help`); what the commands share (the
options turned into settings, the ``--out`` folder claimed, the install lock) in
:mod:`inference.fish.cli_support`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inference.cli_numbers import thread_count
from inference.fish.card import KNOWN_SOURCES
from inference.fish.config import (
    BACKBONE_ID,
    BACKBONES,
    DEFAULT_KNOWN_ACCEPTANCE,
    DEFAULT_REVIEW_PRECISION,
)
from inference.fish.graph_contract import DEFAULT_TAPS, KNOWN_TAPS
from inference.output_paths import output_file, output_folder
from inference.plural import counted

Handler = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    fish = subparsers.add_parser("fish", help="train, evaluate and feed fish species packs")
    commands = fish.add_subparsers(dest="fish_command", metavar="ACTION", required=True)
    _add_train(commands)
    _add_combine(commands)
    _add_eval(commands)
    _add_export(commands)
    _add_build(commands)
    _add_bench(commands)


def _add_train(commands: argparse._SubParsersAction[Any]) -> None:
    train = commands.add_parser("train", help="train a species pack from species folders")
    train.add_argument("--data", type=Path, required=True, help="folder of species folders")
    train.add_argument(
        "--out",
        type=output_folder,
        required=True,
        help="species pack folder to write; in the models folder (fish-default) writing it"
        " waits for a running `jaga models install`",
    )
    _add_replace(train)
    train.add_argument("--mode", choices=["head", "finetune"], default="head")
    train.add_argument(
        "--holdout",
        nargs="*",
        default=[],
        metavar="SPECIES",
        help="species folders left out of training, to measure open-set AUROC",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--views",
        type=int,
        default=4,
        help="head mode: augmented views per training image (0: none)",
    )
    train.add_argument(
        "--taps",
        nargs="+",
        choices=KNOWN_TAPS,
        default=list(DEFAULT_TAPS),
        help="head mode: the backbone outputs the head reads, concatenated in this order",
    )
    train.add_argument("--hidden", type=int, default=0, help="head mode: hidden width (0: linear)")
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training setting (HeadConfig or FinetuneConfig field)",
    )
    train.add_argument("--validation-fraction", type=float, default=0.2)
    train.add_argument("--known-acceptance", type=float, default=DEFAULT_KNOWN_ACCEPTANCE)
    train.add_argument("--review-precision", type=float, default=DEFAULT_REVIEW_PRECISION)
    train.add_argument("--no-int8", action="store_true", help="skip the INT8 model")
    train.add_argument("--name", default="fish-species", help="pack name")
    train.add_argument("--version", type=pack_version, help=VERSION_HELP)
    train.add_argument(
        "--source", default="", help=f"data source: one of {', '.join(KNOWN_SOURCES)}, or free text"
    )
    train.add_argument("--terms", default="", help="terms of use of the data (free text)")
    train.add_argument(
        "--keep-head",
        type=Path,
        metavar="DIR",
        help="head mode: also keep the head, species, thresholds and card in DIR "
        "(how assets/fish/default is made)",
    )
    train.add_argument("--models-dir", type=Path, help="installed model pack (the backbone)")
    train.add_argument("--backbone", choices=BACKBONES, default=BACKBONE_ID,
                       help=f"the installed backbone to train on ({BACKBONE_ID})")  # fmt: skip
    train.add_argument("--cache", type=Path, help="feature cache folder")
    train.add_argument(
        "--threads", type=thread_count, default=None, help="threads for the backbone (ONNX Runtime)"
    )
    train.add_argument(
        "--device",
        type=torch_device,
        default="auto",
        help="finetune mode: cpu, cuda, cuda:N or mps; auto (default): the GPU where torch has"
        " one, else the CPU. A device named but not usable here is refused",
    )
    train.add_argument(
        "--pth", type=Path, help="finetune mode: ImageNet .pth (default: the model pack's source)"
    )
    train.set_defaults(handler=_command("train_command"))  # fmt: skip


VERSION_HELP = "pack version (default: date and model digest)"


def pack_version(text: str) -> str:
    """An argparse ``type`` for ``--version``: one the hub publishes and a device installs,
    refused when the command line is read rather than at publishing, after the training."""
    from inference.fish.pack_format import version_problem  # numpy: only once one is given

    problem = version_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{problem}, not {text!r}")
    return text


def torch_device(text: str) -> str:
    """An argparse ``type`` for ``--device``: ``auto``, or a device torch trains on here.

    A device torch does not know (``bogus``), or one this machine lacks (``cuda`` without a
    usable GPU), is refused in one line when the command line is read; it was a torch
    traceback once the data had been read. A device that was named is never swapped for
    another, as training on the CPU instead of a GPU takes many times longer: ``auto`` is the
    one that falls back, as ONNX Runtime's ``--providers`` preference falls back to the CPU.
    Without torch (a device's install) the value is left to the finetune to refuse.
    """
    if text == "auto":
        return text
    try:
        import torch
    except ImportError:
        return text
    try:
        device = torch.device(text)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device to train on: expected auto, cpu, cuda, cuda:N or mps"
        )
    problem = _unusable(torch, device)
    if problem is not None:
        raise argparse.ArgumentTypeError(
            f"{text}: {problem}; use --device cpu, or auto (the GPU where there is one)"
        )
    return text


def _unusable(torch: Any, device: Any) -> str | None:
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = "" if torch.version.cuda else ", a build without CUDA"
            return f"no CUDA GPU is usable on this machine (torch {torch.__version__}{built})"
        if device.index is not None and device.index >= torch.cuda.device_count():
            gpus = counted(torch.cuda.device_count(), "CUDA GPU")
            return f"this machine has {gpus}, numbered from 0"
    if device.type == "mps" and not torch.backends.mps.is_available():
        return "no Apple GPU (MPS) is usable on this machine"
    return None


def _add_combine(commands: argparse._SubParsersAction[Any]) -> None:
    combine = commands.add_parser(
        "combine",
        help="packs trained on the same split as one: the mean of their probabilities",
    )
    combine.add_argument("packs", type=Path, nargs="+", metavar="PACK",
                         help="two or more; the pack of the largest input side first")  # fmt: skip
    combine.add_argument("--data", type=Path, required=True,
                         help="the species folders the packs were trained on")  # fmt: skip
    combine.add_argument(
        "--out",
        type=output_folder,
        required=True,
        help="species pack folder to write; in the models folder (fish-default) writing it"
        " waits for a running `jaga models install`",
    )
    _add_replace(combine)
    combine.add_argument("--no-int8", action="store_true", help="skip the INT8 model")
    combine.add_argument("--name", default="fish-species", help="pack name")
    combine.add_argument("--version", type=pack_version, help=VERSION_HELP)
    combine.add_argument("--source", default="", help="data source, as for train")
    combine.add_argument("--terms", default="", help="terms of use of the data (free text)")
    combine.add_argument("--known-acceptance", type=float, default=DEFAULT_KNOWN_ACCEPTANCE)
    combine.add_argument("--review-precision", type=float, default=DEFAULT_REVIEW_PRECISION)
    combine.set_defaults(handler=_command("combine_command"))


def _add_replace(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--replace",
        action="store_true",
        help="replace the species pack --out holds (without it, such a pack is refused)",
    )


def _add_eval(commands: argparse._SubParsersAction[Any]) -> None:
    ev = commands.add_parser("eval", help="evaluate a species pack on species folders")
    ev.add_argument("--data", type=Path, required=True, help="folder of species folders")
    ev.add_argument("--pack", type=Path, help="species pack (default: the installed default)")
    ev.add_argument(
        "--out", type=output_file, required=True, help="R.json; PNGs are written beside it"
    )
    ev.add_argument("--precision", choices=["fp32", "int8"], default="fp32")
    ev.add_argument(
        "--split",
        choices=["all", "validation"],
        default="all",
        help="validation: only the pack's validation groups and held-out species",
    )
    ev.add_argument("--threads", type=thread_count, default=None)
    ev.add_argument("--not-fish", type=Path, nargs="+", default=[], metavar="DIR",
                    help="folders of photos that are not fish (faces, decks): familiarity "
                    "AUROC and the share of them the pack rejects")  # fmt: skip
    ev.set_defaults(handler=_command("eval_command"))  # fmt: skip


def _add_export(commands: argparse._SubParsersAction[Any]) -> None:
    ex = commands.add_parser(
        "export-training-set", help="turn confirmed corrections into species folders"
    )
    ex.add_argument(
        "--corrections",
        type=Path,
        nargs="+",
        required=True,
        metavar="CSV",
        help="CSV with columns file,confirmed_species[,group]; several exports' CSVs in any"
        " order (read in the order their exported_at says), a fish in two taking the later"
        " one's verdict; CSVs without exported_at in the order given, read after the others"
        " when listed after every CSV that has one, before them otherwise",
    )
    where = ex.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=output_folder, help="a new folder to write species folders in")
    where.add_argument(
        "--add-to",
        type=Path,
        metavar="DATA",
        help="a training folder to add the images to, into its species folders; its images"
        " keep their groups and groups.csv gains the corrections'",
    )
    ex.add_argument("--base", type=Path, help="folder the CSV's relative file paths start from")
    ex.add_argument("--species-from", type=Path, metavar="PACK",
                    help="a pack whose species names (and ids, the folders) to use: the"
                    " pack that made the predictions, so its names find DATA's")  # fmt: skip
    ex.add_argument("--new-species", nargs="+", action="extend", default=[], metavar="SPECIES",
                    help="with --add-to: species DATA lacks, to give new folders where DATA"
                    " cannot tell they are new (its folders named by ids, fish_01)")  # fmt: skip
    ex.set_defaults(handler=_command("export_command"))  # fmt: skip


def _add_build(commands: argparse._SubParsersAction[Any]) -> None:
    build = commands.add_parser(
        "build-pack", help="build a species pack from a stored head (e.g. assets/fish/default)"
    )
    build.add_argument("--head", type=Path, required=True, help="folder with head.json etc.")
    build.add_argument("--out", type=output_folder, required=True,
                       help="species pack folder to write; in the models folder (fish-default)"
                       " the build waits for a running `jaga models install`")  # fmt: skip
    build.add_argument("--models-dir", type=Path, help="installed model pack (the backbone)")
    build.add_argument("--backbone", choices=BACKBONES, default=BACKBONE_ID,
                       help="the backbone the head was trained on")  # fmt: skip
    build.add_argument("--calibration", type=Path,
                       help="species folders whose photos calibrate an INT8 model too")  # fmt: skip
    build.set_defaults(handler=_command("build_command"))


def _add_bench(commands: argparse._SubParsersAction[Any]) -> None:
    bench = commands.add_parser("bench", help="FP32 vs INT8 latency of a pack, in one run")
    bench.add_argument("--pack", type=Path, help="species pack (default: the installed default)")
    bench.add_argument("--data", type=Path, required=True, help="species folders to draw from")
    bench.add_argument("--runs", type=int, default=50, help="single-image calls per precision")
    bench.add_argument("--threads", type=thread_count, default=1, help="0: all cores")
    bench.set_defaults(handler=_command("bench_command"))


def _command(name: str) -> Handler:
    """``inference.fish.cli_commands``'s ``name``, imported when the command runs: it loads
    numpy and OpenCV, which `jaga fish --help` has no use for."""

    def run(args: argparse.Namespace) -> int:
        from inference.fish import cli_commands

        command: Handler = getattr(cli_commands, name)
        return command(args)

    return run
