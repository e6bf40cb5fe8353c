"""Pooled intermediate activations of the backbone ("taps"), for a richer species head.

The backbone file stays the pinned EfficientNet-Lite; a tap is added by graph surgery on a
copy of it, when a training run extracts features and when a species pack is built, so both
compute the same vector. A head names the taps it reads (``HeadWeights.inputs``), in order:

- ``features``: the backbone's own output, the final 1280-channel activation averaged over
  the image;
- ``last_block_depthwise``: the last inverted-residual block's depthwise activation (1152
  channels at 7 x 7 in Lite0, 1248 in Lite2), averaged over the image. The block's 1x1
  projection and the head convolution after it were trained for ImageNet's classes and mix
  these channels away; on grouped 5-fold cross-validation of the f4k seed-0 training split,
  a linear head reading both taps scored top-1 0.9083 against 0.8904 for ``features`` alone
  (on Lite0, see the default pack's card).

Taps are found by the graph's structure (walking back from ``features``), not by tensor
names, so a re-export of the same network with other names still finds them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inference.fish import graph_contract
from inference.fish.backbone_side import at_side
from inference.fish.errors import SpeciesPackError
from inference.fish.graph_contract import FEATURES
from inference.fish.images import INPUT_SIZE, FloatArray

if TYPE_CHECKING:  # onnx builds packs; the app reads only this module's names
    import onnx

LAST_BLOCK_DEPTHWISE = graph_contract.LAST_BLOCK_DEPTHWISE
KNOWN_TAPS = graph_contract.KNOWN_TAPS
PLAIN: tuple[str, ...] = (FEATURES,)
DEFAULT_TAPS = graph_contract.DEFAULT_TAPS
_PREFIX = "tap/"
_ACTIVATIONS = frozenset({"Clip", "Relu", "HardSwish", "Sigmoid", "Mul"})
_PASS_THROUGH = frozenset({"Reshape", "Flatten", "Squeeze", "ReduceMean", "GlobalAveragePool"})


def check_taps(taps: Sequence[str]) -> tuple[str, ...]:
    """The taps as a tuple; an unknown or repeated tap, or none, is a clear error."""
    unknown = [t for t in taps if t not in KNOWN_TAPS]
    if unknown or not taps or len(set(taps)) != len(taps):
        raise SpeciesPackError(
            f"taps {list(taps)}: give each of {', '.join(KNOWN_TAPS)} at most once, one or more"
        )
    return tuple(taps)


def output_name(tap: str) -> str:
    """The graph output that carries a tap (``features`` keeps its own name)."""
    return FEATURES if tap == FEATURES else _PREFIX + tap


def tapped_backbone(backbone: onnx.ModelProto, taps: Sequence[str]) -> onnx.ModelProto:
    """A copy of ``backbone`` that also outputs each tap, pooled to ``[N, C]``."""
    import onnx
    from onnx import helper

    model = onnx.ModelProto()
    model.CopyFrom(backbone)
    for tap in check_taps(taps):
        if tap == FEATURES:
            continue
        source = _find(model.graph, tap)
        pooled, flat = f"{_PREFIX}{tap}/pooled", output_name(tap)
        model.graph.node.extend([
            helper.make_node("GlobalAveragePool", [source], [pooled], name=pooled),
            helper.make_node("Flatten", [pooled], [flat], axis=1, name=flat),
        ])  # fmt: skip
        model.graph.output.append(helper.make_tensor_value_info(flat, onnx.TensorProto.FLOAT, None))
    return model


def _find(graph: onnx.GraphProto, tap: str) -> str:
    if tap != LAST_BLOCK_DEPTHWISE:
        raise SpeciesPackError(f"no rule to find tap {tap}")
    producers = {out: node for node in graph.node for out in node.output}
    tensor, convolutions = FEATURES, 0
    while convolutions < 2:  # the head convolution, then the last block's projection
        node = producers.get(tensor)
        if node is None or node.op_type not in _PASS_THROUGH | _ACTIVATIONS | {"Conv"}:
            raise SpeciesPackError(
                f"cannot find {tap}: the backbone's graph above '{FEATURES}' is not "
                "pooling <- activation <- conv <- conv"
            )
        convolutions += node.op_type == "Conv"
        tensor = node.input[0]
    source = producers.get(tensor)
    if source is None or source.op_type not in _ACTIVATIONS:
        raise SpeciesPackError(f"cannot find {tap}: the last projection reads no activation")
    return tensor


class TappedSession:
    """ONNX Runtime on the tapped backbone, for training: satisfies ``FeatureSession``.

    Its one output, ``features``, is the taps concatenated in order, which is what the
    species pack feeds its head; so head training needs to know nothing about taps. It runs
    the backbone at ``side``, as the pack built from the head will.
    """

    def __init__(
        self, backbone: Path, taps: Sequence[str], threads: int | None = None,
        side: int = INPUT_SIZE,
    ) -> None:  # fmt: skip
        import onnx
        import onnxruntime as ort

        self.taps = check_taps(taps)
        model = tapped_backbone(at_side(onnx.load(backbone), side), self.taps)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self._outputs = [output_name(tap) for tap in self.taps]

    @property
    def output_names(self) -> list[str]:
        return [FEATURES]

    def run(self, inputs: Mapping[str, FloatArray]) -> list[FloatArray]:
        parts = self._session.run(self._outputs, dict(inputs))
        return [np.concatenate(parts, axis=1).astype(np.float32)]
