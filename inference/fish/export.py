"""The species pack's ONNX: the backbone graph with the head appended, and its INT8 version.

The head is written as ONNX nodes directly from :class:`HeadWeights` (no torch), so the
installer can rebuild a pack from the backbone and a head file with ``onnx`` alone, and the
result is the same file, byte for byte, on every machine. The temperature is inside the
graph: ``probabilities`` are already calibrated.

The head reads the backbone taps it names (:mod:`inference.fish.taps`): their pooling nodes
are added to the backbone graph here, the same surgery the training run's feature extractor
used, so the pack computes the head's input exactly as training did.

Graph contract: input ``input`` float32 ``[N, 3, S, S]`` RGB 0-255 (S: the head's side, 224
unless it was trained at another; a fine-tune or a combined pack declares its own); outputs
``features`` ``[N, 1280]`` (the backbone's, for retrieval and drift checks),
``species_logits`` ``[N, C]`` (calibrated logits) and ``probabilities`` ``[N, C]``; a head
with species prototypes adds ``familiarity`` ``[N]`` (:mod:`inference.fish.head`), so a device
gets it in the same run; :func:`with_familiarity` appends the same output to a fine-tune's
graph.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from inference.fish.backbone_side import at_side
from inference.fish.errors import SpeciesPackError
from inference.fish.graph_contract import (
    FAMILIARITY,
    FEATURES,
    INPUT_NAME,
    OUTPUTS,
    PROBABILITIES,
    SPECIES_LOGITS,
)
from inference.fish.head import NORM_FLOOR, HeadWeights
from inference.fish.images import FloatArray
from inference.fish.taps import PLAIN, output_name, tapped_backbone
from inference.quiet_logs import quiet_loggers

CALIBRATION_PERCENTILE = 99.99
_HEAD = "head/"  # prefix of every head tensor and node, so nothing clashes with the backbone


def head_graph(head: HeadWeights, temperature: float, like: onnx.ModelProto) -> onnx.ModelProto:
    """The head (concatenate its taps, standardise, layers, / T, softmax) as a model with
    ``like``'s opset and IR. A head that reads ``features`` alone takes it directly."""
    inits = [
        _tensor("mean", head.mean),
        _tensor("scale", head.scale),
        _tensor("temperature", np.array(temperature, dtype=np.float32)),
    ]
    nodes = []
    if head.inputs != PLAIN:
        tap_inputs = [_tap_input(tap) for tap in head.inputs]
        nodes.append(helper.make_node("Concat", tap_inputs, [f"{_HEAD}features"], axis=1))
    nodes += [
        helper.make_node("Sub", [f"{_HEAD}features", f"{_HEAD}mean"], [f"{_HEAD}centred"]),
        helper.make_node("Mul", [f"{_HEAD}centred", f"{_HEAD}scale"], [f"{_HEAD}x0"]),
    ]
    x = f"{_HEAD}x0"
    for i, (weight, bias) in enumerate(head.layers):
        inits += [_tensor(f"w{i}", weight), _tensor(f"b{i}", bias)]
        out = f"{_HEAD}gemm{i}"
        nodes.append(helper.make_node("Gemm", [x, f"{_HEAD}w{i}", f"{_HEAD}b{i}"], [out], transB=1))
        x = out
        if i < len(head.layers) - 1:
            nodes.append(helper.make_node("Relu", [out], [f"{_HEAD}relu{i}"]))
            x = f"{_HEAD}relu{i}"
    nodes += [
        helper.make_node("Div", [x, f"{_HEAD}temperature"], [SPECIES_LOGITS]),
        helper.make_node("Softmax", [SPECIES_LOGITS], [PROBABILITIES], axis=1),
    ]
    if head.prototypes is not None:
        inits += _familiarity_initialisers(head.prototypes)
        nodes += _familiarity_nodes(f"{_HEAD}x0", _opset(like))
    _name_nodes(nodes)
    inputs = [_batch_of(f"{_HEAD}features", head.n_features)]
    if head.inputs != PLAIN:
        inputs = [_batch_of(_tap_input(tap), None) for tap in head.inputs]
    outputs = [_batch_of(name, head.n_classes) for name in (SPECIES_LOGITS, PROBABILITIES)]
    if head.prototypes is not None:
        outputs.append(helper.make_tensor_value_info(FAMILIARITY, TensorProto.FLOAT, ["N"]))
    graph = helper.make_graph(nodes, "species_head", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=list(like.opset_import))
    model.ir_version = like.ir_version
    return model


