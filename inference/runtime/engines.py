"""``jaga models build-engines``: build every TensorRT engine ahead of the first frame.

Creating a TensorRT session builds (or loads) its engine into the keyed cache folder;
doing it here, with progress, spares a kiosk minutes of silence on its first start. The
command succeeds only when every model really runs on TensorRT (the provider its warm-up
was profiled on): a model left on the CPU got no engine, and a kiosk relying on this
command would find out on its first frame.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import onnxruntime as ort

from inference.errors import InferenceError
from inference.pack.installed import ModelPack
from inference.plural import counted
from inference.runtime import Runtime
from inference.runtime.providers import CPU, TENSORRT, Precision, short_name


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
    runtime = Runtime(
        pack, preference=(TENSORRT, CPU), precision=Precision(precision), available=providers
    )
    why_not = dict(runtime.plan.skipped).get(TENSORRT)
    specs = pack.manifest.select(list(ids))
    missed = 0
    for index, spec in enumerate(specs, start=1):
        print(f"[{index}/{len(specs)}] {spec.id}: building engine...", flush=True)
        started = time.perf_counter()
        try:
            session = runtime.session(spec.id)
        except InferenceError as exc:
            print(f"  failed: {exc}", file=sys.stderr)
            return 1
        print(f"  {short_name(session.provider)} in {time.perf_counter() - started:.1f} s")
        if session.provider != TENSORRT:
            missed += 1
            reason = f" ({why_not})" if why_not else ""
            print(
                f"  {spec.id}: no TensorRT engine, it runs on {short_name(session.provider)}"
                f"{reason}",
                file=sys.stderr,
            )
    if missed:
        print(f"{missed} of {counted(len(specs), 'model')} got no TensorRT engine", file=sys.stderr)
    return 1 if missed else 0
