"""Backbone taps: the surgery finds the right activation; the pack computes what training saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from inference.fish.config import HeadConfig
from inference.fish.errors import SpeciesPackError
from inference.fish.export import species_model
from inference.fish.graph_contract import FEATURES, PROBABILITIES
from inference.fish.head import HeadWeights, head_from_json, head_to_json, load_head
from inference.fish.images import letterbox, read_image, to_batch
from inference.fish.metrics import softmax
from inference.fish.pack import HEAD_FILE
from inference.fish.packing import TrainOptions
from inference.fish.taps import (
    DEFAULT_TAPS,
    LAST_BLOCK_DEPTHWISE,
    PLAIN,
    TappedSession,
    check_taps,
    output_name,
    tapped_backbone,
)
from inference.fish.train import Backbone, train_head_pack
from inference.pack.installed import ModelPack


def _pixels(f4k: Path, n: int = 3) -> np.ndarray:
    paths = sorted((f4k / "fish_02").glob("*.png"))[:n]
    return to_batch([letterbox(read_image(path)) for path in paths])


@pytest.mark.needs_shared
@pytest.mark.parametrize(
    ("backbone", "last_block", "channels"),
    [("efficientnet_lite0", "blocks.6.0", 1152), ("efficientnet_lite2", "blocks.6.0", 1248)],
)
def test_the_tap_is_the_last_blocks_depthwise_activation_in_torch(
    model_pack: ModelPack, f4k: Path, backbone: str, last_block: str, channels: int
) -> None:
    """The ONNX surgery against the timm model the backbone was converted from."""
    import torch  # here: collecting the suite imports no torch

    from inference.pack.converters.efficientnet_lite import PIXEL_MEAN, PIXEL_STD, load_backbone

    pixels = _pixels(f4k)
    net = load_backbone(model_pack.source_path(backbone, "pth"))
    seen: list[torch.Tensor] = []
    depthwise_bn = net.get_submodule(f"{last_block}.bn2")  # BatchNorm + ReLU6 after conv_dw
    depthwise_bn.register_forward_hook(lambda m, i, out: seen.append(out))
    with torch.no_grad():
        net((torch.from_numpy(pixels) - PIXEL_MEAN) / PIXEL_STD)
    expected = seen[0].mean(dim=(2, 3)).numpy()
    (got,) = TappedSession(model_pack.model(backbone).path, (LAST_BLOCK_DEPTHWISE,)).run(
        {"input": pixels}
    )
    assert got.shape == (3, channels)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


@pytest.mark.needs_shared
@pytest.mark.parametrize("taps", [DEFAULT_TAPS, (LAST_BLOCK_DEPTHWISE,)])
def test_a_tapped_pack_gives_the_numpy_heads_probabilities(
    model_pack: ModelPack, f4k: Path, taps: tuple[str, ...]
) -> None:
    backbone = model_pack.model("efficientnet_lite0").path
    pixels = _pixels(f4k, 4)
    (descriptor,) = TappedSession(backbone, taps).run({"input": pixels})
    (plain,) = TappedSession(backbone, PLAIN).run({"input": pixels})
    rng = np.random.default_rng(0)
    weight = rng.normal(scale=0.05, size=(6, descriptor.shape[1])).astype(np.float32)
    head = HeadWeights(
        descriptor.mean(axis=0), np.full(descriptor.shape[1], 0.5, np.float32),
        ((weight, rng.normal(size=6).astype(np.float32)),), "x" * 64, taps,
    )  # fmt: skip
    model = species_model(onnx.load(backbone), head_from_json(head_to_json(head)), 1.7)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    features, probabilities = session.run([FEATURES, PROBABILITIES], {"input": pixels})
    np.testing.assert_allclose(probabilities, softmax(head.logits(descriptor) / 1.7), atol=1e-5)
    np.testing.assert_allclose(features, plain, atol=1e-5)  # the contract's output is kept


def test_a_backbone_of_another_shape_is_a_clear_error() -> None:
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], [FEATURES])],
        "flat", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, [1, 3])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(SpeciesPackError, match="cannot find last_block_depthwise"):
        tapped_backbone(model, DEFAULT_TAPS)
    assert tapped_backbone(model, PLAIN) == model  # the plain head needs no surgery


def test_taps_are_checked_and_old_head_files_read_the_plain_features() -> None:
    with pytest.raises(SpeciesPackError, match="at most once"):
        check_taps(["features", "features"])
    with pytest.raises(SpeciesPackError, match="at most once"):
        check_taps(["nonsense"])
    head = HeadWeights(
        np.zeros(2, np.float32), np.ones(2, np.float32),
        ((np.ones((3, 2), np.float32), np.zeros(3, np.float32)),), "x" * 64,
    )  # fmt: skip
    text = head_to_json(head).replace('"inputs": [\n  "features"\n ],\n', "")
    assert '"inputs"' not in text
    assert head_from_json(text).inputs == PLAIN
    assert output_name(LAST_BLOCK_DEPTHWISE) == "tap/last_block_depthwise"


@pytest.mark.needs_shared
@pytest.mark.slow
def test_head_mode_with_the_default_taps_packs_fp32_and_int8(
    fish_slice: Path, backbone: Backbone, tmp_path: Path
) -> None:
    """The default recipe end to end on the slice: training checks its own export's parity
    (it raises otherwise); here the pack's head, and the INT8 model, are checked too."""
    options = TrainOptions(
        data=fish_slice, out=tmp_path / "pack", views=1, validation_fraction=0.34,
        head=HeadConfig(epochs=30, patience=30), calibration_images=8, version="0.0.2",
    )  # fmt: skip
    pack = train_head_pack(options, backbone, progress=lambda line: None)
    head = load_head(pack.root / HEAD_FILE)
    assert head.inputs == DEFAULT_TAPS and head.n_features == 1280 + 1152
    assert pack.training()["taps"] == list(DEFAULT_TAPS)
    pixels = to_batch([letterbox(read_image(p)) for p in sorted(fish_slice.glob("*/*.png"))[::7]])
    (descriptor,) = TappedSession(backbone.path, DEFAULT_TAPS).run({"input": pixels})
    expected = softmax(head.logits(descriptor) / pack.thresholds.temperature)
    fp32, int8 = (
        ort.InferenceSession(str(pack.model_path(p)), providers=["CPUExecutionProvider"]).run(
            [PROBABILITIES], {"input": pixels}
        )[0]
        for p in ("fp32", "int8")
    )
    np.testing.assert_allclose(fp32, expected, atol=1e-4)
    assert np.mean(int8.argmax(1) == fp32.argmax(1)) >= 0.8
    assert pack.model_path("int8").stat().st_size < pack.model_path("fp32").stat().st_size / 2


def test_the_train_command_reads_the_default_taps_unless_told_otherwise() -> None:
    import argparse

    from inference.fish.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    base = ["fish", "train", "--data", "d", "--out", "o"]
    assert tuple(parser.parse_args(base).taps) == DEFAULT_TAPS
    assert tuple(parser.parse_args([*base, "--taps", "features"]).taps) == PLAIN
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--taps", "logits"])