def species_model(
    backbone: onnx.ModelProto, head: HeadWeights, temperature: float
) -> onnx.ModelProto:
    """Backbone (at the head's side, with its taps) + head as one graph; the ImageNet
    classifier is pruned."""
    outputs = [output.name for output in backbone.graph.output]
    if FEATURES not in outputs or [i.name for i in backbone.graph.input] != [INPUT_NAME]:
        raise SpeciesPackError(f"the backbone must map '{INPUT_NAME}' to '{FEATURES}'")
    names = [*OUTPUTS, *([FAMILIARITY] if head.prototypes is not None else [])]
    io_map = [(FEATURES, f"{_HEAD}features")]
    if head.inputs != PLAIN:
        io_map = [(output_name(tap), _tap_input(tap)) for tap in head.inputs]
    sized = at_side(backbone, head.input_size)
    merged = onnx.compose.merge_models(
        tapped_backbone(sized, head.inputs), head_graph(head, temperature, backbone),
        io_map=io_map, outputs=names,
        name="jaga_fish_species", producer_name="jaga", producer_version="1",
    )  # fmt: skip
    pruned = onnx.utils.Extractor(merged).extract_model([INPUT_NAME], names)
    pruned.producer_name, pruned.producer_version = "jaga", "1"
    _one_opset_per_domain(pruned)
    onnx.checker.check_model(pruned, full_check=True)
    return pruned


def familiarity_graph(head: HeadWeights, like: onnx.ModelProto) -> onnx.ModelProto:
    """``features`` -> standardise -> ``familiarity`` alone, as a model with ``like``'s opset
    and IR: the head graph's familiarity for a graph that has a classifier of its own (a
    fine-tune). The head must carry prototypes."""
    if head.prototypes is None:
        raise SpeciesPackError("familiarity needs a head with species prototypes")
    inits = [_tensor("mean", head.mean), _tensor("scale", head.scale)]
    inits += _familiarity_initialisers(head.prototypes)
    nodes = [
        helper.make_node("Sub", [f"{_HEAD}features", f"{_HEAD}mean"], [f"{_HEAD}centred"]),
        helper.make_node("Mul", [f"{_HEAD}centred", f"{_HEAD}scale"], [f"{_HEAD}x0"]),
        *_familiarity_nodes(f"{_HEAD}x0", _opset(like)),
    ]
    _name_nodes(nodes)
    inputs = [_batch_of(f"{_HEAD}features", head.n_features)]
    outputs = [helper.make_tensor_value_info(FAMILIARITY, TensorProto.FLOAT, ["N"])]
    graph = helper.make_graph(nodes, "species_familiarity", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=list(like.opset_import))
    model.ir_version = like.ir_version
    return model


def with_familiarity(model: onnx.ModelProto, head: HeadWeights) -> onnx.ModelProto:
    """``model`` (a pack graph that gives ``features``) with the ``familiarity`` output
    computed from them by ``head``'s standardisation and prototypes."""
    names = [output.name for output in model.graph.output]
    if FEATURES not in names:
        raise SpeciesPackError(f"familiarity is computed from '{FEATURES}', which is not given")
    merged = onnx.compose.merge_models(
        model, familiarity_graph(head, model), io_map=[(FEATURES, f"{_HEAD}features")],
        outputs=[*names, FAMILIARITY],
        name="jaga_fish_species", producer_name="jaga", producer_version="1",
    )  # fmt: skip
    _one_opset_per_domain(merged)
    onnx.checker.check_model(merged, full_check=True)
    return merged


def _one_opset_per_domain(model: onnx.ModelProto) -> None:
    """merge_models concatenates both models' opset imports; tools that expect one entry per
    domain (the quantiser among them) refuse the duplicate."""
    opsets = sorted({(o.domain, o.version) for o in model.opset_import})
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in opsets)


def save_model(model: onnx.ModelProto, path: Path) -> None:
    path.write_bytes(model.SerializeToString(deterministic=True))


