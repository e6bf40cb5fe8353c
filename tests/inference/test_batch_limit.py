"""Every caller that batches stays within the batch its TensorRT engine is built for.

A session planned on TensorRT is given a shape profile (``trt_profile_max_shapes``) and
TensorRT refuses a larger batch at run time. No GPU here: the sessions below are planned
on TensorRT and CPU as on a device that has both (ONNX Runtime, lacking TensorRT, runs
them on the CPU), and every ONNX Runtime session made meanwhile records the largest batch
its TensorRT options allow and the batch of every run it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from inference.face.embed import DescriptorModel, EmbedderSettings, FaceEmbedder
from inference.face.liveness import LivenessSettings, PassiveLiveness
from inference.fish.classify import SpeciesClassifier
from inference.fish.features import BackboneFeatures
from inference.fish.images import letterbox
from inference.fish.pack import load_pack
from inference.pack.installed import ModelPack
from inference.runtime import OnnxSession, ThreadBudget
from inference.runtime.providers import CPU, TENSORRT, plan_providers
from inference.runtime.session import SessionConfig

PLAN = plan_providers([TENSORRT, CPU])  # as on a device with TensorRT
MANY = 20  # more than any engine's batch: two full batches and a part


@dataclass
class Recorded:
    """One ONNX Runtime session: its TensorRT profile's largest batch per input, and the
    batch of each input in every run."""

    limits: dict[str, int]
    runs: list[dict[str, int]] = field(default_factory=list)

    def largest_batch(self) -> int:
        return max(batch for run in self.runs for batch in run.values())

    def over_limit(self) -> list[dict[str, int]]:
        return [run for run in self.runs if any(n > self.limits[k] for k, n in run.items())]


def _profile_limits(
    providers: Sequence[str], options: Sequence[Mapping[str, str]]
) -> dict[str, int]:
    """``{input: largest batch}`` from the ``trt_profile_max_shapes`` given to TensorRT."""
    tensorrt = dict(zip(providers, options, strict=True))[TENSORRT]
    entries = (entry.rsplit(":", 1) for entry in tensorrt["trt_profile_max_shapes"].split(","))
    return {name: int(dims.split("x")[0]) for name, dims in entries}


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Recorded]]:
    """The real ONNX Runtime session, recording what it is given (see the module's doc)."""
    made: list[Recorded] = []

    class RecordingSession(ort.InferenceSession):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.recorded = Recorded(
                _profile_limits(kwargs["providers"], kwargs["provider_options"])
            )
            made.append(self.recorded)

        def run(self, output_names: Any, input_feed: Mapping[str, Any], *rest: Any) -> Any:
            self.recorded.runs.append({name: len(value) for name, value in input_feed.items()})
            return super().run(output_names, input_feed, *rest)

    monkeypatch.setattr(ort, "InferenceSession", RecordingSession)
    yield made


def _config(tmp_path: Path) -> SessionConfig:
    # Engine folders go to tmp_path, not into the shared pack.
    return SessionConfig(plan=PLAN, threads=ThreadBudget(1), engines_dir=tmp_path)


def _noise(shape: tuple[int, ...], count: int = MANY) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(count)]


def _only_within_limits(made: list[Recorded]) -> Recorded:
    # The warm-up is profiled on a session of its own, which runs nothing else
    # (OnnxSession._serve_unprofiled); the last one made is the one that runs.
    *profiled, session = made
    assert len(profiled) <= 1 and all(len(p.runs) == 1 for p in profiled)
    assert session.over_limit() == []
    assert session.largest_batch() == min(session.limits.values())  # batched, not one by one
    return session


def test_the_face_embedder_stays_within_the_engine_batch(
    model_pack: ModelPack, tmp_path: Path, sessions: list[Recorded]
) -> None:
    session = OnnxSession(model_pack.model("dlib_resnet"), _config(tmp_path))
    embedder = FaceEmbedder(session, "input", DescriptorModel("dlib_resnet", "1", 128), 150)
    assert len(embedder.embed(_noise((150, 150, 3)))) == MANY
    _only_within_limits(sessions)


def test_the_species_classifier_stays_within_the_engine_batch(
    default_species_pack: Path, tmp_path: Path, sessions: list[Recorded]
) -> None:
    pack = load_pack(default_species_pack)
    classifier = SpeciesClassifier(pack, plan=PLAN, threads=ThreadBudget(1), engines_dir=tmp_path)
    assert classifier.probabilities(_noise((300, 400, 3))).shape == (MANY, len(pack.species))
    _only_within_limits(sessions)
    with pytest.raises(ValueError, match="at most 8"):
        SpeciesClassifier(pack, plan=PLAN, engines_dir=tmp_path, batch_size=9)


def test_backbone_features_stay_within_the_engine_batch(
    model_pack: ModelPack, tmp_path: Path, sessions: list[Recorded]
) -> None:
    """``jaga fish train`` runs the installed backbone on the runtime's plan."""
    session = OnnxSession(model_pack.model("efficientnet_lite0"), _config(tmp_path))
    images = [letterbox(image, 224) for image in _noise((240, 320, 3))]
    assert len(BackboneFeatures(session, None).of_images(images)) == MANY
    _only_within_limits(sessions)


def test_liveness_stays_within_the_engine_batch(
    model_pack: ModelPack, tmp_path: Path, sessions: list[Recorded]
) -> None:
    model_ids = [model.model_id for model in LivenessSettings().models]
    liveness = PassiveLiveness(
        {i: OnnxSession(model_pack.model(i), _config(tmp_path)) for i in model_ids}
    )
    crops = np.zeros((MANY, 3, 80, 80), np.float32)
    for model_id in model_ids:
        assert len(liveness.model_probabilities(crops, model_id)) == MANY
    assert len(sessions) == 2 * len(model_ids)  # each a profiled warm-up, then the one that runs
    for profiled, serving in zip(sessions[::2], sessions[1::2], strict=True):
        _only_within_limits([profiled, serving])


@pytest.mark.parametrize(
    "make",
    [lambda: EmbedderSettings(batch_size=9), lambda: LivenessSettings(max_batch=9)],
    ids=["embedder", "liveness"],
)
def test_a_batch_larger_than_the_engines_take_is_refused(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="at most 8"):
        make()
