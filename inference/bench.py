"""``jaga bench models``: latency percentiles of every installed model, batch 1 and 8.

Inputs are random tensors of each model's declared example shape (latency does not depend
on pixel content for these networks). Each figure is the median / 95th percentile of
wall-clock times of single ``run`` calls after the session's warm-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.cli_numbers import whole_number
from inference.errors import InferenceError, ModelNotInstalledError
from inference.output_paths import output_file
from inference.pack.installed import ModelPack, ModelState
from inference.runtime import Runtime, ThreadBudget, thread_count
from inference.runtime.providers import parse_preference, short_name
from inference.runtime.tensorrt import MAX_BATCH


@dataclass(frozen=True)
class LatencyRow:
    model_id: str
    provider: str
    batch: int
    p50_ms: float
    p95_ms: float
    runs: int


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
    try:
        return parse_preference(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def measure(session_run: Any, inputs: dict[str, np.ndarray], runs: int) -> tuple[float, float]:
    """Median and 95th percentile in ms of ``runs`` calls of ``session_run(inputs)``."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        session_run(inputs)
        times.append((time.perf_counter() - started) * 1000)
    p50, p95 = np.percentile(times, [50, 95])
    return float(p50), float(p95)


def bench_models(runtime: Runtime, ids: list[str], runs: int) -> list[LatencyRow]:
    rows = []
    rng = np.random.default_rng(0)
    for spec in runtime.pack.manifest.select(ids):
        session = runtime.session(spec.id)
        batches = (1, MAX_BATCH) if spec.input.dynamic_batch else (1,)
        for batch in batches:
            shape = (batch, *spec.input.example[1:])
            high = 255.0 if spec.input.range == "0-255" else 1.0
            tensor = rng.uniform(0, high, size=shape).astype(np.float32)
            p50, p95 = measure(session.run, {spec.input.name: tensor}, runs)
            provider = short_name(session.provider)
            rows.append(LatencyRow(spec.id, provider, batch, p50, p95, runs))
    return rows


def _bench_models(args: argparse.Namespace) -> int:
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


def format_table(rows: list[LatencyRow], threads: int) -> str:
    lines = [
        f"| model | provider | batch | p50 ms | p95 ms | runs |  (intra-op threads: {threads})",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.model_id} | {r.provider} | {r.batch} | {r.p50_ms:.2f} | {r.p95_ms:.2f} | {r.runs} |"
        for r in rows
    ]
    lines.append("batch 8 is listed only for models with a dynamic batch axis")
    return "\n".join(lines)
