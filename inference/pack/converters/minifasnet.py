"""MiniFASNet passive-liveness models: our torch definition and their export to ONNX.

Minivision's Silent-Face-Anti-Spoofing (Apache-2.0) publishes two small classifiers that the
face pipeline fuses: MiniFASNetV2 on a face crop enlarged 2.7 times and MiniFASNetV1SE on one
enlarged 4 times. Both are pruned MobileFaceNet-style networks on an 80x80 crop; they differ
only in the pruned channel widths and in V1SE's squeeze-and-excitation on the last block of
each residual stage.

The modules below are written for inference and keep the upstream parameter names, so the
published state dicts load with ``strict=True``. The training-only parts of the upstream code
(the Fourier-spectrum ``FTGenerator`` auxiliary head and dropout) carry no inference weights;
``FTGenerator`` keys, should a checkpoint hold them, are dropped explicitly.

Input contract of the exported graph: ``input`` float32 ``[N, 3, 80, 80]``, BGR, raw pixel
values 0-255 (upstream's ``ToTensor`` has the division by 255 commented out). Output:
``logits`` float32 ``[N, 3]``, pre-softmax; class 1 is a real face, 0 and 2 are attacks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.functional import avg_pool2d

from inference.errors import ConversionError
from inference.quiet_logs import quiet_onnx_exporter

_LOG = logging.getLogger(__name__)

INPUT_SIZE = 80
NUM_CLASSES = 3
EMBEDDING_SIZE = 128
REAL_CLASS = 1
# 17 is the newest opset that every TensorRT we target (JetPack 5 included) parses.
OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
BATCH_AXIS = "N"
UPSTREAM = "minivision-ai/Silent-Face-Anti-Spoofing@b6d5f04"

# Prefixes a published checkpoint may carry around the network's own parameter names.
_DATA_PARALLEL_PREFIX = "module."
_MULTI_FT_PREFIX = "model."
_FT_GENERATOR_PREFIX = "FTGenerator."


@dataclass(frozen=True)
class Widths:
    """Channel widths left by upstream's pruning.

    Each stage is a stride-2 bottleneck into ``width`` channels followed by residual
    bottlenecks at that width; a bottleneck's only free width is its expansion, listed here.
    """

    stem: int
    stage_widths: tuple[int, int, int]
    down_expansions: tuple[int, int, int]
    residual_expansions: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    head: int
    squeeze_excite: bool


# Upstream's keep_dict "1.8M" (V1, V1SE) and "1.8M_" (V2), regrouped by stage.
_WIDTHS_V1SE = Widths(
    stem=32,
    stage_widths=(64, 128, 128),
    down_expansions=(103, 231, 308),
    residual_expansions=((13, 26, 13, 52), (154, 52, 26, 52, 26, 26), (26, 26)),
    head=512,
    squeeze_excite=True,
)
_WIDTHS_V2 = replace(
    _WIDTHS_V1SE,
    residual_expansions=((13, 13, 13, 13), (231, 52, 26, 77, 26, 26), (26, 26)),
    squeeze_excite=False,
)
VARIANTS: Mapping[str, Widths] = {"MiniFASNetV2": _WIDTHS_V2, "MiniFASNetV1SE": _WIDTHS_V1SE}


class ConvBnPrelu(nn.Module):
    """Convolution, batch norm, per-channel PReLU (upstream ``Conv_block``)."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.prelu = nn.PReLU(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.bn(self.conv(x)))  # type: ignore[no-any-return]


