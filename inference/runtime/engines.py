"""``jaga models build-engines``: build every TensorRT engine ahead of the first frame.

Creating a TensorRT session builds (or loads) its engine into the keyed cache folder;
doing it here, with progress, spares a kiosk minutes of silence on its first start.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import onnxruntime as ort

from inference.errors import InferenceError
from inference.pack.installed import ModelPack
from inference.runtime import Runtime
from inference.runtime.providers import CPU, TENSORRT, Precision


def build_engines(
    pack: ModelPack, ids: Sequence[str], precision: str, available: Sequence[str] | None = None
) -> int:
    providers = ort.get_available_providers() if available is None else list(available)
    if TENSORRT not in providers:
        print(
            "TensorRT is not available in this onnxruntime build "
            f"({', '.join(providers)}): there are no engines to build.",
            file=sys.stderr,
        )
        return 1
    runtime = Runtime(pack, preference=(TENSORRT, CPU), precision=Precision(precision))
    specs = pack.manifest.select(list(ids))
    for index, spec in enumerate(specs, start=1):
        print(f"[{index}/{len(specs)}] {spec.id}: building engine...", flush=True)
        started = time.perf_counter()
        try:
            session = runtime.session(spec.id)
        except InferenceError as exc:
            print(f"  failed: {exc}", file=sys.stderr)
            return 1
        print(f"  {session.provider} in {time.perf_counter() - started:.1f} s", flush=True)
        if session.fell_back:
            print(f"  TensorRT could not build {spec.id}; it runs on {session.provider}")
    return 0
