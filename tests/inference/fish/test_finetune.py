"""The fine-tune is for a GPU; here, one tiny optimiser step proves the recipe is wired."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.fish.config import BACKBONES, FinetuneConfig
from inference.fish.finetune import finetune_model
from inference.fish.trainset import prepare
from inference.pack.installed import ModelPack
from tests.inference.fish.conftest import make_slice

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]
# The side the step trains and validates at: what is checked is that the weights move and
# the net answers, at any side; 96 px holds a fifth of the pixels of 224 (the default).
SIDE = 96


@pytest.mark.parametrize("backbone", BACKBONES)
def test_one_step_changes_the_weights_and_predicts_finitely(
    model_pack: ModelPack, f4k: Path, tmp_path: Path, backbone: str
) -> None:
    import torch  # here: collecting the suite imports no torch

    data = prepare(make_slice(f4k, tmp_path / "d", {"fish_04": 2, "fish_16": 2}))
    config = FinetuneConfig(
        epochs=1, batch_size=2, workers=0, max_steps=1, ema_decay=0.0, input_size=SIDE
    )
    torch.set_num_threads(2)
    pth = model_pack.source_path(backbone, "pth")
    net, details = finetune_model(data, config, pth, torch.device("cpu"), lambda line: None)
    assert details["steps"] == 1 and details["epochs_run"] == 1
    from inference.pack.converters.efficientnet_lite import load_backbone

    before = load_backbone(pth).get_parameter("conv_stem.weight")
    assert not torch.equal(before, net.backbone.get_parameter("conv_stem.weight"))
    pixels = torch.zeros(1, 3, 224, 224)
    features, logits, probabilities = net(pixels)
    assert features.shape == (1, 1280) and logits.shape == (1, 2)
    assert np.isfinite(probabilities.detach().numpy()).all()


def test_a_partial_finetune_trains_the_last_stage_and_freezes_the_rest(
    model_pack: ModelPack, f4k: Path, tmp_path: Path
) -> None:
    """The CPU-sized fine-tune: frozen weights *and* frozen BatchNorm statistics stay put."""
    import torch

    from inference.pack.converters.efficientnet_lite import load_backbone

    data = prepare(make_slice(f4k, tmp_path / "d", {"fish_04": 2, "fish_16": 2}))
    config = FinetuneConfig(
        epochs=1, batch_size=2, workers=0, max_steps=1, ema_decay=0.0, train_stages=1,
        input_size=SIDE,
    )  # fmt: skip
    torch.set_num_threads(2)
    pth = model_pack.source_path("efficientnet_lite0", "pth")
    net, _ = finetune_model(data, config, pth, torch.device("cpu"), lambda line: None)
    before, after = load_backbone(pth).state_dict(), net.backbone.state_dict()
    for frozen in ("conv_stem.weight", "blocks.5.3.conv_pw.weight", "blocks.5.3.bn1.running_mean"):
        assert torch.equal(before[frozen], after[frozen]), frozen
    for trained in ("blocks.6.0.conv_pw.weight", "conv_head.weight", "bn2.running_mean"):
        assert not torch.equal(before[trained], after[trained]), trained
