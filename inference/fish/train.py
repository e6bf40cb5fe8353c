"""``jaga fish train --mode head``: backbone features -> head -> calibration -> species pack.

The backbone is the installed pack's EfficientNet-Lite (``--backbone``) run by ONNX Runtime,
so what the head learns from is exactly what the exported pack computes on the device. A head
that reads more than the backbone's ``features`` (:mod:`inference.fish.taps`), or reads them
at another side than the installed 224 px (``--set input_size=260``), gets them from a copy
of the same file, changed by the surgery the pack's export uses.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx

from inference.fish import export
from inference.fish.config import HeadConfig
from inference.fish.dataset import reading
from inference.fish.errors import SpeciesPackError
from inference.fish.features import BackboneFeatures, FeatureCache, FeatureSession
from inference.fish.graph_contract import FAMILIARITY, INPUT_NAME, PROBABILITIES
from inference.fish.head import HeadWeights
from inference.fish.images import (
    INPUT_SIZE,
    FloatArray,
    UInt8Image,
    letterbox,
    read_image,
    to_batch,
)
from inference.fish.int8_familiarity import int8_files
from inference.fish.metrics import softmax
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
from inference.fish.taps import PLAIN, TappedSession, check_taps
from inference.fish.trainset import PreparedData, feature_sets, prepare

PARITY_TOLERANCE = 1e-4  # exported probabilities vs the numpy head on the same features


@dataclass(frozen=True)
class Backbone:
    session: FeatureSession  # the installed model's session: ``features`` alone, at 224 px
    path: Path
    sha256: str
    cache_dir: Path | None
    threads: int | None = None  # for the changed copy's session (taps, another side)

    def session_for(self, taps: tuple[str, ...], side: int = INPUT_SIZE) -> FeatureSession:
        if taps == PLAIN and side == INPUT_SIZE:
            return self.session
        return TappedSession(self.path, taps, self.threads, side)


def train_head_pack(options: TrainOptions, backbone: Backbone, progress: Progress) -> SpeciesPack:
    """The whole head mode: returns the written, verified pack. DATA is held from its scan
    to the last photo read (features, the parity check, INT8 calibration)."""
    with reading(options.data):
        return _train_head_pack(options, backbone, progress)


def _train_head_pack(options: TrainOptions, backbone: Backbone, progress: Progress) -> SpeciesPack:
    started = time.perf_counter()
    data = prepare(
        options.data, holdout=options.holdout,
        validation_fraction=options.validation_fraction, seed=options.seed,
    )  # fmt: skip
    for line in data.notes():
        progress(line)
    taps, side = check_taps(options.taps), options.head.input_size
    cache = None
    if backbone.cache_dir:
        cache = FeatureCache(backbone.cache_dir, backbone.sha256, taps, side)
    extractor = BackboneFeatures(backbone.session_for(taps, side), cache, side=side,
                                 progress=progress)  # fmt: skip
    features = feature_sets(data, extractor, options.views, progress)
    feature_seconds = time.perf_counter() - started
    config = HeadConfig(**{**asdict(options.head), "seed": options.seed})
    progress(f"training the head on {len(features.train[1])} feature vectors")
    from inference.fish.train_head import train_head  # torch, only when a head is trained

    trained = train_head(
        features.train, features.validation, n_classes=len(data.known),
        backbone_sha256=backbone.sha256, config=config, progress=progress, inputs=taps,
    )  # fmt: skip
    # The plain view of each training image (the first of the stacked views) makes the
    # species prototypes: augmented views are for the linear layer's robustness.
    plain = len(data.train)
    head = trained.weights.with_prototypes(features.train[0][:plain], features.train[1][:plain])
    unknown = features.unknown
    unknown_logits = head.logits(unknown) if len(unknown) else np.zeros((0, head.n_classes))
    assessment = assess(
        data, head.logits(features.validation[0]), features.validation[1],
        unknown_logits.astype(np.float32), options,
    )  # fmt: skip
    assessment = with_familiarity(assessment, head.familiarity(features.validation[0]))
    with tempfile.TemporaryDirectory(prefix="jaga-fish-") as scratch:
        models = write_models(
            Path(scratch), backbone.path, head,
            temperature=assessment.thresholds.temperature, data=data, options=options,
            extractor=extractor,
        )  # fmt: skip
        timings = {
            "features_seconds": round(feature_seconds, 1),
            "head_seconds": round(trained.seconds, 1),
            "total_seconds": round(time.perf_counter() - started, 1),
        }
        details = {
            "augmented_views": options.views, "taps": list(taps), "best_epoch": trained.best_epoch,
            "epochs_run": len(trained.history), "head": asdict(config), "timings": timings,
        }  # fmt: skip
        files = int8_files(models, data, assessment.thresholds, (head.input_size,), progress)
        result = Trained("head", models, backbone.sha256, details, head, (head.input_size,),
                         files)  # fmt: skip
        return write_species_pack(data, assessment, result, options, progress)


def write_models(
    folder: Path,
    backbone_path: Path,
    head: HeadWeights,
    *,
    temperature: float,
    data: PreparedData,
    options: TrainOptions,
    extractor: BackboneFeatures,
) -> dict[str, Path]:
    models = {"fp32": folder / MODEL_FILES["fp32"]}
    graph = export.species_model(onnx.load(backbone_path), head, temperature)
    export.save_model(graph, models["fp32"])
    check_parity(models["fp32"], data, head, temperature, extractor.of_images)
    if options.int8:
        models["int8"] = folder / MODEL_FILES["int8"]
        batches = calibration_batches(data, options.calibration_images, head.input_size)
        export.quantize_int8(models["fp32"], models["int8"], batches)
    return models


def check_parity(
    model: Path,
    data: PreparedData,
    head: HeadWeights,
    temperature: float,
    features_of: Callable[[list[UInt8Image]], FloatArray],
) -> None:
    """The exported graph must give the head's probabilities (and familiarity) on the
    features training saw (taps included; ``features_of`` letterboxed images); a few images
    prove it. A fine-tune's reference head is its classifier over its own features."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    paths = [data.dataset.samples[i].path for i in data.validation[:4]]
    images = [letterbox(read_image(path), head.input_size) for path in paths]
    features = features_of(images)
    outputs = [PROBABILITIES, *([FAMILIARITY] if head.prototypes is not None else [])]
    given = session.run(outputs, {INPUT_NAME: to_batch(images)})
    expected = [softmax(head.logits(features) / temperature)]
    if head.prototypes is not None:
        expected.append(head.familiarity(features))
    worst = max(float(np.abs(e - g).max()) for e, g in zip(expected, given, strict=True))
    if worst > PARITY_TOLERANCE:
        raise SpeciesPackError(f"exported pack differs from the trained head by {worst:.2e}")
