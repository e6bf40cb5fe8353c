"""The species head's weights as plain numpy, and their small file format.

A head is ``standardise -> [Linear -> ReLU]* -> Linear`` over the concatenation of the
backbone taps it names (:mod:`inference.fish.taps`). It is stored as JSON with each array as
base64 of little-endian float32 and its shape, plus the taps and the sha256 of the backbone
it was trained on: small enough for the repository, exact to the bit, and readable without
torch, so the installer can build the pack's ONNX from it with ``onnx`` alone. A file
without ``inputs`` (written before taps existed) reads ``features`` alone; one without
``input_size`` (written before heads could be trained at another side) reads 224 px crops.

A head may carry ``prototypes``: each species' mean training feature vector, standardised as
the head sees it and scaled to unit length. A photo's familiarity is its standardised
features' best cosine similarity to them; a photo of something that is not a fish (a face, a
room) lies far from every species, however confident the linear layer is about it (on the
f4k seed-0 split, faces and webcam frames scored at most 0.142 where 99 % of validation fish
scored 0.158 or more). A file without ``prototypes`` (written before familiarity existed)
gives a head without it, and a pack built from it answers as before.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.fish.errors import SpeciesPackError
from inference.fish.graph_contract import INPUT_SIZE_RANGE
from inference.fish.images import INPUT_SIZE, FloatArray
from inference.fish.metrics import IntArray
from inference.fish.taps import PLAIN, check_taps

HEAD_FORMAT = "jaga-fish-head"
HEAD_SCHEMA = 1
# A zero vector (never a real photo's standardised features) has no direction: the graph and
# numpy both floor its norm at this, so it scores 0 rather than NaN.
NORM_FLOOR = 1e-12


@dataclass(frozen=True)
class HeadWeights:
    mean: FloatArray  # [F] feature standardisation, from the training features
    scale: FloatArray  # [F] 1 / std
    layers: tuple[tuple[FloatArray, FloatArray], ...]  # (weight [out, in], bias [out])
    backbone_sha256: str
    inputs: tuple[str, ...] = PLAIN  # the backbone taps, concatenated in this order
    input_size: int = INPUT_SIZE  # the side the backbone ran at, on letterboxed crops
    prototypes: FloatArray | None = None  # [C, F] unit species means of standardised features

    def __post_init__(self) -> None:
        try:
            check_taps(self.inputs)
        except SpeciesPackError as exc:
            raise ValueError(str(exc)) from None
        low, high = INPUT_SIZE_RANGE
        if not low <= self.input_size <= high:
            raise ValueError(f"input_size must be {low} to {high} px, not {self.input_size}")
        width = self.mean.shape[0]
        if self.scale.shape != (width,) or not self.layers:
            raise ValueError("a head needs a mean and scale of one width, and one layer or more")
        for weight, bias in self.layers:
            if weight.ndim != 2 or weight.shape[1] != width or bias.shape != (weight.shape[0],):
                raise ValueError(f"layer {weight.shape} does not follow a width of {width}")
            width = weight.shape[0]
        expected = (self.n_classes, self.n_features)
        if self.prototypes is not None and self.prototypes.shape != expected:
            raise ValueError(f"prototypes {self.prototypes.shape} are not one per class {expected}")

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.layers[-1][0].shape[0])

    def standardised(self, features: FloatArray) -> FloatArray:
        return ((features - self.mean) * self.scale).astype(np.float32)

    def familiarity(self, features: FloatArray) -> FloatArray:
        """Each row's best cosine similarity to the species prototypes (numpy reference of
        the graph's ``familiarity`` output); the head must carry prototypes."""
        if self.prototypes is None:
            raise ValueError("this head carries no species prototypes")
        x = self.standardised(features)
        unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), NORM_FLOOR)
        best: FloatArray = (unit @ self.prototypes.T).max(axis=1).astype(np.float32)
        return best

    def with_prototypes(self, features: FloatArray, labels: IntArray) -> HeadWeights:
        """This head with the prototypes of ``features`` (training images, ``labels`` the
        class of each; every class needs one image or more)."""
        x = self.standardised(features)
        means = np.stack([x[labels == c].mean(axis=0) for c in range(self.n_classes)])
        unit = means / np.linalg.norm(means, axis=1, keepdims=True)
        return dataclasses.replace(self, prototypes=unit.astype(np.float32))

    def logits(self, features: FloatArray) -> FloatArray:
        """The head in numpy: a reference for the exported graph and for tests."""
        x = (features - self.mean) * self.scale
        for i, (weight, bias) in enumerate(self.layers):
            x = x @ weight.T + bias
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0)
        return x.astype(np.float32)


def _encode(array: FloatArray) -> dict[str, Any]:
    data = np.ascontiguousarray(array, dtype="<f4").tobytes()
    return {"shape": list(array.shape), "float32_le_base64": base64.b64encode(data).decode()}


def _decode(entry: dict[str, Any]) -> FloatArray:
    raw = base64.b64decode(entry["float32_le_base64"], validate=True)
    array = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return array.reshape(tuple(int(n) for n in entry["shape"]))


def head_to_json(head: HeadWeights) -> str:
    body = {
        "format": HEAD_FORMAT,
        "schema": HEAD_SCHEMA,
        "backbone_sha256": head.backbone_sha256,
        "inputs": list(head.inputs),
        "input_size": head.input_size,
        "mean": _encode(head.mean),
        "scale": _encode(head.scale),
        "layers": [{"weight": _encode(w), "bias": _encode(b)} for w, b in head.layers],
    }
    if head.prototypes is not None:
        body["prototypes"] = _encode(head.prototypes)
    return json.dumps(body, indent=1) + "\n"


def head_from_json(text: str, source: str = "head") -> HeadWeights:
    try:
        body = json.loads(text)
        if body.get("format") != HEAD_FORMAT or body.get("schema") != HEAD_SCHEMA:
            raise ValueError(f"not a {HEAD_FORMAT} schema {HEAD_SCHEMA} file")
        layers = tuple((_decode(la["weight"]), _decode(la["bias"])) for la in body["layers"])
        inputs = tuple(str(name) for name in body.get("inputs", PLAIN))
        prototypes = _decode(body["prototypes"]) if "prototypes" in body else None
        side = body.get("input_size", INPUT_SIZE)
        if not isinstance(side, int) or isinstance(side, bool):
            raise ValueError(f"input_size {side!r} is not a whole number of pixels")
        return HeadWeights(
            _decode(body["mean"]),
            _decode(body["scale"]),
            layers,
            str(body["backbone_sha256"]),
            inputs,
            side,
            prototypes,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise SpeciesPackError(f"{source} is not a valid species head: {exc}") from exc


def load_head(path: Path) -> HeadWeights:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpeciesPackError(f"cannot read species head {path}: {exc}") from exc
    return head_from_json(text, str(path))
