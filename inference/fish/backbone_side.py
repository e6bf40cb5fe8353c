"""The installed backbone's graph at another square input side.

The backbones are exported at 224 px, but EfficientNet-Lite is fully convolutional up to a
global average pool, so the same weights run at any side; Lite2 was trained at 260 px. A head
records the side its features were computed at (``jaga fish train --mode head --set
input_size=260``), and its pack is built at that side.

Measured on the f4k validation splits (seed 0 / seed 1), a head on Lite2's plain ``features``
scored 0.9215 / 0.9161 top-1 at 260 px against 0.9039 / 0.8909 at 224 px. With the default
recipe (taps and augmented views) the gain is gone: 0.9296 / 0.9231 at 260 px against
0.9269 / 0.9259; paired with the 160 px Lite2 fine-tune, 0.9526 / 0.9594 against 0.9567 /
0.9594. So the default stays 224 px; the option is for photos that hold more detail than
f4k's ~90 px crops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inference.fish.errors import SpeciesPackError

if TYPE_CHECKING:  # onnx builds packs; the app reads only this module's names
    import onnx


def declared_side(backbone: onnx.ModelProto) -> int | None:
    """The square side the graph's only input declares, or None where it is not fixed."""
    dims = backbone.graph.input[0].type.tensor_type.shape.dim
    height, width = (dims[2].dim_value, dims[3].dim_value) if len(dims) == 4 else (0, 0)
    return height if height and height == width else None


def at_side(backbone: onnx.ModelProto, side: int) -> onnx.ModelProto:
    """A copy of ``backbone`` whose input is ``[N, 3, side, side]``; itself if it already is.

    Shapes recorded for intermediate tensors are dropped (they were worked out at the old
    side; the runtime infers them again). Strict shape inference checks the copy, so a graph
    whose shapes do not work out at the new side is refused here, when a pack is built, not
    on a device.
    """
    import onnx

    if declared_side(backbone) == side:
        return backbone
    model = onnx.ModelProto()
    model.CopyFrom(backbone)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise SpeciesPackError("the backbone's input is not [N, 3, H, W]")
    dims[2].dim_value, dims[3].dim_value = side, side
    del model.graph.value_info[:]
    try:
        onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except onnx.shape_inference.InferenceError as exc:
        raise SpeciesPackError(f"the backbone cannot run at {side} px: {exc}") from exc
    return model
