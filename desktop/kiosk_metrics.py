"""The kiosk's figures for the app's Prometheus endpoint: where each model runs, the time
each pipeline stage takes, the frames processed and the frames dropped because inference
was behind, the decisions recorded, and their fused liveness.

The spoof-rejection rate (an attack alert) is ``decisions{decision="spoof_detected"}`` over
all decisions; liveness drifting down across live users (a dirty lens, new lighting)
shows in the liveness histogram before it shows as refusals. Labels are bounded: stages,
decisions and models are fixed sets, and no person is ever named. This module imports no
Qt: the controller hands it plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from desktop.kiosk.recorded import RECORDED
from inference.face.pipeline import STAGES, FrameResult
from sync.store import AccessEvent

# Per stage of one frame: from a millisecond (tracking) to seconds (a slow CPU, or a first
# TensorRT engine build landing in the last bucket).
KIOSK_STAGE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LIVENESS_BUCKETS = tuple(round(0.1 * step, 1) for step in range(1, 11))
PROCESSED, DROPPED = "processed", "dropped"


def stages_run(result: FrameResult) -> tuple[str, ...]:
    """The stages that did work on this frame (the timer lists every stage, at 0)."""
    live = any(face.liveness is not None for face in result.faces)
    matched = any(face.candidates for face in result.faces)
    skipped = (() if live else ("liveness",)) + (() if matched else ("describe", "match"))
    return tuple(stage for stage in STAGES if stage not in skipped)


class KioskMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._stages = Histogram(
            "jaga_kiosk_stage_duration_seconds",
            "Time per stage of the face pipeline, per frame processed",
            ["stage"], buckets=KIOSK_STAGE_BUCKETS_S, registry=registry,
        )  # fmt: skip
        self._frames = Counter(
            "jaga_kiosk_frames",
            "Camera frames: processed, or dropped because inference was behind",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self._decisions = Counter(
            "jaga_kiosk_decisions", "Final decisions recorded as access events, by decision",
            ["decision"], registry=registry,
        )  # fmt: skip
        self._liveness = Histogram(
            "jaga_kiosk_liveness", "Fused liveness P(real) of each decision recorded with one",
            buckets=LIVENESS_BUCKETS, registry=registry,
        )  # fmt: skip
        self._providers = Gauge(
            "jaga_kiosk_model_info",
            "The face models in use (1) and the execution provider each actually runs on",
            ["model", "provider"], registry=registry,
        )  # fmt: skip
        self._dropped_seen = 0
        self._show_zeros()

    def observe_frame(self, result: FrameResult, dropped_total: int) -> None:
        """One frame processed; ``dropped_total`` is the runner's count so far. Only the
        stages the frame ran are timed: an idle kiosk's empty frames would otherwise pull
        the liveness and descriptor percentiles down to nothing."""
        for stage in stages_run(result):
            self._stages.labels(stage).observe(result.stage_ms.get(stage, 0.0) / 1000)
        self._frames.labels(PROCESSED).inc()
        if dropped_total > self._dropped_seen:
            self._frames.labels(DROPPED).inc(dropped_total - self._dropped_seen)
            self._dropped_seen = dropped_total

    def count_events(self, events: Iterable[AccessEvent]) -> None:
        for event in events:
            self._decisions.labels(event.decision).inc()
            if event.liveness is not None:
                self._liveness.observe(event.liveness)

    def set_models(self, models: Mapping[str, str]) -> None:
        """Model (or stage) -> provider, as the sessions report after warm-up."""
        self._providers.clear()
        for model, provider in models.items():
            self._providers.labels(model, provider).set(1)

    def _show_zeros(self) -> None:
        """Every series exists from the start, at 0, so a rate has a start to count from."""
        for stage in STAGES:
            self._stages.labels(stage)
        for outcome in (PROCESSED, DROPPED):
            self._frames.labels(outcome)
        for status in RECORDED:
            self._decisions.labels(str(status))
