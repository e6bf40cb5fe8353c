"""The Catch panel's work on its worker thread: read, check and classify a photo (timed,
and scaled down for the preview), and classify the boxes of one photo in one batch. Plain
functions of immutable values: ``CatchController`` submits them and shows what they give."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.catch import CaughtFish, classify_catch
from desktop.catch_canvas import THUMBNAIL_SIDE
from desktop.catch_photo import CatchPhoto, PhotoFile, read_catch_photo
from desktop.metrics import StageTimes
from inference.fish.images import UInt8Image, shrink_to_fit
from inference.fish.types import FishPrediction
from sync.store import Crop, StoreConfig

if TYPE_CHECKING:
    from inference.fish.classify import SpeciesClassifier


@dataclass(frozen=True)
class Classified:
    photo: CatchPhoto
    prediction: FishPrediction
    species: tuple[str, ...]  # the display names of the pack that answered
    times: StageTimes
    preview: UInt8Image  # the photo scaled down to the panel's thumbnail, on the worker
    file: PhotoFile  # what Record writes: the photo without its pixels, kept if refused


def classify_file(classifier: SpeciesClassifier, path: Path, config: StoreConfig) -> Classified:
    """Runs on the worker: read, check and classify one photo, timing each stage, and scale
    it down for the preview (a large photo took seconds to scale on the GUI thread)."""
    started = time.perf_counter()
    photo = read_catch_photo(path, config)
    read = time.perf_counter()
    (fish,) = classify_catch(classifier, photo)
    prediction = fish.prediction
    classified = time.perf_counter()
    species = tuple(s.name for s in classifier.pack.species)
    times = StageTimes(read - started, classified - read)
    preview = shrink_to_fit(photo.image, THUMBNAIL_SIDE)
    return Classified(photo, prediction, species, times, preview, photo.file())


@dataclass(frozen=True)
class BoxesClassified:
    fish: list[CaughtFish]  # one per box, in the order asked
    classify_s: float  # the one batch's classifier call


def classify_boxes(
    classifier: SpeciesClassifier, photo: CatchPhoto, boxes: Sequence[Crop]
) -> BoxesClassified:
    """Runs on the worker: the boxes of one photo in one batch, timed."""
    started = time.perf_counter()
    fish = classify_catch(classifier, photo, boxes)
    return BoxesClassified(fish, time.perf_counter() - started)
