"""``jaga bench models``'s command line: its parser imports neither numpy nor ONNX Runtime,
which the benchmark itself (``inference.bench``) loads when it runs."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.cli_numbers import thread_count, whole_number
from inference.errors import InferenceError, ModelNotInstalledError
from inference.output_paths import output_file

if TYPE_CHECKING:
    from inference.pack.installed import ModelPack


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks")
    commands = bench.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    models = commands.add_parser("models", help="p50/p95 latency of each model, batch 1 and 8")
    models.add_argument("ids", nargs="*", help="model ids (default: all installed)")
    models.add_argument("--runs", type=_run_count, default=30, help="timed runs per batch size")
    models.add_argument(
        "--threads", type=thread_count, default=0, help="intra-op threads (0: all cores)"
    )
    models.add_argument(
        "--providers", type=_preference, default="tensorrt,cuda,cpu", help="preference order"
    )
    models.add_argument("--dir", type=Path, help="pack folder")
    models.add_argument("--json", type=output_file, help="also write the rows as JSON")
    models.set_defaults(handler=_bench_models)


_run_count = whole_number(1)  # no run has no percentile


def _preference(text: str) -> tuple[str, ...]:
    from inference.runtime.providers import parse_preference  # ONNX Runtime: not for --help

    try:
        return parse_preference(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bench_models(args: argparse.Namespace) -> int:
    from inference.bench import bench_models, format_table
    from inference.pack.installed import ModelPack
    from inference.runtime import Runtime, ThreadBudget

    pack = ModelPack(args.dir)
    try:
        threads = ThreadBudget(args.threads) if args.threads else ThreadBudget.share_cores(1)
        runtime = Runtime(pack, preference=args.providers, threads=threads)
        ids = args.ids or _installed_ids(pack)
        rows = bench_models(runtime, ids, args.runs)
    except InferenceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_table(rows, threads.intra_op))
    if args.json:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n")
        except OSError as exc:  # checked when the command line was read; a full disk, say
            print(f"error: cannot write {args.json}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    return 0


def _installed_ids(pack: ModelPack) -> list[str]:
    """The models of the pack that are installed (one changed since is still benched, and
    refused with its fix); the others are named on stderr, so a short table is not taken
    for the whole pack. :class:`ModelNotInstalledError` where none is installed."""
    from inference.pack.installed import ModelState

    states = {spec.id: pack.state(spec, hash_file=False) for spec in pack.manifest.models}
    installed = [model_id for model_id, state in states.items() if state is not ModelState.MISSING]
    if not installed:
        raise ModelNotInstalledError(
            f"no model is installed in {pack.root}; run: {pack.install_command()}"
        )
    if len(installed) < len(states):
        others = [model_id for model_id in states if model_id not in installed]
        print(f"not installed, not benched: {', '.join(others)}", file=sys.stderr)
    return installed
