"""``jaga fish train --mode finetune``: the whole EfficientNet-Lite backbone trained, for a GPU.

The seed's full recipe on images: ImageNet weights (mapped into timm by the pack's converter),
augmentation on the fly (rotation, flips, colour jitter, Cutout), class-weighted
cross-entropy, AdamW with a ten times smaller learning rate for the backbone than for the new
classifier, a linear warm-up then a cosine schedule, early stopping on validation balanced
accuracy, bf16 autocast on CUDA. The split, calibration, thresholds and pack are the head
mode's, so the two modes' numbers compare directly; so is the familiarity, from the
fine-tuned network's own features (:mod:`inference.fish.finetune_familiarity`).
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from inference.fish import export
from inference.fish.augment import augmented_view
from inference.fish.config import FinetuneConfig
from inference.fish.dataset import reading
from inference.fish.errors import SpeciesPackError
from inference.fish.finetune_familiarity import reference_head
from inference.fish.graph_contract import INPUT_NAME, OUTPUTS
from inference.fish.head import HeadWeights
from inference.fish.images import FloatArray, UInt8Image, letterbox, read_image
from inference.fish.int8_familiarity import int8_files
from inference.fish.metrics import IntArray
from inference.fish.pack import MODEL_FILES, SpeciesPack
from inference.fish.packing import (
    Progress,
    Trained,
    TrainOptions,
    assess,
    calibration_batches,
    with_familiarity,
    write_species_pack,
)
from inference.fish.train import check_parity
from inference.fish.train_head import balanced_accuracy, class_weights
from inference.fish.trainset import PreparedData, prepare
from inference.pack.converters.efficientnet_lite import PIXEL_MEAN, PIXEL_STD, load_backbone
from inference.quiet_logs import quiet_onnx_exporter

OPSET = 18


class _Ema:
    """An exponential moving average of a model's weights and buffers (BatchNorm statistics)."""

    def __init__(self, net: SpeciesNet, decay: float) -> None:
        self.module = copy.deepcopy(net).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, net: SpeciesNet) -> None:
        self.updates += 1
        # A short warm-up, so that the average is not dominated by the untrained start.
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for mine, theirs in zip(
            self.module.state_dict().values(), net.state_dict().values(), strict=True
        ):
            if mine.dtype.is_floating_point:
                mine.lerp_(theirs, 1 - decay)
            else:
                mine.copy_(theirs)


class _Images(Dataset[tuple[torch.Tensor, int]]):
    """Decoded crops in memory (Fish4Knowledge crops are small); uint8 HWC out."""

    def __init__(
        self, images: list[UInt8Image], labels: IntArray, augment: bool, size: int
    ) -> None:
        self._images, self._labels, self._augment, self._size = images, labels, augment, size

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self._images[index]
        if self._augment:  # torch seeds each worker from the loader's generator: reproducible
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
            image = augmented_view(image, rng, size=self._size)
        else:
            image = letterbox(image, self._size)
        return torch.from_numpy(np.ascontiguousarray(image)), int(self._labels[index])


