"""Latency of a 1:N query on a :class:`GalleryIndex` of synthetic unit templates.

    .venv/bin/python -m tools.bench_gallery --templates 100000 --per-person 4 --queries 200

Prints the build time and the p50 / p90 / p99 of ``identify`` (one probe, top 5), with the
thread count numpy's BLAS was allowed (set ``OPENBLAS_NUM_THREADS`` to pin it).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from inference.face.embed import DescriptorModel, Embeddings
from inference.face.match import Aggregate, GalleryIndex, MatchSettings

MODEL = DescriptorModel("dlib_resnet", "1", 128)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=100_000)
    parser.add_argument("--per-person", type=int, default=4)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--aggregate", choices=[a.value for a in Aggregate], default="max")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.templates, MODEL.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = [f"person-{i // args.per_person:06d}" for i in range(args.templates)]
    settings = MatchSettings(aggregate=Aggregate(args.aggregate))
    started = time.perf_counter()
    index = GalleryIndex.from_arrays(vectors, labels, MODEL, settings)
    build_ms = 1000 * (time.perf_counter() - started)
    probes = [Embeddings(vectors[i : i + 1], MODEL) for i in rng.integers(0, len(labels), 20)]
    for probe in probes[:5]:
        index.identify(probe)  # warm the caches
    times = []
    for q in range(args.queries):
        started = time.perf_counter()
        index.identify(probes[q % len(probes)])
        times.append(1000 * (time.perf_counter() - started))
    print(
        json.dumps(
            {
                "templates": len(index),
                "identities": len(index.identities),
                "aggregate": args.aggregate,
                "build_ms": round(build_ms, 1),
                "query_ms": {
                    q: round(float(np.percentile(times, p)), 3)
                    for q, p in (("p50", 50), ("p90", 90), ("p99", 99))
                },
                "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            }
        )
    )


if __name__ == "__main__":
    main()
