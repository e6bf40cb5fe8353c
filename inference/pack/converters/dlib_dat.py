"""Read a dlib DNN from the binary ``.dat`` format that ``dlib::serialize`` writes.

Only numpy is needed: this module turns the file into plain dataclasses holding numpy arrays,
and :mod:`inference.pack.converters.dlib_resnet` builds a torch module from them.

The format, as dlib writes it (``dlib/serialize.h`` and ``dlib/dnn/{core,layers,input,loss,
tensor}.h``): integers, floats, bools, strings and tensors are read by
:class:`~inference.pack.converters.dlib_dat_reader.DatReader`, which says how dlib encodes each;
this module reads the layers and the network out of them.

A network is a nested chain of wrappers, written outermost first with each one's subnetwork
before its own fields. So the file opens with the loss, then a run of version numbers (2 for
every ``add_layer``, 1 for every ``tag``/``skip``) down to the input layer, and then the layer
details come back out innermost first. dlib writes no name and no id for a tag or a skip (both
are part of the C++ type, not of the data): :class:`TagOrSkip` marks where one sat, and the
model that knows its C++ type decides which it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from inference.errors import ConversionError
from inference.pack.converters.dlib_dat_reader import DatReader, FloatArray, TensorShape

__all__ = [
    "AddPrev",
    "Affine",
    "Conv",
    "DatReader",
    "DlibNetwork",
    "FloatArray",
    "FullyConnected",
    "InputRgbImage",
    "Layer",
    "LossMetric",
    "Pool",
    "Relu",
    "TagOrSkip",
    "TensorShape",
    "parse_network",
    "read_layer_details",
]

_LOSS_LAYER_VERSIONS = frozenset({1})
_ADD_LAYER_VERSION = 2
_TAG_OR_SKIP_VERSION = 1
# add_layer over an input layer: version 3 added the sample expansion factor.
_INPUT_ADD_LAYER_VERSIONS = frozenset({2, 3})
_CONV_MODE = 0
_FC_MODE = 1
_FC_HAS_BIAS = 0
_FC_NO_BIAS = 1


# ---------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class LossMetric:
    margin: float
    distance_threshold: float


@dataclass(frozen=True)
class InputRgbImage:
    """``input_rgb_image_sized``: pixel -> (pixel - mean of its channel) / 256."""

    mean_rgb: tuple[float, float, float]
    rows: int
    cols: int


@dataclass(frozen=True)
class Conv:
    filters: FloatArray  # (out, in, rows, cols), as torch lays them out
    biases: FloatArray  # (out,)
    stride: tuple[int, int]  # (y, x)
    padding: tuple[int, int]  # (y, x), zeros on both sides


@dataclass(frozen=True)
class Affine:
    """``x * gamma + beta``: per channel in conv mode, per element in fc mode."""

    gamma: FloatArray  # (k, nr, nc) of the alias; (channels, 1, 1) in conv mode
    beta: FloatArray
    per_channel: bool


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Pool:
    kind: Literal["max", "avg"]
    window: tuple[int, int]  # (rows, cols); 0 means the whole input, as avg_pool_everything
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class AddPrev:
    """Adds the previous layer's output to a tagged one; dlib does not store which tag."""


@dataclass(frozen=True)
class FullyConnected:
    weights: FloatArray  # (out, in), as torch lays them out
    biases: FloatArray | None  # (out,), None for fc_no_bias


@dataclass(frozen=True)
class TagOrSkip:
    """Where a ``tag<N>`` or ``skip<N>`` wrapper sat; the file records neither kind nor N."""


Layer = Conv | Affine | Relu | Pool | AddPrev | FullyConnected | TagOrSkip


@dataclass(frozen=True)
class DlibNetwork:
    loss: LossMetric
    input: InputRgbImage
    layers: tuple[Layer, ...]  # from the input towards the loss


def _read_learning_rate_multipliers(reader: DatReader, what: str, count: int) -> None:
    # Training-only settings: read to stay in step, then dropped.
    for _ in range(count):
        reader.read_float(f"{what} learning-rate/weight-decay multiplier")


_Pair = tuple[int, int]
_WINDOW_FIELDS = ("rows", "cols", "stride y", "stride x", "padding y", "padding x")


def _read_window(reader: DatReader, what: str) -> tuple[_Pair, _Pair, _Pair]:
    """rows, cols, stride y, stride x, padding y, padding x: as con_ and the pools write them."""
    start = reader.offset
    values = [reader.read_int(f"{what} {name}") for name in _WINDOW_FIELDS]
    rows, cols, stride_y, stride_x, pad_y, pad_x = values
    if min(rows, cols, pad_y, pad_x) < 0 or min(stride_y, stride_x) < 1:
        raise reader.error(f"{what} window with strides >= 1", str(values), at=start)
    return (rows, cols), (stride_y, stride_x), (pad_y, pad_x)