def quantize_int8(fp32: Path, output: Path, calibration: Sequence[FloatArray]) -> None:
    """Static INT8 (QDQ, per-channel weights in 7 bits) calibrated on letterboxed training images.

    Activation ranges are the 99.99th percentile rather than the extremes: on the f4k
    validation split this kept 0.9175 top-1 against 0.9093 for min-max (FP32: 0.9229; Lite0).

    Weights take 7 bits (``reduce_range``): on an x86 CPU without VNNI (AVX2 alone, as most
    laptops) onnxruntime multiplies uint8 activations by int8 weights with an instruction
    that adds pairs of products into 16 bits and saturates, so full-range weights clip sums.
    On the default Lite2 pack, f4k seed-0 validation, such a CPU, the same 96 training
    images: top-1 0.8890 with 8-bit weights, 0.9093 with 7 (FP32 0.9269), at the same size
    and speed. Unsigned 8-bit weights avoid the clipping too (0.9175) but ran 2-4 times
    slower than FP32 there.

    The head stays in float: it is a few thousand multiply-adds, and quantising the last
    layer would move the calibrated probabilities that the thresholds were chosen on.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        # One image a run: the calibrator stacks every run's activations into one array,
        # which fails when the runs differ in size (a last batch short of the others).
        def __init__(self) -> None:
            self._images: Iterator[FloatArray] = (
                batch[i : i + 1] for batch in calibration for i in range(len(batch))
            )

        def get_next(self) -> dict[str, FloatArray] | None:
            image = next(self._images, None)
            return None if image is None else {INPUT_NAME: image}

    prepared = output.with_suffix(".prep.onnx")
    try:
        with _quiet_quantiser():
            quant_pre_process(fp32, prepared, skip_symbolic_shape=True)
            head_nodes = nodes_after_features(onnx.load(prepared))
            quantize_static(
                prepared, output, _Reader(),
                quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.Percentile, nodes_to_exclude=head_nodes,
                extra_options={"CalibPercentile": CALIBRATION_PERCENTILE},
            )  # fmt: skip
    finally:
        prepared.unlink(missing_ok=True)


class _BelowWarningsOfOnnxruntime(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or "onnxruntime" not in record.pathname


@contextmanager
def _quiet_quantiser() -> Iterator[None]:
    """Without onnxruntime's quantiser's own output: it prints its progress and logs, at
    INFO on the root logger (which ``jaga`` shows), a line per weight scale it widens (129
    for the default pack), burying a training run's own lines. Its warnings still show."""
    dropped = _BelowWarningsOfOnnxruntime()
    root = logging.getLogger()
    root.addFilter(dropped)
    try:
        # Its own named loggers' records reach the root's handlers without the root's filters.
        with quiet_loggers("onnxruntime"), redirect_stdout(io.StringIO()):
            yield
    finally:
        root.removeFilter(dropped)


def nodes_after_features(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes not needed to compute ``features``: the head, however exported."""
    nodes = list(model.graph.node)
    producers = {out: i for i, node in enumerate(nodes) for out in node.output}
    needed: set[int] = set()
    stack = [FEATURES]
    while stack:
        index = producers.get(stack.pop())
        if index is not None and index not in needed:
            needed.add(index)
            stack.extend(nodes[index].input)
    return [node.name for i, node in enumerate(nodes) if i not in needed]


def _familiarity_initialisers(prototypes: FloatArray) -> list[TensorProto]:
    return [
        _tensor("prototypes_t", prototypes.T),
        _tensor("norm_floor", np.array(NORM_FLOOR, dtype=np.float32)),
        numpy_helper.from_array(np.array([1], dtype=np.int64), f"{_HEAD}axis1"),
    ]


def _name_nodes(nodes: list[onnx.NodeProto]) -> None:
    """Each head node named after its output, under the head's prefix."""
    for node in nodes:
        node.name = _HEAD + node.output[0].removeprefix(_HEAD)


def _familiarity_nodes(standardised: str, opset: int) -> list[onnx.NodeProto]:
    """``max_c cos(x, prototype_c)``: x over its norm (floored), times the unit prototypes."""
    h = _HEAD
    return [
        _reduce("ReduceL2", standardised, f"{h}norm", opset, keepdims=1),
        helper.make_node("Max", [f"{h}norm", f"{h}norm_floor"], [f"{h}norm_floored"]),
        helper.make_node("Div", [standardised, f"{h}norm_floored"], [f"{h}unit"]),
        helper.make_node("MatMul", [f"{h}unit", f"{h}prototypes_t"], [f"{h}similarity"]),
        _reduce("ReduceMax", f"{h}similarity", FAMILIARITY, opset, keepdims=0),
    ]


def _reduce(op: str, x: str, out: str, opset: int, *, keepdims: int) -> onnx.NodeProto:
    """A reduction over axis 1: from opset 18 the axes are an input, before an attribute."""
    if opset >= 18:
        return helper.make_node(op, [x, f"{_HEAD}axis1"], [out], keepdims=keepdims)
    return helper.make_node(op, [x], [out], axes=[1], keepdims=keepdims)


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _batch_of(name: str, width: int | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", width or "C_" + name])


def _tensor(name: str, array: FloatArray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), _HEAD + name)


def _tap_input(tap: str) -> str:
    """The head graph's input for one tap (distinct from the concatenated ``head/features``)."""
    return f"{_HEAD}in/{output_name(tap)}"
