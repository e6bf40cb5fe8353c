"""The head's file format is exact, and the head's ONNX graph computes what numpy does."""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from inference.fish.errors import SpeciesPackError
from inference.fish.export import head_graph
from inference.fish.graph_contract import FAMILIARITY, PROBABILITIES, SPECIES_LOGITS
from inference.fish.head import HeadWeights, head_from_json, head_to_json
from inference.fish.metrics import softmax


def _head(hidden: int) -> HeadWeights:
    rng = np.random.default_rng(hidden)
    widths = [16, hidden, 5] if hidden else [16, 5]
    layers = tuple(
        (rng.normal(size=(o, i)).astype(np.float32), rng.normal(size=o).astype(np.float32))
        for i, o in itertools.pairwise(widths)
    )
    mean, scale = rng.normal(size=16).astype(np.float32), rng.uniform(0.5, 2, 16).astype(np.float32)
    return HeadWeights(mean, scale, layers, "ab" * 32)


@pytest.mark.parametrize("hidden", [0, 8])
def test_json_round_trip_is_bit_exact(hidden: int) -> None:
    head = _head(hidden)
    back = head_from_json(head_to_json(head))
    for a, b in zip([head.mean, head.scale], [back.mean, back.scale], strict=True):
        assert a.tobytes() == b.tobytes()
    features = np.random.default_rng(9).normal(size=(3, 16)).astype(np.float32)
    assert head.logits(features).tobytes() == back.logits(features).tobytes()


@pytest.mark.parametrize("hidden", [0, 8])
def test_head_graph_matches_numpy(hidden: int) -> None:
    head = _head(hidden)
    like = helper.make_model(
        helper.make_graph([], "x", [], []), opset_imports=[helper.make_opsetid("", 18)]
    )
    model = head_graph(head, temperature=2.0, like=like)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString())
    features = np.random.default_rng(1).normal(size=(4, 16)).astype(np.float32)
    logits, probabilities = session.run(
        [SPECIES_LOGITS, PROBABILITIES], {"head/features": features}
    )
    np.testing.assert_allclose(logits, head.logits(features) / 2.0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(probabilities, softmax(head.logits(features) / 2.0), atol=1e-6)
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT


def test_damaged_head_files_are_refused() -> None:
    text = head_to_json(_head(0)).replace('"schema": 1', '"schema": 9')
    with pytest.raises(SpeciesPackError, match="not a valid species head"):
        head_from_json(text)
    with pytest.raises(SpeciesPackError):
        head_from_json("{")


def _with_prototypes(head: HeadWeights) -> HeadWeights:
    rng = np.random.default_rng(5)
    features = rng.normal(size=(20, 16)).astype(np.float32)
    return head.with_prototypes(features, np.arange(20, dtype=np.int64) % head.n_classes)


def test_prototypes_round_trip_and_a_file_without_them_reads_none() -> None:
    head = _with_prototypes(_head(0))
    back = head_from_json(head_to_json(head))
    assert back.prototypes is not None and head.prototypes is not None
    assert back.prototypes.tobytes() == head.prototypes.tobytes()
    assert head_from_json(head_to_json(_head(0))).prototypes is None


@pytest.mark.parametrize("opset", [13, 18])  # the reductions' axes: an attribute, then an input
def test_familiarity_graph_matches_numpy(opset: int) -> None:
    head = _with_prototypes(_head(8))
    like = helper.make_model(
        helper.make_graph([], "x", [], []), opset_imports=[helper.make_opsetid("", opset)]
    )
    model = head_graph(head, temperature=2.0, like=like)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString())
    features = np.random.default_rng(2).normal(size=(4, 16)).astype(np.float32)
    (familiarity,) = session.run([FAMILIARITY], {"head/features": features})
    assert familiarity.shape == (4,)
    np.testing.assert_allclose(familiarity, head.familiarity(features), atol=1e-5)