def _split_params(
    reader: DatReader, params: FloatArray, shapes: list[TensorShape], what: str, at: int
) -> list[FloatArray]:
    """Cut a layer's flat parameter tensor into the consecutive aliases that view it."""
    sizes = [math.prod(shape) for shape in shapes]
    if sum(sizes) != params.size:
        raise reader.error(
            f"{what} parameters of {sum(sizes)} floats for views {shapes}",
            f"{params.size}",
            at=at,
        )
    if not np.isfinite(params).all():
        raise reader.error(f"{what} finite parameters", "inf or nan", at=at)
    flat = params.reshape(-1)
    bounds = np.cumsum([0, *sizes])
    return [flat[bounds[i] : bounds[i + 1]].reshape(shape) for i, shape in enumerate(shapes)]


def _read_conv(reader: DatReader) -> Conv:
    start = reader.offset
    params = reader.read_tensor("con_ params")
    num_filters = reader.read_int("con_ num_filters")
    (rows, cols), stride, padding = _read_window(reader, "con_")
    filters_shape = reader.read_alias_shape("con_ filters")
    biases_shape = reader.read_alias_shape("con_ biases")
    _read_learning_rate_multipliers(reader, "con_", 4)
    if filters_shape[0] != num_filters or filters_shape[2:] != (rows, cols):
        raise reader.error(
            f"con_ filters of {num_filters} x ? x {rows} x {cols}", str(filters_shape), at=start
        )
    if math.prod(biases_shape) != num_filters:
        raise reader.error(f"con_ {num_filters} biases", str(biases_shape), at=start)
    filters, biases = _split_params(reader, params, [filters_shape, biases_shape], "con_", start)
    return Conv(filters=filters, biases=biases.reshape(-1), stride=stride, padding=padding)


def _read_affine(reader: DatReader) -> Affine:
    start = reader.offset
    params = reader.read_tensor("affine_ params")
    gamma_shape = reader.read_alias_shape("affine_ gamma")
    beta_shape = reader.read_alias_shape("affine_ beta")
    mode = reader.read_int("affine_ mode")
    if mode not in (_CONV_MODE, _FC_MODE):
        raise reader.error("affine_ mode 0 (conv) or 1 (fc)", str(mode), at=start)
    if gamma_shape != beta_shape or gamma_shape[0] != 1:
        raise reader.error("affine_ gamma and beta of one equal shape", str(beta_shape), at=start)
    gamma, beta = _split_params(reader, params, [gamma_shape, beta_shape], "affine_", start)
    return Affine(gamma=gamma[0], beta=beta[0], per_channel=mode == _CONV_MODE)


def _read_relu(reader: DatReader) -> Relu:
    del reader
    return Relu()


def _read_add_prev(reader: DatReader) -> AddPrev:
    del reader
    return AddPrev()


def _read_max_pool(reader: DatReader) -> Pool:
    window, stride, padding = _read_window(reader, "max_pool_")
    return Pool(kind="max", window=window, stride=stride, padding=padding)


def _read_avg_pool(reader: DatReader) -> Pool:
    window, stride, padding = _read_window(reader, "avg_pool_")
    return Pool(kind="avg", window=window, stride=stride, padding=padding)


def _read_fully_connected(reader: DatReader) -> FullyConnected:
    start = reader.offset
    num_outputs = reader.read_int("fc_ num_outputs")
    num_inputs = reader.read_int("fc_ num_inputs")
    params = reader.read_tensor("fc_ params")
    weights_shape = reader.read_alias_shape("fc_ weights")
    biases_shape = reader.read_alias_shape("fc_ biases")
    bias_mode = reader.read_int("fc_ bias mode")
    _read_learning_rate_multipliers(reader, "fc_", 4)
    if weights_shape != (num_inputs, num_outputs, 1, 1):
        raise reader.error(
            f"fc_ weights of {num_inputs} x {num_outputs}", str(weights_shape), at=start
        )
    if bias_mode not in (_FC_HAS_BIAS, _FC_NO_BIAS):
        raise reader.error("fc_ bias mode 0 (bias) or 1 (no bias)", str(bias_mode), at=start)
    views = [weights_shape] if bias_mode == _FC_NO_BIAS else [weights_shape, biases_shape]
    parts = _split_params(reader, params, views, "fc_", start)
    # dlib computes input @ weights with weights (in, out); torch's Linear holds (out, in).
    weights = np.ascontiguousarray(parts[0].reshape(num_inputs, num_outputs).T)
    biases = parts[1].reshape(-1) if bias_mode == _FC_HAS_BIAS else None
    return FullyConnected(weights=weights, biases=biases)