class SpeciesNet(nn.Module):
    """Raw pixels -> (features, calibrated logits, probabilities): the pack's contract."""

    def __init__(self, backbone: nn.Module, temperature: float = 1.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.temperature = temperature

    def logits_and_features(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (pixels - PIXEL_MEAN) / PIXEL_STD
        b = self.backbone
        features: torch.Tensor = b.forward_head(b.forward_features(x), pre_logits=True)  # type: ignore[operator]
        logits: torch.Tensor = b.get_classifier()(features)  # type: ignore[operator]
        return logits, features

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, features = self.logits_and_features(pixels)
        scaled = logits / self.temperature
        return features, scaled, torch.softmax(scaled, dim=1)


def finetune_pack(
    options: TrainOptions, config: FinetuneConfig, pth: Path, device: str, progress: Progress
) -> SpeciesPack:
    """DATA is held from its scan to the last photo read: the photos are read again once the
    epochs are run, and for INT8 calibration."""
    with reading(options.data):
        return _finetune_pack(options, config, pth, device, progress)


def _finetune_pack(
    options: TrainOptions, config: FinetuneConfig, pth: Path, device: str, progress: Progress
) -> SpeciesPack:
    started = time.perf_counter()
    data = prepare(
        options.data, holdout=options.holdout,
        validation_fraction=options.validation_fraction, seed=options.seed,
    )  # fmt: skip
    for line in data.notes():  # each photo left out, as the head mode says them
        progress(line)
    net, details = finetune_model(data, config, pth, _device(device), progress)
    side, on = config.input_size, _device(device)
    val_logits, val_features = predict(net, _load(data, data.validation), on, side)
    unknown_logits, _ = predict(net, _load(data, data.unknown), on, side)
    assessment = assess(data, val_logits, data.labels(data.validation), unknown_logits, options)
    progress("species prototypes from the fine-tuned network's features of the training images")
    reference = _reference_head(net, data, on, side, _sha256(pth))
    assessment = with_familiarity(assessment, reference.familiarity(val_features))
    net.temperature = assessment.thresholds.temperature
    with tempfile.TemporaryDirectory(prefix="jaga-fish-") as scratch:
        models = export_models(net.cpu().eval(), Path(scratch), data, options, reference)
        details["timings"] = {"total_seconds": round(time.perf_counter() - started, 1)}
        files = int8_files(models, data, assessment.thresholds, (side,), progress)
        trained = Trained("finetune", models, reference.backbone_sha256, details,
                          input_sizes=(side,), files=files)  # fmt: skip
        return write_species_pack(data, assessment, trained, options, progress)


def _reference_head(
    net: SpeciesNet, data: PreparedData, device: torch.device, side: int, sha256: str
) -> HeadWeights:
    """The numpy reference of the pack's head, prototypes included (finetune_familiarity)."""
    _, train_features = predict(net, _load(data, data.train), device, side)
    classifier = net.backbone.get_classifier()  # type: ignore[operator]
    weights = (_numpy(classifier.weight), _numpy(classifier.bias))
    return reference_head(weights, train_features, data.labels(data.train),
                          backbone_sha256=sha256, input_size=side)  # fmt: skip


def finetune_model(
    data: PreparedData, config: FinetuneConfig, pth: Path, device: torch.device, progress: Progress
) -> tuple[SpeciesNet, dict[str, Any]]:
    """Train; return the best epoch's (averaged) network in eval mode, and what happened."""
    torch.manual_seed(config.seed)
    net = _initial_net(pth, len(data.known), config).to(device)
    ema = _Ema(net, config.ema_decay) if config.ema_decay else None
    train_y = data.labels(data.train)
    loader = DataLoader(
        _Images(_load(data, data.train), train_y, augment=True, size=config.input_size),
        batch_size=config.batch_size,
        shuffle=True, drop_last=len(train_y) > config.batch_size, num_workers=config.workers,
        generator=torch.Generator().manual_seed(config.seed), persistent_workers=config.workers > 0,
    )  # fmt: skip
    weights = class_weights(train_y, len(data.known))
    step = _Step(net, ema, config, steps_per_epoch=len(loader), weights=weights, device=device)
    val_images, val_y = _load(data, data.validation), data.labels(data.validation)
    best, best_state, best_epoch, history = -1.0, None, 0, []
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        step.epoch(loader)
        evaluated = ema.module if ema else net
        logits, _ = predict(evaluated, val_images, device, config.input_size)
        score = balanced_accuracy(logits.argmax(1), val_y)
        history.append({"epoch": epoch, "val_balanced_accuracy": score})
        progress(f"epoch {epoch}: val balanced accuracy {score:.4f}")
        if score > best:
            best, best_state, best_epoch = score, copy.deepcopy(evaluated.state_dict()), epoch
        if epoch - best_epoch >= config.patience or step.done:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    details = {"finetune": asdict(config), "best_epoch": best_epoch, "epochs_run": len(history),
               "steps": step.count, "train_seconds": round(time.perf_counter() - started, 1),
               "device": str(device), "history": history}  # fmt: skip
    return net.eval(), details


def _initial_net(pth: Path, n_classes: int, config: FinetuneConfig) -> SpeciesNet:
    backbone = load_backbone(pth)
    backbone.reset_classifier(n_classes)  # type: ignore[operator]
    backbone.drop_rate = config.dropout  # type: ignore[assignment]  # timm's head dropout
    for module in backbone.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = config.bn_momentum
    if config.train_stages:
        for module in frozen_modules(backbone, config.train_stages):
            module.requires_grad_(False)
    return SpeciesNet(backbone)


def frozen_modules(backbone: nn.Module, train_stages: int) -> list[nn.Module]:
    """What a partial fine-tune leaves as it is: the stem and all but the last stages."""
    stages = list(backbone.get_submodule("blocks").children())
    if not 0 < train_stages <= len(stages):
        raise SpeciesPackError(f"train_stages must be 1 to {len(stages)}, not {train_stages}")
    stem = [backbone.get_submodule("conv_stem"), backbone.get_submodule("bn1")]
    return stem + stages[: len(stages) - train_stages]


class _Step:
    """Optimiser, schedule and loss for one run; counts steps for the smoke-test limit."""

    def __init__(
        self, net: SpeciesNet, ema: _Ema | None, config: FinetuneConfig, *,
        steps_per_epoch: int, weights: Any, device: torch.device,
    ) -> None:  # fmt: skip
        self.net, self.ema, self.config, self.device = net, ema, config, device
        self.optimiser = _optimiser(net.backbone, config)
        total = config.epochs * steps_per_epoch
        warmup = config.warmup_epochs * steps_per_epoch
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimiser, lambda s: _lr_factor(s, warmup, total)
        )
        self.loss_fn = nn.CrossEntropyLoss(
            weight=torch.from_numpy(weights).to(device), label_smoothing=config.label_smoothing
        )
        self.count = 0

    @property
    def done(self) -> bool:
        return self.config.max_steps is not None and self.count >= self.config.max_steps

    def epoch(self, loader: DataLoader[tuple[torch.Tensor, int]]) -> None:
        self.net.train()
        if self.config.train_stages:  # frozen BatchNorm keeps its ImageNet statistics
            for module in frozen_modules(self.net.backbone, self.config.train_stages):
                module.eval()
        for images, labels in loader:
            pixels = images.to(self.device).permute(0, 3, 1, 2).float()
            cuda = self.device.type == "cuda"
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cuda):
                logits, _ = self.net.logits_and_features(pixels)
                loss = self.loss_fn(logits.float(), labels.to(self.device))
            self.optimiser.zero_grad(set_to_none=True)
            loss.backward()
            self.optimiser.step()
            self.schedule.step()
            if self.ema is not None:
                self.ema.update(self.net)
            self.count += 1
            if self.done:
                return


