"""Training settings of the two modes, free of torch so the CLI can parse them cheaply."""

from __future__ import annotations

import os
from dataclasses import dataclass

from inference.errors import InputError
from inference.fish.graph_contract import INPUT_SIZE_RANGE


def check_side(side: int) -> None:
    low, high = INPUT_SIZE_RANGE
    if not low <= side <= high:
        raise InputError(f"input_size must be {low} to {high} px, not {side}")


def check_at_least(name: str, value: float, low: float) -> None:
    if not value >= low:
        raise InputError(f"{name} must be {low} or more, not {value}")


def check_fraction(name: str, value: float, *, one_allowed: bool = False) -> None:
    """Refuse a fraction outside (0, 1), or (0, 1] where one is a meaningful value."""
    if not (0.0 < value < 1.0 or (one_allowed and value == 1.0)):
        bounds = "above 0 and at most 1" if one_allowed else "between 0 and 1"
        raise InputError(f"{name} must be {bounds}, not {value}")


# The installed model the species head reads. Lite2 scored 1-2 points of top-1 above Lite0
# on three track-disjoint f4k splits (assets/model_cards/efficientnet_lite2.md); Lite0 stays
# in the model pack for slower devices (``jaga fish train --backbone efficientnet_lite0``).
BACKBONE_ID = "efficientnet_lite2"
BACKBONES = ("efficientnet_lite2", "efficientnet_lite0")
# What calibration aims for (inference.fish.calibrate.choose_thresholds): the share of
# known-species photos answered, and the precision of those not flagged for review.
DEFAULT_KNOWN_ACCEPTANCE = 0.95
DEFAULT_REVIEW_PRECISION = 0.99


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 0  # 0: a linear head; otherwise one hidden ReLU layer of this width
    # Dropout 0.5 and weight decay 0.1 (from 0.2 and 0.01) were chosen by grouped 5-fold
    # cross-validation on the f4k seed-0 training split, never its validation split:
    # CV top-1 0.9079 against 0.9051 with the old values, both on features + the last
    # block's depthwise tap (see assets/fish/default/card.md).
    dropout: float = 0.5
    learning_rate: float = 1e-3
    weight_decay: float = 0.1
    epochs: int = 150
    batch_size: int = 128
    patience: int = 30
    label_smoothing: float = 0.0  # off: temperature scaling calibrates afterwards
    seed: int = 0
    # The side crops are letterboxed to for the frozen backbone (inference/fish/backbone_side.py).
    input_size: int = 224

    def __post_init__(self) -> None:
        """Checked before any feature is computed, not when the trained head is saved."""
        check_side(self.input_size)
        check_at_least("hidden", self.hidden, 0)
        for name in ("batch_size", "epochs", "patience"):
            check_at_least(name, getattr(self, name), 1)
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must be 0 or more and under 1, not {self.dropout}")


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 60
    batch_size: int = 64
    backbone_lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: int = 2
    dropout: float = 0.2
    label_smoothing: float = 0.1  # temperature scaling re-calibrates afterwards
    # The source's TensorFlow BatchNorm momentum (0.01) averages over ~100 steps: with a few
    # dozen steps an epoch the running statistics lag the changing weights and validation
    # (which uses them) swings from epoch to epoch. PyTorch's 0.1 keeps up.
    bn_momentum: float = 0.1
    ema_decay: float = 0.999  # validate and export an exponential moving average of the weights
    patience: int = 20
    workers: int = min(8, os.cpu_count() or 1)  # augmentation runs on the CPU
    seed: int = 0
    max_steps: int | None = None  # a smoke test stops after this many optimiser steps
    # 0 trains the whole network (the GPU recipe). k > 0 trains only the last k stages of
    # blocks, the head convolution and the classifier; the frozen stages keep their ImageNet
    # weights and BatchNorm statistics. On a CPU the last stage alone costs about a fifth of
    # a full epoch (measured: 78 s against 385 s on the f4k training split, 2 shared cores).
    train_stages: int = 0
    # The side crops are letterboxed to. f4k crops are ~90 px on their long side, so 224
    # mostly upsamples; a smaller side costs about (side / 224)^2 of the compute, in training
    # and on the device. A pack trained at another side declares it (inference/fish/pack.py).
    input_size: int = 224

    def __post_init__(self) -> None:
        check_side(self.input_size)
        for name in ("batch_size", "epochs", "patience"):
            check_at_least(name, getattr(self, name), 1)
        if not 0.0 <= self.ema_decay < 1.0:
            raise InputError(f"ema_decay must be 0 (off) or more and under 1, not {self.ema_decay}")
