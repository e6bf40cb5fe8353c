"""One session interface over ONNX Runtime.

Model code only ever calls :meth:`ModelSession.run`. Each session asks for the planned
providers in order, then reports the one it *actually* got; a session that wanted a GPU
and landed on the CPU says so in the log and in :attr:`OnnxSession.fell_back`.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument, RuntimeException

from inference.errors import InputError, RuntimeSetupError
from inference.pack.installed import InstalledModel
from inference.pack.manifest import InputContract
from inference.runtime.providers import CUDA, TENSORRT, Precision, ProviderPlan, short_name
from inference.runtime.tensorrt import engine_cache_key, tensorrt_options

log = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float32]


class ModelSession(Protocol):
    """What every model class depends on; nothing else of the runtime leaks out."""

    @property
    def provider(self) -> str: ...

    @property
    def output_names(self) -> list[str]: ...

    def run(self, inputs: Mapping[str, FloatArray]) -> list[FloatArray]: ...


@dataclass(frozen=True)
class ThreadBudget:
    """Threads one session may use; several models share few cores, so this is explicit."""

    intra_op: int
    inter_op: int = 1

    @classmethod
    def share_cores(cls, sessions: int, cores: int | None = None) -> ThreadBudget:
        total = cores or os.cpu_count() or 1
        return cls(intra_op=max(1, total // max(1, sessions)))


@dataclass(frozen=True)
class SessionConfig:
    plan: ProviderPlan
    threads: ThreadBudget
    engines_dir: Path
    calibration_tables: Mapping[str, Path] | None = None  # model id -> INT8 table
    warmup: bool = True


class OnnxSession:
    """An ONNX Runtime session for one installed model."""

    def __init__(self, model: InstalledModel, config: SessionConfig) -> None:
        self.model_id = model.spec.id
        self.contracts = model.spec.inputs
        requested = _providers_with_options(model, config)
        self.requested_provider = requested[0][0]
        self._session = _create(model.path, requested, config.threads)
        self._output_names = [output.name for output in self._session.get_outputs()]
        self.provider: str = self._session.get_providers()[0]
        self._report()
        # What the warm-up answered, output by output: a caller can check a model's outputs
        # against what it expects without running it again.
        self.warmup_shapes: dict[str, tuple[int, ...]] | None = None
        self.warmup_ms = self._warm_up() if config.warmup else None

    @property
    def contract(self) -> InputContract:
        """The first (for most models the only) input's contract."""
        return self.contracts[0]

    @property
    def fell_back(self) -> bool:
        return bool(self.provider != self.requested_provider)

    @property
    def output_names(self) -> list[str]:
        return list(self._output_names)

    def run(self, inputs: Mapping[str, FloatArray]) -> list[FloatArray]:
        try:
            outputs: list[FloatArray] = self._session.run(self._output_names, dict(inputs))
        except (Fail, InvalidArgument, RuntimeException, ValueError) as exc:
            shapes = {name: value.shape for name, value in inputs.items()}
            raise InputError(f"{self.model_id} cannot run on inputs {shapes}: {exc}") from exc
        return outputs

    def _report(self) -> None:
        if self.fell_back:
            log.warning(
                "%s: asked for %s, running on %s",
                self.model_id, short_name(self.requested_provider), short_name(self.provider),
            )  # fmt: skip
        else:
            log.info("%s: running on %s", self.model_id, short_name(self.provider))

    def _warm_up(self) -> float:
        dummies = {c.name: np.zeros(c.example, dtype=np.float32) for c in self.contracts}
        started = time.perf_counter()
        outputs = self.run(dummies)
        elapsed = (time.perf_counter() - started) * 1000
        self.warmup_shapes = {n: o.shape for n, o in zip(self._output_names, outputs, strict=True)}
        return elapsed


def _providers_with_options(
    model: InstalledModel, config: SessionConfig
) -> list[tuple[str, dict[str, Any]]]:
    chosen: list[tuple[str, dict[str, Any]]] = []
    for name in config.plan.providers:
        if name == TENSORRT:
            chosen.append((name, _tensorrt_options(model, config)))
        elif name == CUDA:
            chosen.append((name, {"device_id": 0}))
        else:
            chosen.append((name, {}))
    return chosen


def _tensorrt_options(model: InstalledModel, config: SessionConfig) -> dict[str, Any]:
    precision = config.plan.precision
    key = engine_cache_key(model.sha256, precision)
    table = (config.calibration_tables or {}).get(model.spec.id)
    if precision is Precision.INT8 and table is None:
        precision = Precision.FP16  # INT8 is per model: without its table, say so and use fp16
        log.warning("%s: no INT8 calibration table; TensorRT builds it in fp16", model.spec.id)
        key = engine_cache_key(model.sha256, precision)
    return tensorrt_options(
        config.engines_dir / key.folder_name(), model.spec.inputs, precision, table
    )


def _create(
    path: Path, providers: Sequence[tuple[str, dict[str, Any]]], threads: ThreadBudget
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads.intra_op
    options.inter_op_num_threads = threads.inter_op
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Models share the cores: idle threads must sleep, not spin and starve their neighbours.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        with warnings.catch_warnings():
            # ORT warns when a planned provider is missing; _report says it in our own words.
            warnings.filterwarnings("ignore", message="Specified provider", category=UserWarning)
            return ort.InferenceSession(
                str(path),
                sess_options=options,
                providers=[name for name, _ in providers],
                provider_options=[opts for _, opts in providers],
            )
    except Exception as exc:  # onnxruntime raises bare RuntimeError subclasses
        raise RuntimeSetupError(f"cannot create a session for {path.name}: {exc}") from exc
