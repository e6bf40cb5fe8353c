"""The app's Prometheus endpoint: the sync figures, the species classifier, the catch flow,
the process.

Off unless ``JAGA_METRICS_PORT`` is set; then served on 127.0.0.1 at that port for as long as
the window is open (the window creates it, ``app.open_window``, and closes it after its
controllers stopped). A bad port or a port in use is logged and the app runs on without
metrics: the window matters more than its figures.

The classifier is described by the species pack in use and the execution provider its
session actually got (a GPU that fell back to CPU shows as ``CPUExecutionProvider``). Each
classification the Catch panel makes is counted by status and review flag, with the time
its stages took and its calibrated top-1 confidence (the drift the hub cannot see before a
sync); each catch recorded is counted by whether the officer confirmed it on the spot. The
labels are bounded: no species names, of which a pack may hold hundreds. The kiosk's
figures are :mod:`desktop.kiosk_metrics`'. This module imports no Qt: the controllers hand
it plain values.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from desktop.kiosk_metrics import KioskMetrics
from desktop.settings import LOCKED_MESSAGE, AppSettings, key_source
from inference.fish.types import FishPrediction, FishStatus
from sync.client.metrics import (
    MetricsConfigError,
    MetricsServer,
    StoreReader,
    SyncMetrics,
    metrics_port,
)
from sync.errors import KeySourceError
from sync.store import Store

_log = logging.getLogger(__name__)
# Measured on one thread of a shared x86 Xeon, default pack: an f4k crop (~75 px) reads in
# under 1 ms and classifies in 13-27 ms; a 12 MP JPEG reads in ~115 ms and classifies in
# ~145 ms (decode, quality gate and letterbox of the whole photo). A slower handheld CPU or a
# first call that builds a TensorRT engine lands in the top buckets.
STAGE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
# Tenths, and finer near 1 where a pack's review threshold sits (the default pack's open-set
# and review thresholds are 0.49 and 0.89): drift shows first as mass leaving the top buckets.
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
READ, CLASSIFY = "read", "classify"  # the stages of a classification, as labelled


@dataclass(frozen=True)
class LoadedClassifier:
    pack_version: str
    provider: str  # the ONNX Runtime execution provider the session got


ClassifierProbe = Callable[[], LoadedClassifier | None]


class ClassifierCollector(Collector):
    def __init__(self, probe: ClassifierProbe) -> None:
        self._probe = probe

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "jaga_species_classifier_info",
            "The species classifier in use (1): its pack and the execution provider it runs on",
            labels=["pack_version", "provider"],
        )
        loaded = self._probe()
        if loaded is not None:  # none before the first pack is loaded
            family.add_metric([loaded.pack_version, loaded.provider], 1.0)
        yield family


@dataclass(frozen=True)
class StageTimes:
    """How long one classification's stages took, in seconds (timed on the worker)."""

    read_s: float | None  # reading the file, checking and decoding it (None: read before)
    classify_s: float  # the classifier call alone (one batch for a photo's boxes)


def _flag(value: bool) -> str:
    return "true" if value else "false"


class CatchMetrics:
    """The Catch panel's classifications and records, counted as they happen."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._stages = Histogram(
            "jaga_catch_stage_duration_seconds",
            "Time per stage of classifying a catch photo: read (file, checks, decode) and"
            " classify (the species classifier's call)",
            ["stage"],
            buckets=STAGE_BUCKETS_S,
            registry=registry,
        )
        self._classifications = Counter(
            "jaga_catch_classifications",
            "Catch photos classified, by status and whether the answer needs a review",
            ["status", "needs_review"],
            registry=registry,
        )
        self._confidence = Histogram(
            "jaga_catch_top_confidence",
            "The calibrated top-1 probability of each catch photo classified (no_fish has none)",
            buckets=CONFIDENCE_BUCKETS,
            registry=registry,
        )
        self._records = Counter(
            "jaga_catch_records",
            "Catches recorded, by whether the officer confirmed the species on the spot",
            ["confirmed"],
            registry=registry,
        )
        self._show_zeros()

    def observe_classification(
        self, predictions: Sequence[FishPrediction], times: StageTimes
    ) -> None:
        """One classifier call: a whole photo, or the boxes of one photo in one batch. Its
        stages are timed once; each fish's answer is counted."""
        if times.read_s is not None:
            self._stages.labels(READ).observe(times.read_s)
        self._stages.labels(CLASSIFY).observe(times.classify_s)
        for prediction in predictions:
            status, review = prediction.status.value, _flag(prediction.needs_review)
            self._classifications.labels(status, review).inc()
            if prediction.top_k:  # a photo the quality gate refused has no candidate to score
                self._confidence.observe(prediction.confidence)

    def count_record(self, *, confirmed: bool) -> None:
        self._records.labels(_flag(confirmed)).inc()

    def _show_zeros(self) -> None:
        """Every series exists from the start, at 0, so a rate has a start to count from."""
        for stage in (READ, CLASSIFY):
            self._stages.labels(stage)
        for status in FishStatus:  # only an identified species can go without a review
            for review in (False, True) if status is FishStatus.IDENTIFIED else (True,):
                self._classifications.labels(status.value, _flag(review))
        for confirmed in (False, True):
            self._records.labels(_flag(confirmed))


class DeviceMetrics:
    """The registry and the HTTP endpoint of one app; ``close`` when the window closes."""

    def __init__(self, reader: StoreReader, probe: ClassifierProbe, port: int) -> None:
        self._reader = reader
        self.sync = SyncMetrics(reader)
        registry = self.sync.registry
        registry.register(ClassifierCollector(probe))
        self.catch = CatchMetrics(registry)
        self.kiosk = KioskMetrics(registry)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=registry)  # memory and CPU: a Jetson's budget is tight
        try:
            self.server = MetricsServer(registry, port)
        except BaseException:
            reader.close()
            raise
        self._closed = False

    def close(self) -> None:
        """Stop serving and close the store (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.server.close()
        self._reader.close()


def start_device_metrics(settings: AppSettings, probe: ClassifierProbe) -> DeviceMetrics | None:
    """The app's metrics on 127.0.0.1:``$JAGA_METRICS_PORT``, or None when that is unset,
    not a port, or taken (then a warning says why)."""
    try:
        port = metrics_port(settings.env)
        if port is None:
            return None
        metrics = DeviceMetrics(StoreReader(_store_opener(settings), settings.env), probe, port)
    except (MetricsConfigError, OSError) as error:
        _log.warning("metrics are off: %s", error)
        return None
    host, bound = metrics.server.address
    _log.info("metrics on http://%s:%d/metrics", host, bound)
    return metrics


def _store_opener(settings: AppSettings) -> Callable[[], Store]:
    source = key_source(settings)
    if source is None:
        return _no_key
    return functools.partial(Store.open, settings.store_path, source, config=settings.store_config)


def _no_key() -> Store:
    raise KeySourceError(LOCKED_MESSAGE)