@torch.no_grad()
def predict(
    net: SpeciesNet, images: list[UInt8Image], device: torch.device, size: int
) -> tuple[FloatArray, FloatArray]:
    """Logits ``[N, C]`` and pooled penultimate features ``[N, F]`` of letterboxed images."""
    net.eval()
    classifier = net.backbone.get_classifier()  # type: ignore[operator]
    logits = [np.zeros((0, classifier.out_features), np.float32)]
    features = [np.zeros((0, classifier.in_features), np.float32)]
    for start in range(0, len(images), 128):
        batch = np.stack([letterbox(im, size) for im in images[start : start + 128]])
        pixels = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float()
        some_logits, some_features = net.logits_and_features(pixels)
        logits.append(some_logits.float().cpu().numpy())
        features.append(some_features.float().cpu().numpy())
    return np.concatenate(logits), np.concatenate(features)


def export_models(
    net: SpeciesNet, folder: Path, data: PreparedData, options: TrainOptions, head: HeadWeights
) -> dict[str, Path]:
    """The network's ONNX with ``head``'s familiarity appended, checked against ``head``
    on the network's own features; its INT8 version where asked."""
    size = head.input_size
    models = {"fp32": folder / MODEL_FILES["fp32"]}
    example = torch.zeros(2, 3, size, size)  # batch 2, so the batch cannot be fixed at 1
    with quiet_onnx_exporter():
        program = torch.onnx.export(
            net, (example,), input_names=[INPUT_NAME], output_names=list(OUTPUTS),
            dynamic_shapes={"pixels": {0: torch.export.Dim("N", min=1, max=1024)}},
            opset_version=OPSET, dynamo=True, optimize=True, verbose=False,
        )  # fmt: skip
    if program is None:
        raise SpeciesPackError("the ONNX exporter returned no program")
    export.save_model(export.with_familiarity(program.model_proto, head), models["fp32"])
    check_parity(models["fp32"], data, head, net.temperature, _features_of(net))
    if options.int8:
        models["int8"] = folder / MODEL_FILES["int8"]
        batches = calibration_batches(data, options.calibration_images, size)
        export.quantize_int8(models["fp32"], models["int8"], batches)
    return models


def _features_of(net: SpeciesNet) -> Callable[[list[UInt8Image]], FloatArray]:
    """The network's features of letterboxed images, on the device it is on."""
    device = next(net.parameters()).device
    return lambda images: predict(net, images, device, images[0].shape[0])[1]


def _numpy(parameter: torch.Tensor) -> FloatArray:
    array: FloatArray = parameter.detach().float().cpu().numpy().copy()
    return array


def _optimiser(backbone: nn.Module, config: FinetuneConfig) -> torch.optim.AdamW:
    head = list(backbone.get_classifier().parameters())  # type: ignore[operator]
    head_ids = {id(p) for p in head}
    body = [p for p in backbone.parameters() if id(p) not in head_ids and p.requires_grad]
    return torch.optim.AdamW(
        [{"params": body, "lr": config.backbone_lr}, {"params": head, "lr": config.head_lr}],
        weight_decay=config.weight_decay,
    )


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _load(data: PreparedData, indices: tuple[int, ...]) -> list[UInt8Image]:
    return [read_image(path) for path in data.paths(indices)]


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _sha256(path: Path) -> str:
    from inference.pack.files import sha256_of

    return sha256_of(path)
