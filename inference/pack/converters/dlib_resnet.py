"""Convert dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1.dat``) to ONNX.

The network is ``anet_type`` of dlib's ``dnn_metric_learning_on_images_ex.cpp`` (also
``face_recognition_model_v1`` in dlib's Python tools), from the input outwards::

    input_rgb_image_sized<150>            (pixel - channel mean) / 256
    con<32,7,7,2,2> affine relu max_pool<3,3,2,2>
    ares<32> x3, ares_down<64> ares<64> x3, ares_down<128> ares<128> x2,
    ares_down<256> ares<256> x2, ares_down<256>
    avg_pool_everything fc_no_bias<128>   (loss_metric adds nothing at inference)

    ares      = relu(add_prev1(block<stride 1>(tag1(x))))
    ares_down = relu(add_prev2(avg_pool<2,2,2,2>(skip1(tag2(block<stride 2>(tag1(x)))))))
    block     = affine(con<3x3, stride 1>(relu(affine(con<3x3, stride>(x)))))

Layer kinds, sizes, strides and weights come from the file (:mod:`.dlib_dat`); which wrapper
is a tag and which a skip is not written there, so the file's layer sequence is matched
against the blocks above (:mod:`.dlib_resnet_plan`), and anything else refused. Two dlib
behaviours matter for parity: stride-2 convolutions and pools are unpadded, and ``add_prev``
sizes its output as the larger of its inputs and zero-pads the smaller one (channels, bottom
and right): three of the four down-sampling shortcuts have half the branch's channels, and
one is 4x4 against a 3x3 branch.

The ONNX file (opset 17 by default) takes raw RGB pixels, float32 NCHW (N, 3, 150, 150) in
0-255 with a free batch axis ``N``: the mean and the /256 are inside the graph. Its output
``descriptor`` (N, 128) is the fc layer's raw, unnormalised output, exactly what
``dlib.face_recognition_model_v1.compute_face_descriptor`` returns. The file's bytes depend
only on the .dat and the pinned torch/onnx versions, so the manifest can pin its sha256.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter
import torch
from torch import nn

from inference.errors import ConversionError
from inference.pack.converters.dlib_dat import (
    Affine,
    Conv,
    FloatArray,
    InputRgbImage,
    Pool,
    parse_network,
)
from inference.pack.converters.dlib_resnet_plan import (
    ConvAffine,
    DescriptorPlan,
    ResidualBlock,
    plan_descriptor,
)
from inference.quiet_logs import quiet_onnx_exporter

__all__ = [
    "BATCH_AXIS",
    "DEFAULT_OPSET",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "ChannelAffine",
    "ConvAffine",
    "DescriptorPlan",
    "DlibFaceDescriptor",
    "PixelNormalization",
    "ResidualBlock",
    "ResidualUnit",
    "Shape",
    "ZeroPad",
    "build_model",
    "convert",
    "plan_descriptor",
]

INPUT_NAME = "input"
OUTPUT_NAME = "descriptor"
BATCH_AXIS = "N"
DEFAULT_OPSET = 17
# The torch.export-based exporter writes opset 18; the file is then converted down.
_EXPORTER_OPSET = 18
# dlib's input layer divides by 256, not 255: a power of two, so the division is exact.
_PIXEL_SCALE = 256.0

# ---------------------------------------------------------------------------- torch


def _tensor(array: FloatArray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


class PixelNormalization(nn.Module):
    """dlib's input layer: (pixel - channel mean) / 256, on raw 0-255 RGB."""

    mean: torch.Tensor

    def __init__(self, mean_rgb: tuple[float, float, float]) -> None:
        super().__init__()
        mean = torch.tensor(mean_rgb, dtype=torch.float32).reshape(1, 3, 1, 1)
        self.register_buffer("mean", mean)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - self.mean) / _PIXEL_SCALE


