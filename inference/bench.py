"""``jaga bench models``: latency percentiles of every installed model, batch 1 and 8.

Inputs are random tensors of each model's declared example shape (latency does not depend
on pixel content for these networks). Each figure is the median / 95th percentile of
wall-clock times of single ``run`` calls after the session's warm-up. The command line is
``inference.bench_cli``'s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.runtime import Runtime
from inference.runtime.providers import short_name
from inference.runtime.tensorrt import MAX_BATCH


@dataclass(frozen=True)
class LatencyRow:
    model_id: str
    provider: str
    batch: int
    p50_ms: float
    p95_ms: float
    runs: int


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
