"""The face pipeline, headless: detect -> track -> quality gate (-> liveness, descriptor, ...).

Typical use, one instance of each per camera stream::

    detector = FaceDetector.from_runtime(runtime, "yunet_n")
    tracker, gate = FaceTracker(), QualityGate()
    for image in frames:
        for tracked in tracker.update(detector.detect(image)):
            verdict = gate.assess(image, tracked.face)

Every threshold is a field of a frozen settings dataclass (:class:`DetectorSettings`,
:class:`TrackerSettings`, :class:`QualitySettings`) with a measured, documented default.

The whole chain, decisions per track included, is one :class:`DecisionPipeline` (its stages
built from a pack by :func:`inference.face.assemble.build_stages`)::

    pipeline = DecisionPipeline(build_stages(runtime, settings, StageChoice()), settings)
    for image in frames:
        for decision in pipeline.process(image).decisions:
            print(decision.status, decision.confidence)

:class:`FaceSettings` gathers every stage's settings in one place.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inference.face.decision import ChallengePolicy, Decision, Mode, Status
    from inference.face.detect import DetectorSession, DetectorSettings, FaceDetector, read_image
    from inference.face.pipeline import DecisionPipeline, FaceObservation, FrameResult, Stages
    from inference.face.quality import QualityGate, QualitySettings
    from inference.face.settings import FaceSettings
    from inference.face.track import FaceTracker, TrackerSettings
    from inference.face.types import (
        FaceBox,
        Landmark,
        Point,
        QualityMeasures,
        QualityReason,
        QualityVerdict,
        TrackedFace,
    )

# Where each name lives, imported on first use (PEP 562): a module of this package imported
# for one light part (`jaga face`'s parser: inference.face.cli_options) does not load the
# detector's OpenCV, numpy and ONNX Runtime, which this package's imports did.
_HOMES = {
    "ChallengePolicy": "inference.face.decision",
    "Decision": "inference.face.decision",
    "DecisionPipeline": "inference.face.pipeline",
    "DetectorSession": "inference.face.detect",
    "DetectorSettings": "inference.face.detect",
    "FaceBox": "inference.face.types",
    "FaceDetector": "inference.face.detect",
    "FaceObservation": "inference.face.pipeline",
    "FaceSettings": "inference.face.settings",
    "FaceTracker": "inference.face.track",
    "FrameResult": "inference.face.pipeline",
    "Landmark": "inference.face.types",
    "Mode": "inference.face.decision",
    "Point": "inference.face.types",
    "QualityGate": "inference.face.quality",
    "QualityMeasures": "inference.face.types",
    "QualityReason": "inference.face.types",
    "QualitySettings": "inference.face.quality",
    "QualityVerdict": "inference.face.types",
    "Stages": "inference.face.pipeline",
    "Status": "inference.face.decision",
    "TrackedFace": "inference.face.types",
    "TrackerSettings": "inference.face.track",
    "read_image": "inference.face.detect",
}

__all__ = [
    "ChallengePolicy",
    "Decision",
    "DecisionPipeline",
    "DetectorSession",
    "DetectorSettings",
    "FaceBox",
    "FaceDetector",
    "FaceObservation",
    "FaceSettings",
    "FaceTracker",
    "FrameResult",
    "Landmark",
    "Mode",
    "Point",
    "QualityGate",
    "QualityMeasures",
    "QualityReason",
    "QualitySettings",
    "QualityVerdict",
    "Stages",
    "Status",
    "TrackedFace",
    "TrackerSettings",
    "read_image",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # looked up once
    return value
