"""One session interface over ONNX Runtime.

Model code only ever calls :meth:`ModelSession.run`. Each session asks for the planned
providers in order, then reports the one that *actually* runs the model; a session that
wanted a GPU and landed on the CPU says so in the log and in :attr:`OnnxSession.fell_back`.

"Actually" takes some care. ONNX Runtime registers every provider it was given, even one
that takes no node of the graph (TensorRT refusing it, operators without a CUDA kernel),
and lists it first. So, where several providers are asked for, the warm-up run is
profiled: the provider whose kernels took most of its time is the one reported, with each
provider's share in :attr:`OnnxSession.time_share` (the CPU alone has all of it).
Profiling ends with the warm-up, and so does the profiled session: ONNX Runtime would go
on recording every later run of it (``OnnxSession._serve_unprofiled``). And when a provider
fails during a later run, ONNX Runtime moves the session to the CPU and retries; the
session notices and says so.

A batch larger than the TensorRT engines take (``MAX_BATCH``) is refused on every provider:
each model class splits its own batches.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
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

from inference.cli_numbers import MAX_THREADS_PER_CORE
from inference.errors import InputError, RuntimeSetupError
from inference.pack.installed import InstalledModel
from inference.pack.manifest import InputContract
from inference.runtime.providers import CUDA, TENSORRT, Precision, ProviderPlan, short_name
from inference.runtime.tensorrt import MAX_BATCH, engine_cache_key, tensorrt_options

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

    def __post_init__(self) -> None:
        # Each thread is an OS thread with its own stack: --threads 100000 used to spend
        # minutes and gigabytes creating them before anything ran.
        most = MAX_THREADS_PER_CORE * (os.cpu_count() or 1)
        if not (1 <= self.intra_op <= most and 1 <= self.inter_op <= most):
            raise InputError(
                f"threads per model must lie in 1..{most} ({MAX_THREADS_PER_CORE} per core),"
                f" got {self.intra_op} (inter-op {self.inter_op})"
            )

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
        # The warm-up's profile goes to a private folder, removed with it. A session given the
        # CPU alone has nothing to tell apart: it is not profiled, nor made twice.
        profiled = config.warmup and len(requested) > 1
        self._profile_dir = _private_folder() if profiled else None
        self._options = _session_options(config.threads, self._profile_dir)
        try:
            self._start(model, requested, config)
        except BaseException:
            if self._profile_dir is not None:
                shutil.rmtree(self._profile_dir, ignore_errors=True)
            raise
        self._report()

    def _start(
        self, model: InstalledModel, requested: list[tuple[str, dict[str, Any]]],
        config: SessionConfig,
    ) -> None:  # fmt: skip
        source = _checked_source(model)
        self._session = _create(model, source, requested, self._options)
        self._output_names = [output.name for output in self._session.get_outputs()]
        self._registered: str = self._session.get_providers()[0]
        self.provider: str = self._registered
        # What the warm-up answered, output by output: a caller can check a model's outputs
        # against what it expects without running it again.
        self.warmup_shapes: dict[str, tuple[int, ...]] | None = None
        self.time_share: dict[str, float] | None = None  # provider -> share of kernel time
        self.warmup_ms = self._warm_up() if config.warmup else None
        if self._profile_dir is not None:
            self._serve_unprofiled(model, source, requested)

    def _serve_unprofiled(
        self, model: InstalledModel, source: bytes | str,
        requested: list[tuple[str, dict[str, Any]]],
    ) -> None:  # fmt: skip
        """Replace the profiled session with one made without profiling, warmed up too.

        ONNX Runtime's thread-pool profiler, once a profiled run has started it, is never
        stopped (``end_profiling`` ends the session's profiler only): each later run of a
        session with two or more intra-op threads appends to its records, which are never
        freed. At the kiosk that was about 1 KB a frame for as long as it ran (measured
        with ``tools.measure_kiosk_memory``). So the profiled session answers the warm-up
        only; the one that runs is made again from the same checked bytes and providers,
        with profiling off (``_profiled_time_share``), and warmed up once more so that its
        first real run is not the slow one. Loading costs a second session per model, only
        where several providers were asked for (a GPU's): on TensorRT the second loads the
        engine the first built. The first goes before the
        second is made, which then takes the memory it freed."""
        del self._session
        self._session = _create(model, source, requested, self._options)
        self._registered = self._session.get_providers()[0]
        dummies = {c.name: np.zeros(c.example, dtype=np.float32) for c in self.contracts}
        self.run(dummies)

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
        self._refuse_larger_batches(inputs)
        try:
            outputs: list[FloatArray] = self._session.run(self._output_names, dict(inputs))
        except (Fail, InvalidArgument, RuntimeException, ValueError) as exc:
            shapes = {name: value.shape for name, value in inputs.items()}
            raise InputError(f"{self.model_id} cannot run on inputs {shapes}: {exc}") from exc
        if self._session.get_providers()[0] != self._registered:
            self._moved_by_onnxruntime()
        return outputs

    def _refuse_larger_batches(self, inputs: Mapping[str, FloatArray]) -> None:
        """TensorRT engines are built for batches of 1 to ``MAX_BATCH`` (their shape profile)
        and a larger one fails only on a device that has TensorRT. The session refuses it on
        every provider, so a caller that does not split its batch fails on a CPU too. It does
        not split the batch itself: only the model class knows how its outputs join (not
        every output has a batch axis). A caller's bug, not bad input: a ValueError."""
        dynamic = {contract.name for contract in self.contracts if contract.dynamic_batch}
        over = {name: len(value) for name, value in inputs.items()
                if name in dynamic and value.ndim and len(value) > MAX_BATCH}  # fmt: skip
        if over:
            raise ValueError(
                f"{self.model_id} runs batches of at most {MAX_BATCH} (its TensorRT engines'"
                f" profile), got {over}: split the batch"
            )

    def _profiled_time_share(self) -> dict[str, float] | None:
        # ONNX Runtime rebuilds the session from these options when it falls back after a
        # provider fails in a run: that session must not profile every run from then on.
        self._options.enable_profiling = False
        try:
            profile = _end_profiling(self._session)
            return None if profile is None else _time_by_provider(profile)
        finally:
            if self._profile_dir is not None:
                shutil.rmtree(self._profile_dir, ignore_errors=True)

    def _moved_by_onnxruntime(self) -> None:
        """ONNX Runtime caught a provider failing in a run (a GPU out of memory), moved the
        session to its fallback providers and ran it again there."""
        self._registered = self.provider = self._session.get_providers()[0]
        self.time_share = None
        log.warning(
            "%s: %s failed during a run; now running on %s",
            self.model_id, short_name(self.requested_provider), short_name(self.provider),
        )  # fmt: skip

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
        if self._profile_dir is None:  # one provider: all the kernel time is its
            self.time_share = {self._registered: 1.0}
        else:
            self.time_share = self._profiled_time_share()
        if self.time_share:
            self.provider = max(self.time_share, key=self.time_share.__getitem__)
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


def _end_profiling(session: ort.InferenceSession) -> Path | None:
    try:
        return Path(session.end_profiling())
    except (Fail, RuntimeException, OSError) as error:  # a temp folder it cannot write
        log.warning("no warm-up profile: %s", error)
        return None


def _time_by_provider(profile: Path) -> dict[str, float]:
    """Each provider's share of the kernel time in an ONNX Runtime profile."""
    try:
        events = json.loads(profile.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("cannot read the warm-up profile %s: %s", profile, error)
        return {}
    spent: dict[str, float] = {}
    for event in events:
        provider = (event.get("args") or {}).get("provider")
        if event.get("cat") == "Node" and provider:
            spent[provider] = spent.get(provider, 0.0) + float(event.get("dur", 0))
    total = sum(spent.values())
    return {name: time / total for name, time in spent.items()} if total else {}


def _private_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="jaga-profile-"))


def _session_options(threads: ThreadBudget, profile_dir: Path | None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    if profile_dir is not None:  # the warm-up only: OnnxSession ends it after that one run
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_dir / "warmup")
    options.intra_op_num_threads = threads.intra_op
    options.inter_op_num_threads = threads.inter_op
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Models share the cores: idle threads must sleep, not spin and starve their neighbours.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def _create(
    model: InstalledModel,
    source: bytes | str,
    providers: Sequence[tuple[str, dict[str, Any]]],
    options: ort.SessionOptions,
) -> ort.InferenceSession:
    try:
        with warnings.catch_warnings():
            # ORT warns when a planned provider is missing; _report says it in our own words.
            warnings.filterwarnings("ignore", message="Specified provider", category=UserWarning)
            return ort.InferenceSession(
                source,
                sess_options=options,
                providers=[name for name, _ in providers],
                provider_options=[opts for _, opts in providers],
            )
    except Exception as exc:  # onnxruntime raises bare RuntimeError subclasses
        raise RuntimeSetupError(f"cannot create a session for {model.path.name}: {exc}") from exc


def _checked_source(model: InstalledModel) -> bytes | str:
    """What ONNX Runtime loads: the very bytes that were checked against the model's sha256.

    Given a path, ONNX Runtime opens the file again, after any check of ours, and again
    whenever it rebuilds the session on its fallback providers; a file replaced meanwhile
    would run unchecked. Given the bytes, it runs, and rebuilds from, what was checked.
    TensorRT takes a model from bytes too. Its engine and timing caches go to the folder
    ``trt_engine_cache_path`` names, keyed by this same checksum (``_tensorrt_options``);
    inside it the EP names an engine by a hash of the graph's tensor names and versions, and
    of the model's file name only when it has one, so two models never share an engine (each
    checksum has its own folder), and engines cached while models loaded by path are built
    once again.
    """
    try:
        data = model.read_checked()
    except OSError as exc:
        raise RuntimeSetupError(f"cannot read {model.path}: {exc.strerror or exc}") from exc
    return loadable(model.path, data)


def loadable(path: Path, data: bytes) -> bytes | str:
    """What to give ONNX Runtime for the checked contents ``data`` of ``path``: the bytes,
    unless the model keeps its weights in external data files.

    Those files (none of the pack's models has any: they are built whole; perhaps a
    bring-your-own one) are read by ONNX Runtime by path, relative to the model's own path,
    and no checksum covers them, so bytes would not make what runs checked; and a model
    given as bytes has no path to resolve them against (ONNX Runtime looks in the working
    directory, or refuses). Such a model keeps loading by path, its graph file checked just
    before.
    """
    if _EXTERNAL_DATA_KEY in data:
        log.info("%s keeps weights in external data files: loading it by path", path.name)
        return str(path)
    return data


# How a tensor's external data names its file in the protobuf: the entry's key field (1,
# length-delimited: 0x0A), 8 bytes long, "location", which every external tensor must have.
# A model whose metadata happens to use the key "location" only loads by path, as it did.
_EXTERNAL_DATA_KEY = b"\x0a\x08location"
