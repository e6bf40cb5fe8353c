"""The seed's augmentation recipe: rotation, flips, colour jitter and Cutout.

Used two ways: on the fly by the fine-tune, and as a fixed number of augmented *views* per
training image whose backbone features are cached for head training. A view is a function of
the image's content hash and the view number only, so a cached view stays valid across
training runs and seeds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

from inference.fish.images import INPUT_SIZE, PAD_VALUE, UInt8Image, as_uint8, letterbox

AUGMENT_VERSION = "aug-v1"  # bumped whenever the recipe below changes


@dataclass(frozen=True)
class AugmentRecipe:
    max_rotation_deg: float = 25.0
    scale_range: tuple[float, float] = (0.85, 1.1)
    hflip_p: float = 0.5  # fish swim both ways past a fixed camera
    vflip_p: float = 0.1  # rarely upside down, but crops are sometimes rotated
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25
    hue_deg: float = 6.0  # small: colour is diagnostic for many reef species
    cutout_p: float = 0.5
    cutout_fraction: float = 0.3  # side of the erased square, relative to the input


RECIPE = AugmentRecipe()


def view_rng(content_sha256: str, view: int) -> np.random.Generator:
    seed = hashlib.sha256(f"{AUGMENT_VERSION}:{content_sha256}:{view}".encode()).digest()
    return np.random.default_rng(int.from_bytes(seed[:8], "little"))


def augmented_view(
    image: UInt8Image,
    rng: np.random.Generator,
    recipe: AugmentRecipe = RECIPE,
    size: int = INPUT_SIZE,
) -> UInt8Image:
    """One random augmentation of a raw crop, letterboxed to the backbone's input size."""
    jittered = _colour_jitter(image, rng, recipe)
    boxed = letterbox(jittered, size)
    return _cutout(_flip_rotate(boxed, rng, recipe), rng, recipe)


def _colour_jitter(image: UInt8Image, rng: np.random.Generator, r: AugmentRecipe) -> UInt8Image:
    pixels = image.astype(np.float32)
    pixels *= rng.uniform(1 - r.brightness, 1 + r.brightness)
    mean = pixels.mean()
    pixels = (pixels - mean) * rng.uniform(1 - r.contrast, 1 + r.contrast) + mean
    hsv = cv2.cvtColor(np.clip(pixels, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
    hsv = hsv.astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-r.hue_deg, r.hue_deg) / 2) % 180  # OpenCV: 0-179
    hsv[..., 1] *= rng.uniform(1 - r.saturation, 1 + r.saturation)
    hsv = np.clip(hsv, 0, [179, 255, 255]).astype(np.uint8)
    return as_uint8(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def _flip_rotate(image: UInt8Image, rng: np.random.Generator, r: AugmentRecipe) -> UInt8Image:
    if rng.random() < r.hflip_p:
        image = image[:, ::-1]
    if rng.random() < r.vflip_p:
        image = image[::-1]
    size = image.shape[0]
    angle = rng.uniform(-r.max_rotation_deg, r.max_rotation_deg)
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, rng.uniform(*r.scale_range))
    rotated = cv2.warpAffine(
        np.ascontiguousarray(image), matrix, (size, size),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3,
    )  # fmt: skip
    return as_uint8(rotated)


def _cutout(image: UInt8Image, rng: np.random.Generator, r: AugmentRecipe) -> UInt8Image:
    if rng.random() >= r.cutout_p:
        return image
    size = image.shape[0]
    side = round(size * r.cutout_fraction)
    top, left = rng.integers(0, size - side + 1, size=2)
    out = image.copy()
    out[top : top + side, left : left + side] = PAD_VALUE
    return out
