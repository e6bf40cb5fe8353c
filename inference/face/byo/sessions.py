"""Sessions for bring-your-own models, on the same runtime as the default pack.

A user's ONNX file gets what every model of the pack gets: the planned providers in order,
the provider it actually landed on reported, a TensorRT engine cached by its checksum, a
warm-up. What the pack's manifest would say about it is filled in from the declared
contract; the graph is read once, to check that contract, never to infer it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from inference.errors import PackError
from inference.pack.files import read_checked
from inference.pack.installed import InstalledModel
from inference.pack.manifest import InputContract, ModelSpec
from inference.runtime import OnnxSession, Runtime, ThreadBudget
from inference.runtime.session import SessionConfig, loadable

FloatArray = npt.NDArray[np.float32]
Dim = int | str | None


@dataclass(frozen=True)
class GraphIO:
    """Names and shapes of a graph's inputs and outputs (symbolic dims as str or None)."""

    inputs: tuple[tuple[str, tuple[Dim, ...]], ...]
    outputs: tuple[tuple[str, tuple[Dim, ...]], ...]

    @property
    def output_names(self) -> list[str]:
        return [name for name, _ in self.outputs]


def read_graph_io(path: Path, sha256: str) -> GraphIO:
    """The graph's declared inputs and outputs (a CPU session, read for its metadata), read
    from bytes that hash to ``sha256``: the graph checked is the one the session runs."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        data = read_checked(path, sha256, "bring-your-own model")
    except OSError as exc:
        raise PackError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        source = loadable(path, data)
        session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises bare RuntimeError subclasses
        raise PackError(f"{path.name} is not a loadable ONNX model: {exc}") from exc
    return GraphIO(
        tuple((item.name, tuple(item.shape)) for item in session.get_inputs()),
        tuple((item.name, tuple(item.shape)) for item in session.get_outputs()),
    )


def check_image_input(io: GraphIO, side: int, where: str) -> str:
    """The name of the graph's one NCHW 3-channel input, which must accept ``side`` x ``side``."""
    if len(io.inputs) != 1:
        raise PackError(f"{where}: expected one input, the graph has {len(io.inputs)}")
    name, shape = io.inputs[0]
    fixed = [dim if isinstance(dim, int) else None for dim in shape]
    if len(shape) != 4 or fixed[1] not in (None, 3):
        raise PackError(f"{where}: expected an N x 3 x H x W input, the graph has {list(shape)}")
    if any(dim is not None and dim != side for dim in fixed[2:]):
        raise PackError(f"{where}: the contract says {side} x {side} input, the graph is "
                        f"fixed at {list(shape)}")  # fmt: skip
    return name


def open_session(
    runtime: Runtime,
    path: Path,
    sha256: str,
    io: GraphIO,
    *,
    side: int,
    threads: ThreadBudget | None = None,
) -> OnnxSession:
    """An :class:`OnnxSession` for a checked file, on ``runtime``'s provider plan."""
    name, shape = io.inputs[0]
    declared: tuple[int | str, ...] = tuple(
        dim if isinstance(dim, int) else label
        for dim, label in zip(shape, ("N", "C", "H", "W"), strict=True)
    )
    contract = InputContract(name=name, shape=declared, example=(1, 3, side, side),
                             layout="NCHW", colour="RGB", range="0-255")  # fmt: skip
    spec = ModelSpec(
        id=_model_id(path),
        name=f"bring-your-own {path.name}",
        role="byo",
        version=sha256[:12],
        licence="see the pack's manifest",
        file=path.name,
        converter="copy",
        sha256=sha256,
        card="byo",
        sources={},
        input=contract,  # the range is not read: the detector and embedder scale inputs
    )
    config = SessionConfig(
        plan=runtime.plan,
        threads=threads or ThreadBudget.share_cores(sessions=1),
        engines_dir=runtime.pack.engines_dir,
    )
    return OnnxSession(InstalledModel(spec, path, sha256), config)


def _model_id(path: Path) -> str:
    return "byo_" + re.sub(r"[^a-z0-9_]+", "_", path.stem.lower()).strip("_")


class NormalisedSession:
    """A session whose float 0-255 input is mapped to ``(x - mean) / std`` first, so that
    code written for 0-255 inputs (the pack's embedder) can drive an ArcFace model."""

    def __init__(self, session: OnnxSession, mean: float, std: float) -> None:
        self._session, self._mean, self._std = session, np.float32(mean), np.float32(std)

    @property
    def provider(self) -> str:
        return self._session.provider

    @property
    def output_names(self) -> list[str]:
        return self._session.output_names

    def run(self, inputs: Mapping[str, FloatArray]) -> list[FloatArray]:
        scaled = {key: (value - self._mean) / self._std for key, value in inputs.items()}
        return self._session.run(scaled)


def last_dims(io: GraphIO) -> Sequence[Dim]:
    """The last dimension of each output, in order (where the contracts put the widths)."""
    return [shape[-1] if shape else None for _, shape in io.outputs]
