"""A head trained on the frozen backbone at another side than 224 px: its features, its file,
its pack and the default pack's rebuild all run at that side."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from inference.fish.backbone_side import at_side, declared_side
from inference.fish.classify import SpeciesClassifier
from inference.fish.config import HeadConfig
from inference.fish.default_pack import build_from_head, save_assets
from inference.fish.errors import SpeciesPackError
from inference.fish.features import FeatureCache
from inference.fish.graph_contract import FEATURES
from inference.fish.head import HeadWeights, head_from_json, head_to_json, load_head
from inference.fish.images import PREPROCESS_VERSION, letterbox, read_image, to_batch
from inference.fish.metrics import softmax
from inference.fish.pack import HEAD_FILE, MANIFEST, MODEL_FILES
from inference.fish.packing import TrainOptions
from inference.fish.taps import DEFAULT_TAPS, PLAIN, TappedSession
from inference.fish.train import Backbone, train_head_pack
from inference.pack.installed import ModelPack

SIDE = 160


def _flatten_backbone() -> onnx.ModelProto:
    """A toy 'backbone' whose classifier reads a flattened 8 x 8 map: it only works at 8 px."""
    weight = numpy_helper.from_array(np.ones((4, 3 * 8 * 8), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"], axis=1),
         helper.make_node("Gemm", ["flat", "w"], [FEATURES], transB=1)],
        "toy", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["N", 4])],
        initializer=[weight],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_graph_that_fixes_its_spatial_size_is_refused_at_another_side() -> None:
    toy = _flatten_backbone()
    assert declared_side(toy) == 8 and at_side(toy, 8) is toy
    with pytest.raises(SpeciesPackError, match="cannot run at 16 px"):
        at_side(toy, 16)


@pytest.mark.needs_shared
@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "efficientnet_lite2"])
def test_the_backbone_at_another_side_is_the_torch_network_at_that_side(
    model_pack: ModelPack, f4k: Path, backbone: str
) -> None:
    """Against the timm model the backbone was converted from, run on the same 160 px crops."""
    import onnxruntime as ort
    import torch

    from inference.pack.converters.efficientnet_lite import PIXEL_MEAN, PIXEL_STD, load_backbone

    resized = at_side(onnx.load(model_pack.model(backbone).path), SIDE)
    assert declared_side(resized) == SIDE
    paths = sorted((f4k / "fish_02").glob("*.png"))[:3]
    pixels = to_batch([letterbox(read_image(p), SIDE) for p in paths])
    session = ort.InferenceSession(resized.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run([FEATURES], {"input": pixels})
    net = load_backbone(model_pack.source_path(backbone, "pth"))
    with torch.no_grad():
        x = (torch.from_numpy(pixels) - PIXEL_MEAN) / PIXEL_STD
        pooled = net.forward_head(net.forward_features(x), pre_logits=True)  # type: ignore[operator]
        expected = pooled.numpy()
    assert got.shape == expected.shape == (3, 1280)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


def test_the_head_file_keeps_its_side_and_old_files_read_224() -> None:
    head = HeadWeights(
        np.zeros(2, np.float32), np.ones(2, np.float32),
        ((np.ones((3, 2), np.float32), np.zeros(3, np.float32)),), "x" * 64, PLAIN, 260,
    )  # fmt: skip
    text = head_to_json(head)
    assert head_from_json(text).input_size == 260
    body = json.loads(text)
    del body["input_size"]
    assert head_from_json(json.dumps(body)).input_size == 224
    for bad in (True, "260", 10, 9000):
        body["input_size"] = bad
        with pytest.raises(SpeciesPackError, match="input_size"):
            head_from_json(json.dumps(body))


def test_features_at_another_side_are_cached_apart(tmp_path: Path) -> None:
    plain = FeatureCache(tmp_path, "ab" * 32)
    assert plain.root == tmp_path / ("ab" * 8) / PREPROCESS_VERSION  # where they always were
    sized = FeatureCache(tmp_path, "ab" * 32, PLAIN, 260)
    tapped = FeatureCache(tmp_path, "ab" * 32, DEFAULT_TAPS, 260)
    assert len({plain.root, sized.root, tapped.root}) == 3


@pytest.mark.needs_shared
@pytest.mark.slow
def test_a_head_trained_at_another_side_packs_and_classifies_at_it(
    fish_slice: Path, backbone: Backbone, tmp_path: Path
) -> None:
    options = TrainOptions(
        data=fish_slice, out=tmp_path / "pack", views=1, validation_fraction=0.34,
        head=HeadConfig(epochs=30, patience=30, input_size=SIDE), calibration_images=8,
        version="0.0.3",
    )  # fmt: skip
    pack = train_head_pack(options, backbone, progress=lambda line: None)
    head = load_head(pack.root / HEAD_FILE)
    assert head.input_size == SIDE and pack.input_sizes == (SIDE,)
    assert json.loads((pack.root / MANIFEST).read_text())["input"]["shape"][2:] == [SIDE, SIDE]
    for precision in ("fp32", "int8"):
        assert declared_side(onnx.load(pack.model_path(precision))) == SIDE

    crops = [read_image(p) for p in sorted(fish_slice.glob("*/*.png"))[::7]]
    session = TappedSession(backbone.path, DEFAULT_TAPS, side=SIDE)
    (descriptor,) = session.run({"input": to_batch([letterbox(c, SIDE) for c in crops])})
    expected = softmax(head.logits(descriptor) / pack.thresholds.temperature)
    got = SpeciesClassifier(pack).probabilities(crops)
    np.testing.assert_allclose(got, expected, atol=1e-4)

    assets = tmp_path / "assets"
    save_assets(pack, assets)
    rebuilt = build_from_head(assets, tmp_path / "rebuilt", backbone.path)
    assert rebuilt.input_sizes == (SIDE,)
    assert rebuilt.sha256[MODEL_FILES["fp32"]] == pack.sha256[MODEL_FILES["fp32"]]
