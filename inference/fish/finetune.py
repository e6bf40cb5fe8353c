"""``jaga fish train --mode finetune``: the whole backbone trained, in :mod:`.finetune_net`.

Torch and timm are imported when a fine-tuning runs, not with this module: ``jaga fish``'s
command module and the tests import it, and a device without the ``models`` extra runs on
ONNX Runtime alone (collecting the test suite imported torch in every worker through here).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from inference.fish.config import FinetuneConfig
    from inference.fish.finetune_net import SpeciesNet
    from inference.fish.pack import SpeciesPack
    from inference.fish.packing import Progress, TrainOptions
    from inference.fish.trainset import PreparedData


def finetune_pack(
    options: TrainOptions, config: FinetuneConfig, pth: Path, device: str, progress: Progress
) -> SpeciesPack:
    """A species pack fine-tuned on ``options.data`` (:func:`finetune_net.finetune_pack`)."""
    from inference.fish import finetune_net

    return finetune_net.finetune_pack(options, config, pth, device, progress)


def finetune_model(
    data: PreparedData, config: FinetuneConfig, pth: Path, device: torch.device, progress: Progress
) -> tuple[SpeciesNet, dict[str, Any]]:
    """The best epoch's network and what happened (:func:`finetune_net.finetune_model`)."""
    from inference.fish import finetune_net

    return finetune_net.finetune_model(data, config, pth, device, progress)
