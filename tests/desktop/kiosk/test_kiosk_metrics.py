"""The kiosk's figures time only the stages a frame ran, and count drops by difference."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from desktop.kiosk_metrics import KioskMetrics
from inference.face.decide import Candidate
from inference.face.pipeline import STAGES, FaceObservation, FrameResult
from inference.face.types import FaceBox, QualityVerdict

FACE = FaceBox(8, 8, 40, 40, 0.9, ((0.0, 0.0),) * 5)


def frame(*faces: FaceObservation) -> FrameResult:
    return FrameResult(0, 0.0, None, faces, (), dict.fromkeys(STAGES, 1.0))


def count(registry: CollectorRegistry, stage: str) -> float:
    name = "jaga_kiosk_stage_duration_seconds_count"
    return registry.get_sample_value(name, {"stage": stage}) or 0.0


def test_an_empty_frame_times_detection_not_liveness_nor_matching() -> None:
    registry = CollectorRegistry()
    metrics = KioskMetrics(registry)
    metrics.observe_frame(frame(), dropped_total=0)
    checked = FaceObservation(1, FACE, True, QualityVerdict(True, ()), 1.0, 0.9,
                              (Candidate("ana", 0.9),), None)  # fmt: skip
    metrics.observe_frame(frame(checked), dropped_total=3)
    assert count(registry, "detect") == 2
    assert count(registry, "liveness") == count(registry, "describe") == 1
    dropped = registry.get_sample_value("jaga_kiosk_frames_total", {"outcome": "dropped"})
    assert dropped == 3
    metrics.observe_frame(frame(), dropped_total=3)  # a total, not a new count
    assert registry.get_sample_value("jaga_kiosk_frames_total", {"outcome": "dropped"}) == 3