class ConvBn(nn.Module):
    """Convolution and batch norm with no activation (upstream ``Linear_block``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, groups: int = 1) -> None:
        super().__init__()
        # Unpadded on purpose: the head's kernel covers the whole 5x5 map to make it 1x1.
        self.conv = nn.Conv2d(c_in, c_out, kernel, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))  # type: ignore[no-any-return]


class SqueezeExcite(nn.Module):
    """Channel gating from globally pooled features (upstream ``SEModule``, reduction 4)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        squeezed = channels // reduction
        self.fc1 = nn.Conv2d(channels, squeezed, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(squeezed)
        self.fc2 = nn.Conv2d(squeezed, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A pool over the whole (static) map exports as AveragePool, which opset 17 has; a
        # mean exports as ReduceMean with opset 18's axes input, which cannot be taken back.
        gate = avg_pool2d(x, kernel_size=x.shape[-2:])
        gate = torch.relu(self.bn1(self.fc1(gate)))
        gate = torch.sigmoid(self.bn2(self.fc2(gate)))
        return x * gate


class Bottleneck(nn.Module):
    """Expand 1x1, depthwise 3x3, project 1x1 (upstream ``Depth_Wise`` / ``Depth_Wise_SE``).

    Residual bottlenecks keep their width and add their input back; the optional
    squeeze-and-excitation gates the projected features before that addition.
    """

    def __init__(
        self, c_in: int, expansion: int, c_out: int, *, residual: bool, squeeze_excite: bool
    ) -> None:
        super().__init__()
        self.residual = residual
        self.conv = ConvBnPrelu(c_in, expansion)
        self.conv_dw = ConvBnPrelu(
            expansion, expansion, kernel=3, stride=1 if residual else 2, groups=expansion
        )
        self.project = ConvBn(expansion, c_out)
        self.se_module = SqueezeExcite(c_out) if squeeze_excite else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.project(self.conv_dw(self.conv(x)))
        if self.se_module is not None:
            out = self.se_module(out)
        return x + out if self.residual else out


class ResidualStage(nn.Module):
    """Residual bottlenecks at one width; with SE, only the last one is gated (as upstream)."""

    def __init__(self, width: int, expansions: tuple[int, ...], *, squeeze_excite: bool) -> None:
        super().__init__()
        last = len(expansions) - 1
        self.model = nn.Sequential(
            *(
                Bottleneck(
                    width, e, width, residual=True, squeeze_excite=squeeze_excite and i == last
                )
                for i, e in enumerate(expansions)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # type: ignore[no-any-return]


class MiniFASNet(nn.Module):
    """The inference graph shared by all variants; attribute names match upstream's."""

    def __init__(self, widths: Widths, input_size: int = INPUT_SIZE) -> None:
        super().__init__()
        w = widths
        s1, s2, s3 = w.stage_widths
        d1, d2, d3 = w.down_expansions
        r1, r2, r3 = w.residual_expansions
        se = w.squeeze_excite
        self.conv1 = ConvBnPrelu(3, w.stem, kernel=3, stride=2)
        self.conv2_dw = ConvBnPrelu(w.stem, w.stem, kernel=3, groups=w.stem)
        self.conv_23 = Bottleneck(w.stem, d1, s1, residual=False, squeeze_excite=False)
        self.conv_3 = ResidualStage(s1, r1, squeeze_excite=se)
        self.conv_34 = Bottleneck(s1, d2, s2, residual=False, squeeze_excite=False)
        self.conv_4 = ResidualStage(s2, r2, squeeze_excite=se)
        self.conv_45 = Bottleneck(s2, d3, s3, residual=False, squeeze_excite=False)
        self.conv_5 = ResidualStage(s3, r3, squeeze_excite=se)
        self.conv_6_sep = ConvBnPrelu(s3, w.head)
        # Four stride-2 layers leave a ceil(size / 16) map, which this depthwise kernel spans.
        head_kernel = math.ceil(input_size / 16)
        self.conv_6_dw = ConvBn(w.head, w.head, kernel=head_kernel, groups=w.head)
        self.linear = nn.Linear(w.head, EMBEDDING_SIZE, bias=False)
        self.bn = nn.BatchNorm1d(EMBEDDING_SIZE)
        self.prob = nn.Linear(EMBEDDING_SIZE, NUM_CLASSES, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in (
            self.conv1,
            self.conv2_dw,
            self.conv_23,
            self.conv_3,
            self.conv_34,
            self.conv_4,
            self.conv_45,
            self.conv_5,
            self.conv_6_sep,
            self.conv_6_dw,
        ):
            x = stage(x)
        embedding = self.bn(self.linear(torch.flatten(x, 1)))
        return self.prob(embedding)  # type: ignore[no-any-return]


def build_model(variant: str) -> MiniFASNet:
    """An untrained ``variant`` in eval mode; ConversionError for an unknown name."""
    try:
        widths = VARIANTS[variant]
    except KeyError:
        raise ConversionError(
            f"unknown MiniFASNet variant {variant!r}; known: {', '.join(sorted(VARIANTS))}"
        ) from None
    return MiniFASNet(widths).eval()


def load_model(variant: str, weights: Path) -> MiniFASNet:
    """``variant`` with the upstream state dict at ``weights`` loaded strictly, in eval mode."""
    model = build_model(variant)
    state = _inference_state(_read_state_dict(weights))
    _check_keys(variant, set(model.state_dict()), set(state))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # shapes differ: a checkpoint of another variant or size
        raise ConversionError(f"{weights.name} does not fit {variant}: {exc}") from exc
    return model


def _read_state_dict(weights: Path) -> dict[str, torch.Tensor]:
    try:
        state: Any = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises bare pickle and zip errors for foreign files
        raise ConversionError(f"cannot read {weights.name} as a torch state dict: {exc}") from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ConversionError(f"{weights.name} is not a state dict of named tensors")
    return dict(state)


def _inference_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip DataParallel / MultiFTNet wrapping and drop the training-only FTGenerator."""
    unwrapped = {k.removeprefix(_DATA_PARALLEL_PREFIX): v for k, v in state.items()}
    kept = {k: v for k, v in unwrapped.items() if not k.startswith(_FT_GENERATOR_PREFIX)}
    if dropped := len(unwrapped) - len(kept):
        _LOG.info("dropped %d training-only FTGenerator tensors", dropped)
    return {k.removeprefix(_MULTI_FT_PREFIX): v for k, v in kept.items()}


def _check_keys(variant: str, expected: set[str], found: set[str]) -> None:
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        raise ConversionError(
            f"state dict does not match {variant}: {len(missing)} missing "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )


def export_onnx(model: MiniFASNet, variant: str) -> bytes:
    """The serialised ONNX graph of ``model``, batch axis dynamic, stable byte for byte."""
    try:
        proto = _trace(model)
    except Exception as exc:  # the exporter raises torch, onnxscript and onnx errors alike
        raise ConversionError(f"exporting {variant} to ONNX failed: {exc}") from exc
    _check_opset(proto)
    _make_reproducible(proto)
    _describe(proto, variant)
    data: bytes = proto.SerializeToString(deterministic=True)
    return data


def _trace(model: MiniFASNet) -> Any:
    # Batch 2, not 1: torch.export specialises sizes 0 and 1, which would pin the batch axis.
    example = torch.zeros(2, 3, INPUT_SIZE, INPUT_SIZE)
    with torch.no_grad(), quiet_onnx_exporter():
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=OPSET,
            dynamic_shapes=({0: torch.export.Dim(BATCH_AXIS)},),
            optimize=True,  # folds every batch norm into the convolution or Gemm before it
            verbose=False,
        )
    if program is None:  # only the legacy exporter writes to a file and returns nothing
        raise ConversionError("torch.onnx.export returned no ONNX program")
    return program.model_proto


def _check_opset(proto: Any) -> None:
    """The exporter translates at opset 18 and converts down; on failure it silently keeps 18."""
    versions = {entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx")}
    if versions != {OPSET}:
        raise ConversionError(f"export produced opset {sorted(versions)}, not {OPSET}")


def _make_reproducible(proto: Any) -> None:
    """Drop what varies with the torch build rather than the model, so the sha256 can be pinned.

    ``producer_version`` carries the wheel's local tag (``+cpu``, ``+cu130``); the per-node
    metadata records exporter internals (rewrite rule names, traced node names).
    """
    proto.producer_name = "jaga"
    proto.producer_version = f"minifasnet-onnx-{OPSET}"
    graph = proto.graph
    for item in (*graph.node, *graph.input, *graph.output, *graph.value_info):
        del item.metadata_props[:]
    del proto.metadata_props[:]


def _describe(proto: Any, variant: str) -> None:
    """Record the contract in the file itself for anyone who opens it in Netron."""
    entries = {
        "source": f"{UPSTREAM} {variant}",
        "licence": "Apache-2.0",
        "input": f"{INPUT_NAME}: float32 [N,3,{INPUT_SIZE},{INPUT_SIZE}], BGR, 0-255 unnormalised",
        "output": f"{OUTPUT_NAME}: float32 [N,{NUM_CLASSES}], pre-softmax, class {REAL_CLASS} real",
    }
    for key, value in entries.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value


def _variant(options: Mapping[str, object]) -> str:
    variant = options.get("variant")
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ConversionError(
            f"minifasnet needs option variant in {sorted(VARIANTS)}, got {variant!r}"
        )
    return variant


def convert(sources: Mapping[str, Path], output: Path, options: Mapping[str, object]) -> None:
    """Convert the upstream state dict ``sources["pth"]`` into ONNX at ``output``."""
    variant = _variant(options)
    if "pth" not in sources:
        raise ConversionError(f"minifasnet needs a 'pth' source, got {sorted(sources)}")
    model = load_model(variant, sources["pth"])
    output.write_bytes(export_onnx(model, variant))
