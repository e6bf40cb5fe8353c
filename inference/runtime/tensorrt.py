"""TensorRT execution-provider options: engine and timing caches, precision, shape profiles.

Written against ONNX Runtime's documented TensorRT EP options
(``trt_engine_cache_enable``, ``trt_engine_cache_path``, ``trt_timing_cache_enable``,
``trt_fp16_enable``, ``trt_int8_enable``, ``trt_int8_calibration_table_name``,
``trt_profile_min_shapes`` / ``opt`` / ``max``). Not exercised on a GPU in this project's
CI: see the README for what was verified on hardware.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from inference.pack.manifest import InputContract
from inference.runtime.hardware import gpu_name, slug, tensorrt_version
from inference.runtime.providers import Precision

MAX_BATCH = 8
_MAX_SIDE = 1920  # largest frame side a dynamic-size detector profile accepts


@dataclass(frozen=True)
class EngineCacheKey:
    model_sha256: str
    gpu: str
    trt_version: str
    precision: Precision

    def folder_name(self) -> str:
        parts = (self.model_sha256[:16], slug(self.gpu), f"trt{slug(self.trt_version)}")
        return "-".join((*parts, str(self.precision)))


def engine_cache_key(model_sha256: str, precision: Precision) -> EngineCacheKey:
    return EngineCacheKey(model_sha256, gpu_name(), tensorrt_version(), precision)


def tensorrt_options(
    cache_dir: Path,
    contracts: Sequence[InputContract],
    precision: Precision,
    calibration_table: Path | None = None,
) -> dict[str, str]:
    """Options for one session; ``cache_dir`` is already keyed by model, GPU and version."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    options = {
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(cache_dir),
        "trt_fp16_enable": str(precision is not Precision.FP32),
    }
    if precision is Precision.INT8:
        if calibration_table is None:
            raise ValueError("int8 needs a calibration table")
        # The EP reads the table by name from the engine cache folder.
        shutil.copyfile(calibration_table, cache_dir / calibration_table.name)
        options["trt_int8_enable"] = "True"
        options["trt_int8_calibration_table_name"] = calibration_table.name
    options.update(shape_profile(contracts))
    return options


def shape_profile(contracts: Sequence[InputContract]) -> dict[str, str]:
    """Explicit min/opt/max shapes of every input, so one engine serves every batch and frame
    size used (the EP takes ``name:dims`` entries joined by commas)."""
    profiles = [_one_profile(contract) for contract in contracts]
    return {key: ",".join(p[key] for p in profiles) for key in profiles[0]}


def _one_profile(contract: InputContract) -> dict[str, str]:
    low, best, high = [], [], []
    for position, dim in enumerate(contract.shape):
        example = contract.example[position]
        if isinstance(dim, int):
            low.append(dim)
            best.append(dim)
            high.append(dim)
        elif position == 0:
            low.append(1)
            best.append(1)
            high.append(MAX_BATCH)
        else:
            low.append(32)
            best.append(example)
            high.append(_MAX_SIDE)

    def text(dims: list[int]) -> str:
        return f"{contract.name}:{'x'.join(str(d) for d in dims)}"

    return {
        "trt_profile_min_shapes": text(low),
        "trt_profile_opt_shapes": text(best),
        "trt_profile_max_shapes": text(high),
    }
