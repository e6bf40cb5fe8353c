"""Training settings of the two modes, free of torch so the CLI can parse them cheaply."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 0  # 0: a linear head; otherwise one hidden ReLU layer of this width
    dropout: float = 0.2
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    epochs: int = 150
    batch_size: int = 128
    patience: int = 30
    label_smoothing: float = 0.0  # off: temperature scaling calibrates afterwards
    seed: int = 0


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
