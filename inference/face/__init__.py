"""The face pipeline, headless: detect -> track -> quality gate (-> liveness, descriptor, ...).

Typical use, one instance of each per camera stream::

    detector = FaceDetector.from_runtime(runtime, "yunet_n")
    tracker, gate = FaceTracker(), QualityGate()
    for image in frames:
        for tracked in tracker.update(detector.detect(image)):
            verdict = gate.assess(image, tracked.face)

Every threshold is a field of a frozen settings dataclass (:class:`DetectorSettings`,
:class:`TrackerSettings`, :class:`QualitySettings`) with a measured, documented default.
"""

from inference.face.detect import DetectorSession, DetectorSettings, FaceDetector, read_image
from inference.face.quality import QualityGate, QualitySettings
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
    "DetectorSession",
    "DetectorSettings",
    "FaceBox",
    "FaceDetector",
    "FaceTracker",
    "Landmark",
    "Point",
    "QualityGate",
    "QualityMeasures",
    "QualityReason",
    "QualitySettings",
    "QualityVerdict",
    "TrackedFace",
    "TrackerSettings",
    "read_image",
]