class ChannelAffine(nn.Module):
    """dlib's ``affine`` in conv mode: x * gamma + beta per channel (a frozen batch norm)."""

    gamma: torch.Tensor
    beta: torch.Tensor

    def __init__(self, affine: Affine) -> None:
        super().__init__()
        self.register_buffer("gamma", _tensor(affine.gamma).unsqueeze(0))
        self.register_buffer("beta", _tensor(affine.beta).unsqueeze(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma + self.beta


def _conv(conv: Conv) -> nn.Conv2d:
    out_channels, in_channels, rows, cols = conv.filters.shape
    module = nn.Conv2d(
        in_channels, out_channels, (rows, cols), stride=conv.stride, padding=conv.padding
    )
    module.weight.data = _tensor(conv.filters)
    if module.bias is not None:
        module.bias.data = _tensor(conv.biases)
    return module


def _conv_affine(unit: ConvAffine) -> nn.Sequential:
    return nn.Sequential(_conv(unit.conv), ChannelAffine(unit.affine))


def _pool(pool: Pool) -> nn.Module:
    if pool.kind == "max":
        return nn.MaxPool2d(pool.window, stride=pool.stride, padding=pool.padding)
    return nn.AvgPool2d(pool.window, stride=pool.stride, padding=pool.padding)


Shape = tuple[int, int, int]  # channels, rows, cols of one sample


def _window_output(size: int, window: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - window) // stride + 1


def _conv_output(shape: Shape, conv: Conv) -> Shape:
    out_channels, _, rows, cols = conv.filters.shape
    return (
        out_channels,
        _window_output(shape[1], rows, conv.stride[0], conv.padding[0]),
        _window_output(shape[2], cols, conv.stride[1], conv.padding[1]),
    )


def _pool_output(shape: Shape, pool: Pool) -> Shape:
    return (
        shape[0],
        _window_output(shape[1], pool.window[0], pool.stride[0], pool.padding[0]),
        _window_output(shape[2], pool.window[1], pool.stride[1], pool.padding[1]),
    )


class ZeroPad(nn.Module):
    """Grows a (N, C, H, W) tensor with zeros at the end of C, H and W.

    Written as a concatenation rather than ``F.pad``: ONNX's Pad changed at opset 18 and
    has no down-converter, and the zeros keep the batch axis symbolic.
    """

    def __init__(self, have: Shape, want: Shape) -> None:
        super().__init__()
        self.missing = tuple(w - h for w, h in zip(want, have, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for dim, missing in enumerate(self.missing, start=1):
            if missing:
                filler = list(x.shape)
                filler[dim] = missing
                x = torch.cat([x, x.new_zeros(filler)], dim=dim)
        return x


class ResidualUnit(nn.Module):
    """dlib's ``ares`` (identity shortcut) or ``ares_down`` (avg-pooled shortcut).

    The closing add is dlib's add_prev: its output takes the larger size of the branch and
    the shortcut, and the missing elements count as zero. Shapes are fixed by the input
    size, so the padding is worked out here once rather than traced from tensors.
    """

    def __init__(self, block: ResidualBlock, input_shape: Shape) -> None:
        super().__init__()
        self.first = _conv_affine(block.first)
        self.second = _conv_affine(block.second)
        pool = block.shortcut_pool
        self.shortcut: nn.Module = nn.Identity() if pool is None else _pool(pool)
        branch = _conv_output(_conv_output(input_shape, block.first.conv), block.second.conv)
        shortcut = input_shape if pool is None else _pool_output(input_shape, pool)
        self.output_shape: Shape = (
            max(branch[0], shortcut[0]),
            max(branch[1], shortcut[1]),
            max(branch[2], shortcut[2]),
        )
        self.pad_branch = ZeroPad(branch, self.output_shape)
        self.pad_shortcut = ZeroPad(shortcut, self.output_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.second(torch.relu(self.first(x)))
        summed = self.pad_branch(branch) + self.pad_shortcut(self.shortcut(x))
        return torch.relu(summed)


def _residual_units(plan: DescriptorPlan) -> list[ResidualUnit]:
    shape: Shape = (3, plan.input.rows, plan.input.cols)
    shape = _pool_output(_conv_output(shape, plan.stem.conv), plan.stem_pool)
    units = []
    for block in plan.blocks:
        units.append(ResidualUnit(block, shape))
        shape = units[-1].output_shape
    return units


class DlibFaceDescriptor(nn.Module):
    """Raw RGB pixels (N, 3, 150, 150) -> dlib's unnormalised 128-D face descriptor."""

    def __init__(self, plan: DescriptorPlan) -> None:
        super().__init__()
        self.normalize = PixelNormalization(plan.input.mean_rgb)
        self.stem = nn.Sequential(_conv_affine(plan.stem), nn.ReLU(), _pool(plan.stem_pool))
        units = _residual_units(plan)
        self.blocks = nn.Sequential(*units)
        # avg_pool_everything: one window over the whole plane, whose size is static.
        _, rows, cols = units[-1].output_shape
        self.pool = nn.AvgPool2d((rows, cols))
        out_features, in_features = plan.head.weights.shape
        self.fc = nn.Linear(in_features, out_features, bias=plan.head.biases is not None)
        self.fc.weight.data = _tensor(plan.head.weights)
        if self.fc.bias is not None and plan.head.biases is not None:
            self.fc.bias.data = _tensor(plan.head.biases)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        features = self.blocks(self.stem(self.normalize(pixels)))
        descriptor: torch.Tensor = self.fc(torch.flatten(self.pool(features), start_dim=1))
        return descriptor


def build_model(dat: Path) -> tuple[DlibFaceDescriptor, InputRgbImage]:
    """Parse ``dat`` and build the eval-mode torch module (and its input contract)."""
    try:
        data = dat.read_bytes()
    except OSError as exc:
        raise ConversionError(f"cannot read dlib model {dat}: {exc}") from exc
    plan = plan_descriptor(parse_network(data))
    model = DlibFaceDescriptor(plan).eval()
    _check_shapes(model, plan)
    return model, plan.input


def _check_shapes(model: DlibFaceDescriptor, plan: DescriptorPlan) -> None:
    """One forward pass: channel counts that do not chain fail here, with a clear error."""
    probe = torch.zeros(1, 3, plan.input.rows, plan.input.cols)
    try:
        with torch.no_grad():
            output = model(probe)
    except RuntimeError as exc:
        raise ConversionError(f"dlib .dat: the layers do not fit together: {exc}") from exc
    if output.shape != (1, plan.head.weights.shape[0]):
        raise ConversionError(f"dlib .dat: unexpected descriptor shape {tuple(output.shape)}")


# ---------------------------------------------------------------------------- ONNX


def _opset(options: Mapping[str, object]) -> int:
    unknown = set(options) - {"opset"}
    if unknown:
        raise ConversionError(f"dlib_resnet: unknown convert options {sorted(unknown)}")
    opset = options.get("opset", DEFAULT_OPSET)
    if not isinstance(opset, int) or isinstance(opset, bool):
        raise ConversionError(f"dlib_resnet: opset must be an integer, got {opset!r}")
    return opset


def _export(model: nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    """torch.export-based ONNX export with a symbolic batch axis, at the exporter's own opset."""
    with torch.no_grad(), quiet_onnx_exporter():
        program = torch.onnx.export(
            model,
            (example,),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim(BATCH_AXIS)},),
            opset_version=_EXPORTER_OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    if program is None:  # only when given a file to write, which we do not
        raise ConversionError("dlib_resnet: torch.onnx.export returned no program")
    return program.model_proto


def _convert_opset(proto: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    # TensorRT 8.x (JetPack 5) parses up to opset 17; the graph uses no op that changed since.
    if opset == _EXPORTER_OPSET:
        return proto
    try:
        return onnx.version_converter.convert_version(proto, opset)
    except (RuntimeError, onnx.checker.ValidationError) as exc:
        message = f"dlib_resnet: cannot express the graph at opset {opset}: {exc}"
        raise ConversionError(message) from exc


def _strip_build_metadata(proto: onnx.ModelProto) -> None:
    """Drop what the exporter records about the build (stack traces with absolute source
    paths, torch.export node names and specs): the file must not depend on where it was built.
    """
    graph = proto.graph
    for message in (proto, graph, *graph.node, *graph.input, *graph.output, *graph.value_info):
        message.ClearField("metadata_props")
        message.ClearField("doc_string")
    for initializer in graph.initializer:
        initializer.ClearField("metadata_props")


def _onnx_bytes(model: nn.Module, example: torch.Tensor, opset: int) -> bytes:
    proto = _convert_opset(_export(model, example), opset)
    _strip_build_metadata(proto)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"dlib_resnet: the exported ONNX model is invalid: {exc}") from exc
    # Deterministic protobuf serialisation: map fields in a fixed order, so equal models
    # give equal bytes and the manifest can pin the file's sha256.
    return bytes(proto.SerializeToString(deterministic=True))


def convert(sources: Mapping[str, Path], output: Path, options: Mapping[str, object]) -> None:
    """Converter ``dlib_resnet``: ``sources["dat"]`` -> the ONNX file at ``output``."""
    if set(sources) != {"dat"}:
        raise ConversionError(f"dlib_resnet takes one source named 'dat', got {sorted(sources)}")
    opset = _opset(options)
    model, contract = build_model(sources["dat"])
    example = torch.zeros(1, 3, contract.rows, contract.cols)
    output.write_bytes(_onnx_bytes(model, example, opset))
