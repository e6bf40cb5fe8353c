"""Training the species head on cached backbone features (torch, CPU is enough).

The recipe: class-weighted cross-entropy (the rare species count as much as the common ones),
AdamW, a cosine learning-rate schedule over the whole budget, dropout on the features, and
early stopping on validation balanced accuracy (ties go to the lower validation loss) with
the best epoch's weights kept.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from inference.fish.config import HeadConfig
from inference.fish.head import HeadWeights
from inference.fish.images import FloatArray
from inference.fish.taps import PLAIN

IntArray = npt.NDArray[np.int64]
# A feature that (nearly) never varies in training is not blown up by standardising: some
# ReLU6 channels of the depthwise tap are almost always 0, and dividing by their tiny training
# spread turned a small value on a new image into a huge logit (seen on a few-track data set:
# confidently wrong, and temperature scaling driven to its bound). GAP features spread ~0.3.
STD_FLOOR = 1e-2


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    val_balanced_accuracy: float


@dataclass(frozen=True)
class TrainedHead:
    weights: HeadWeights
    best_epoch: int
    history: tuple[EpochRecord, ...]
    seconds: float


def class_weights(labels: IntArray, n_classes: int) -> FloatArray:
    """``n / (k * count)`` for the k classes present; absent classes weigh nothing."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)


def standardisation(features: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The mean and (floored) standard deviation of training features, per feature."""
    std = np.maximum(features.std(axis=0), STD_FLOOR).astype(np.float32)
    return features.mean(axis=0).astype(np.float32), std


def balanced_accuracy(predicted: IntArray, labels: IntArray) -> float:
    recalls = [float(np.mean(predicted[labels == c] == c)) for c in np.unique(labels)]
    return float(np.mean(recalls)) if recalls else 0.0


class _Head(nn.Module):
    def __init__(self, mean: FloatArray, std: FloatArray, n_classes: int, config: HeadConfig):
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(mean))
        self.register_buffer("scale", torch.from_numpy(1.0 / std))
        width = mean.shape[0]
        layers: list[nn.Module] = [nn.Dropout(config.dropout)]
        if config.hidden:
            layers += [nn.Linear(width, config.hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = config.hidden
        layers.append(nn.Linear(width, n_classes))
        self.body = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        standardised = (features - self.get_buffer("mean")) * self.get_buffer("scale")
        logits: torch.Tensor = self.body(standardised)
        return logits

    def to_weights(
        self, backbone_sha256: str, inputs: tuple[str, ...], input_size: int
    ) -> HeadWeights:
        linears = [m for m in self.body if isinstance(m, nn.Linear)]
        layers = tuple(
            (m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()) for m in linears
        )
        mean = self.get_buffer("mean").numpy().copy()
        scale = self.get_buffer("scale").numpy().copy()
        return HeadWeights(mean, scale, layers, backbone_sha256, inputs, input_size)


def train_head(
    train: tuple[FloatArray, IntArray],
    validation: tuple[FloatArray, IntArray],
    *,
    n_classes: int,
    backbone_sha256: str,
    config: HeadConfig | None = None,
    progress: Callable[[str], None] | None = None,
    inputs: tuple[str, ...] = PLAIN,
) -> TrainedHead:
    started = time.perf_counter()
    config = config or HeadConfig()
    torch.manual_seed(config.seed)
    model = _Head(*standardisation(train[0]), n_classes, config)
    fit = _Fit(model, config, class_weights(train[1], n_classes), len(train[1]))
    x, y = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    val_x, val_y = torch.from_numpy(validation[0]), torch.from_numpy(validation[1])
    history: list[EpochRecord] = []
    best: tuple[float, float] = (-1.0, float("inf"))
    best_state, best_epoch = copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, config.epochs + 1):
        train_loss = fit.epoch(x, y)
        record = _validate(model, val_x, val_y, epoch, train_loss)
        history.append(record)
        if (record.val_balanced_accuracy, -record.val_loss) > (best[0], -best[1]):
            best = (record.val_balanced_accuracy, record.val_loss)
            best_state, best_epoch = copy.deepcopy(model.state_dict()), epoch
        if progress and epoch % 10 == 0:
            progress(_describe(record))
        if epoch - best_epoch >= config.patience:
            break
    model.load_state_dict(best_state)
    weights = model.eval().to_weights(backbone_sha256, inputs, config.input_size)
    return TrainedHead(weights, best_epoch, tuple(history), time.perf_counter() - started)


class _Fit:
    """Loss, optimiser and schedule of one run; the cosine runs over the whole budget."""

    def __init__(self, model: _Head, config: HeadConfig, weights: FloatArray, n: int) -> None:
        self.model, self.config = model, config
        self.loss_fn = nn.CrossEntropyLoss(
            weight=torch.from_numpy(weights), label_smoothing=config.label_smoothing
        )
        self.optimiser = torch.optim.AdamW(
            model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        steps = config.epochs * -(-n // config.batch_size)
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimiser, T_max=steps)
        self.generator = torch.Generator().manual_seed(config.seed)

    def epoch(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.model.train()
        order = torch.randperm(len(x), generator=self.generator)
        x, y = x[order], y[order]
        size = self.config.batch_size
        total = 0.0
        for start in range(0, len(x), size):
            batch_x, batch_y = x[start : start + size], y[start : start + size]
            self.optimiser.zero_grad()
            loss = self.loss_fn(self.model(batch_x), batch_y)
            loss.backward()
            self.optimiser.step()
            self.schedule.step()
            total += loss.item() * len(batch_x)
        return total / len(x)


def _validate(
    model: _Head, x: torch.Tensor, y: torch.Tensor, epoch: int, train_loss: float
) -> EpochRecord:
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = float(nn.functional.cross_entropy(logits, y))
    predicted = logits.argmax(dim=1).numpy()
    return EpochRecord(epoch, train_loss, loss, balanced_accuracy(predicted, y.numpy()))


def _describe(record: EpochRecord) -> str:
    return (
        f"epoch {record.epoch}: train loss {record.train_loss:.4f}, "
        f"val loss {record.val_loss:.4f}, val balanced acc {record.val_balanced_accuracy:.4f}"
    )
