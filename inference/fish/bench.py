"""``jaga fish bench``: latency of a pack's FP32 and INT8 models, measured in one run.

The two precisions are timed alternately on the same images, so that whatever else the
machine is doing weighs on both alike; the median of single-image calls is reported, since
a handheld classifies one photo's few crops at a time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inference.fish.classify import SpeciesClassifier
from inference.fish.dataset import load_dataset, reading
from inference.fish.images import UInt8Image, read_image
from inference.fish.pack import load_pack
from inference.runtime import ThreadBudget
from inference.runtime.providers import plan_providers


def bench_pack(
    pack_root: Path, data: Path, *, runs: int = 50, threads: int = 1, providers: Sequence[str] = ()
) -> dict[str, Any]:
    pack = load_pack(pack_root)
    plan = plan_providers(providers) if providers else None
    budget = ThreadBudget(threads) if threads else ThreadBudget.share_cores(1)  # 0: all
    classifiers = {
        precision: SpeciesClassifier(pack, precision=precision, plan=plan, threads=budget)
        for precision in sorted(pack.models)
    }
    images = _images(data, runs)
    timings: dict[str, list[float]] = {precision: [] for precision in classifiers}
    for image in images:
        for precision, classifier in classifiers.items():
            started = time.perf_counter()
            classifier.probabilities([image])
            timings[precision].append((time.perf_counter() - started) * 1000)
    return {
        precision: {
            "median_ms": statistics.median(times),
            "p90_ms": statistics.quantiles(times, n=10)[-1] if len(times) > 1 else times[0],
            "runs": len(times),
            "size_bytes": pack.model_path(precision).stat().st_size,
            "provider": classifiers[precision].provider,
        }
        for precision, times in timings.items()
    } | {"threads": budget.intra_op, "pack_version": pack.version}


def _images(data: Path, count: int) -> list[UInt8Image]:
    with reading(data):  # until the photos are read: an --add-to waits for them
        samples = load_dataset(data).samples
        step = max(1, len(samples) // count)
        return [read_image(sample.path) for sample in samples[::step][:count]]
