"""The INT8 model's weights take 7 bits, not 8.

On x86 CPUs without VNNI (AVX2, most laptops and many desktops) onnxruntime multiplies uint8
activations by int8 weights with an instruction that adds pairs of products into 16 bits and
saturates there; with weights using the whole int8 range the sums clip, and on the default
pack this cost about 2 points of top-1 on such a machine. Weights within [-64, 64] cannot
overflow the pair sum (255 * 64 * 2 < 32767)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from inference.fish.pack import MODEL_FILES, SpeciesPack


def test_int8_conv_weights_fit_in_seven_bits(trained_pack: SpeciesPack) -> None:
    model = onnx.load(trained_pack.root / MODEL_FILES["int8"])
    inits = {init.name: init for init in model.graph.initializer}
    dequantised = {n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    weights = [
        numpy_helper.to_array(inits[name])
        for name in dequantised
        if name in inits and inits[name].data_type == TensorProto.INT8
    ]
    assert len(weights) > 10  # every conv of the backbone, not a stray constant
    widest = max(int(np.abs(w.astype(np.int32)).max()) for w in weights)
    assert widest <= 64
