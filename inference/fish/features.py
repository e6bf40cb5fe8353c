"""Backbone features of image files, computed once and cached on disk.

Head training reads every training image several times (the plain view and a few augmented
views) across many runs; the backbone pass dominates, so its output is cached, keyed by the
backbone file's sha256, the preprocessing and augmentation versions, the side, the view number
and the image's content hash, and the backbone taps concatenated (:mod:`inference.fish.taps`).
A changed image, backbone, side, taps or recipe simply misses the cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from inference.errors import ImageError
from inference.fish.augment import AUGMENT_VERSION, augmented_view, view_rng
from inference.fish.graph_contract import FEATURES, INPUT_NAME
from inference.fish.images import (
    INPUT_SIZE,
    PREPROCESS_VERSION,
    FloatArray,
    QualityGate,
    UInt8Image,
    decode_image,
    letterbox,
    to_batch,
)
from inference.fish.taps import PLAIN
from inference.image_file import read_image_file
from inference.runtime.tensorrt import MAX_BATCH

log = logging.getLogger(__name__)
ENV_CACHE_DIR = "JAGA_CACHE_DIR"
Progress = Callable[[str], None]


class FeatureSession(Protocol):
    """The backbone session: :class:`inference.runtime.OnnxSession` satisfies it."""

    @property
    def output_names(self) -> list[str]: ...

    def run(self, inputs: Mapping[str, FloatArray]) -> list[FloatArray]: ...


def default_cache_dir() -> Path:
    import platformdirs  # only here: a training machine with torch alone need not have it

    configured = os.environ.get(ENV_CACHE_DIR)
    base = Path(configured) if configured else Path(platformdirs.user_cache_dir("jaga"))
    return base / "fish-features"


@dataclass(frozen=True)
class Screened:
    """The images that decoded and passed the quality gate, and why the others did not."""

    kept: tuple[int, ...]
    hashes: tuple[str, ...]  # content sha256 of each kept image
    rejected: tuple[tuple[Path, str], ...]


class FeatureCache:
    def __init__(
        self, root: Path, backbone_sha256: str, taps: tuple[str, ...] = PLAIN,
        side: int = INPUT_SIZE,
    ) -> None:  # fmt: skip
        self.root = root / backbone_sha256[:16] / PREPROCESS_VERSION
        if side != INPUT_SIZE:  # 224 px features keep the folders they always had
            self.root = self.root / f"{side}px"
        if taps != PLAIN:  # so do the backbone's plain features
            self.root = self.root / "+".join(taps)

    def _path(self, content_sha256: str, view: int) -> Path:
        folder = "plain" if view == 0 else f"{AUGMENT_VERSION}-{view}"
        return self.root / folder / content_sha256[:2] / f"{content_sha256}.npy"

    def get(self, content_sha256: str, view: int) -> FloatArray | None:
        path = self._path(content_sha256, view)
        if not path.exists():
            return None
        try:
            vector: FloatArray = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None  # a torn write from an interrupted run: compute it again
        return vector

    def put(self, content_sha256: str, view: int, vector: FloatArray) -> None:
        path = self._path(content_sha256, view)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")
        with partial.open("wb") as handle:
            np.save(handle, vector.astype(np.float32), allow_pickle=False)
        partial.replace(path)


def screen(paths: Sequence[Path], gate: QualityGate) -> Screened:
    """Decode every image once; keep those that pass the gate, with their content hashes."""
    kept: list[int] = []
    hashes: list[str] = []
    rejected: list[tuple[Path, str]] = []
    for i, path in enumerate(paths):
        try:
            data = read_image_file(path)
            reason = gate.reject_reason(decode_image(data, str(path)))
        except ImageError as exc:
            reason = str(exc)
        if reason is None:
            kept.append(i)
            hashes.append(hashlib.sha256(data).hexdigest())
        else:
            rejected.append((path, reason))
    return Screened(tuple(kept), tuple(hashes), tuple(rejected))


class BackboneFeatures:
    """Pooled backbone features of image files, for the plain view (0) or augmented views,
    letterboxed to ``side`` (the session's input side)."""

    def __init__(
        self,
        session: FeatureSession,
        cache: FeatureCache | None,
        *,
        side: int = INPUT_SIZE,
        batch_size: int = 32,
        progress: Progress | None = None,
    ) -> None:
        self._side = side
        self._session = session
        self._index = session.output_names.index(FEATURES)
        self._cache = cache
        self._batch_size = batch_size
        self._progress = progress or (lambda line: None)

    def of_images(self, images: Sequence[UInt8Image]) -> FloatArray:
        """Features of letterboxed images, uncached; run in batches the backbone's TensorRT
        engine takes (the installed backbone runs on the runtime's plan)."""
        parts = [
            self._session.run({INPUT_NAME: to_batch(images[start : start + MAX_BATCH])})
            for start in range(0, len(images), MAX_BATCH)
        ]
        return np.concatenate([outputs[self._index] for outputs in parts])

    def of_files(self, paths: Sequence[Path], hashes: Sequence[str], view: int) -> FloatArray:
        """Features of screened files (``hashes`` from :func:`screen`), from cache if there."""
        result = np.zeros((len(paths), 0), dtype=np.float32)
        vectors: list[FloatArray | None] = [self._cached(h, view) for h in hashes]
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        for start in range(0, len(missing), self._batch_size):
            chunk = missing[start : start + self._batch_size]
            images = [_prepare(paths[i], hashes[i], view, self._side) for i in chunk]
            for i, vector in zip(chunk, self.of_images(images), strict=True):
                vectors[i] = vector
                if self._cache is not None:
                    self._cache.put(hashes[i], view, vector)
            self._progress(f"view {view}: {start + len(chunk)}/{len(missing)} images computed")
        if vectors:
            result = np.stack([v for v in vectors if v is not None]).astype(np.float32)
        return result

    def _cached(self, content_sha256: str, view: int) -> FloatArray | None:
        return None if self._cache is None else self._cache.get(content_sha256, view)


def _prepare(path: Path, content_sha256: str, view: int, side: int) -> UInt8Image:
    image = decode_image(read_image_file(path), str(path))
    if view == 0:
        return letterbox(image, side)
    return augmented_view(image, view_rng(content_sha256, view), size=side)