_LAYER_READERS: dict[str, Callable[[DatReader], Layer]] = {
    "con_4": _read_conv,
    "affine_": _read_affine,
    "relu_": _read_relu,
    "add_prev_": _read_add_prev,
    "max_pool_2": _read_max_pool,
    "avg_pool_2": _read_avg_pool,
    "fc_2": _read_fully_connected,
}


def read_layer_details(reader: DatReader) -> Layer:
    """One computational layer's details, dispatched on the version string it starts with."""
    kind = reader.expect_string("layer type", _LAYER_READERS)
    return _LAYER_READERS[kind](reader)


# ---------------------------------------------------------------------------- network


def _read_loss(reader: DatReader) -> LossMetric:
    reader.expect_version("add_loss_layer", _LOSS_LAYER_VERSIONS)
    reader.expect_string("loss layer type", {"loss_metric_2"})
    margin = reader.read_float("loss_metric_ margin")
    distance_threshold = reader.read_float("loss_metric_ distance threshold")
    return LossMetric(margin=margin, distance_threshold=distance_threshold)


def _read_input_layer(reader: DatReader) -> InputRgbImage:
    start = reader.offset
    reader.expect_string("input layer type", {"input_rgb_image_sized"})
    mean = tuple(reader.read_float(f"input mean {channel}") for channel in "rgb")
    rows = reader.read_int("input rows")
    cols = reader.read_int("input cols")
    if rows < 1 or cols < 1 or not all(math.isfinite(value) for value in mean):
        raise reader.error("input size >= 1 and finite means", str((mean, rows, cols)), at=start)
    red, green, blue = mean
    return InputRgbImage(mean_rgb=(red, green, blue), rows=rows, cols=cols)


def _next_is_input_layer(reader: DatReader) -> bool:
    """After a version number: does the input layer (a type string) follow it directly?"""
    with reader.lookahead():
        reader.read_int("wrapper version")
        name = reader.peek_string()
    return name is not None and name.startswith("input")


def _read_wrapper_chain(reader: DatReader) -> list[bool]:
    """The version numbers down to the input layer: True for add_layer, False for a tag/skip."""
    chain: list[bool] = []
    while not _next_is_input_layer(reader):
        version = reader.expect_version(
            "add_layer (2) or tag/skip (1)", {_ADD_LAYER_VERSION, _TAG_OR_SKIP_VERSION}
        )
        chain.append(version == _ADD_LAYER_VERSION)
    return chain


def _skip_add_layer_state(reader: DatReader, tensor_names: tuple[str, ...]) -> None:
    # Training state (setup flags, cached outputs, gradients): empty in a clean()ed net.
    for flag in ("setup called", "gradient stale", "output disabled"):
        reader.read_bool(f"add_layer {flag} flag")
    for name in tensor_names:
        reader.read_tensor(f"add_layer {name}")


def _read_first_layer(reader: DatReader) -> tuple[InputRgbImage, Layer]:
    """The innermost add_layer: it holds the input layer and the first computational one."""
    version = reader.expect_version("add_layer over the input", _INPUT_ADD_LAYER_VERSIONS)
    input_layer = _read_input_layer(reader)
    layer = read_layer_details(reader)
    _skip_add_layer_state(reader, ("x_grad", "cached_output", "grad_final"))
    if version >= 3:
        reader.read_int("add_layer sample expansion factor")
    return input_layer, layer


def _read_add_layer_tail(reader: DatReader) -> Layer:
    layer = read_layer_details(reader)
    _skip_add_layer_state(reader, ("x_grad", "cached_output", "params_grad"))
    return layer


def parse_network(data: bytes) -> DlibNetwork:
    """Parse a whole ``loss_metric`` network (as dlib's face descriptor is saved)."""
    if not data:
        raise ConversionError("dlib .dat: the file is empty")
    reader = DatReader(data)
    loss = _read_loss(reader)
    chain = _read_wrapper_chain(reader)
    input_layer, first = _read_first_layer(reader)
    layers: list[Layer] = [first]
    for is_add_layer in reversed(chain):
        layers.append(_read_add_layer_tail(reader) if is_add_layer else TagOrSkip())
    reader.expect_end()
    return DlibNetwork(loss=loss, input=input_layer, layers=tuple(layers))
