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
