"""The app's Prometheus endpoint: the sync figures, the species classifier, the process.

Off unless ``JAGA_METRICS_PORT`` is set; then served on 127.0.0.1 at that port for as long as
the window is open (``SyncController`` starts and stops it). A bad port or a port in use is
logged and the app runs on without metrics: the window matters more than its figures.

The classifier is described by what exists today: the species pack in use and the execution
provider its session actually got (a GPU that fell back to CPU shows as
``CPUExecutionProvider``). Inference latency, frame drops and the kiosk's decisions have no
producer in the app yet. This module imports no Qt: the controller hands it plain callables.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from desktop.settings import LOCKED_MESSAGE, AppSettings, key_source
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


class DeviceMetrics:
    """The registry and the HTTP endpoint of one app; ``close`` when the window closes."""

    def __init__(self, reader: StoreReader, probe: ClassifierProbe, port: int) -> None:
        self._reader = reader
        self.sync = SyncMetrics(reader)
        registry = self.sync.registry
        registry.register(ClassifierCollector(probe))
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=registry)  # memory and CPU: a Jetson's budget is tight
        try:
            self.server = MetricsServer(registry, port)
        except BaseException:
            reader.close()
            raise

    def close(self) -> None:
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
