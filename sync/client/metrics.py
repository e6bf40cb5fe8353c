"""Prometheus metrics of a device's sync: backlog, last success, attempts, hub latency.

What the store holds (the outbox by state, photos waiting for upload and those whose upload
the hub refused for good, when the last sync
worked, a species pack that keeps failing) is read from the store at scrape time, with the
figures ``jaga sync status`` shows: exact, nothing to drift. What only happens (a sync
attempt and how it ended, a request to the hub and how long it took) is counted as it
happens, by the ``SyncService`` and the ``HubTransport`` that report to ``SyncMetrics``.

A store belongs to the thread that opened it, and the metrics server answers each scrape on
a thread of its own; so a ``StoreReader`` keeps one store open on one thread of its own and
the scrapes ask it. The server listens on 127.0.0.1 only and only when ``JAGA_METRICS_PORT``
is set: the figures are this device's, and a boat's laptop is no place for an open port.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sync.client.packs import failures_record
from sync.client.service import Attempt
from sync.client.state import read_values
from sync.client.status import read_status
from sync.client.transport import RequestTiming
from sync.errors import SyncError
from sync.store import OutboxState, Store
from sync.store.clock import parse_timestamp

METRICS_PORT_ENV = "JAGA_METRICS_PORT"
LOOPBACK = "127.0.0.1"
READ_TIMEOUT_S = 10.0
# A status check answers in milliseconds; a push batch or a chunk on a satellite link can
# take the client's whole read timeout (30 s).
REQUEST_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_log = logging.getLogger(__name__)
# A success is a sync that ran through, as ``jaga sync status`` shows it: photos the hub
# refused for good do not hold it back (``sync.client.status``), so an alert on its age
# alone misses them; its help names the gauge that counts them.
_SUCCESS = (
    "successful sync (one that held nothing back; photos the hub refused for good do not"
    " stop it: jaga_sync_photo_uploads_failed counts them)"
)


class MetricsConfigError(ValueError):
    """``JAGA_METRICS_PORT`` is set to something that is not a port number."""


def metrics_port(env: Mapping[str, str]) -> int | None:
    """The port to serve metrics on, or None when metrics are off (the default)."""
    text = env.get(METRICS_PORT_ENV, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise MetricsConfigError(f"{METRICS_PORT_ENV} must be a port number 1-65535, not {text!r}")
    return int(text)


@dataclass(frozen=True)
class SyncSample:
    """The store's sync figures at one moment."""

    outbox: Mapping[str, int]  # entries by state; "rejected" ones are the quarantined
    pending_uploads: int
    failed_uploads: int  # refused for good, the bytes only here (``failed_uploads``)
    last_attempt: datetime | None
    last_success: datetime | None
    last_failed: bool
    last_held_back: bool  # a proxy's body limit held entries, photos or audit entries back
    pack_announced: str | None
    pack_installed: str | None
    pack_failures: int  # consecutive failed installs of the announced pack


def read_sample(store: Store, env: Mapping[str, str]) -> SyncSample:
    status = read_status(store, env)
    failures = failures_record(read_values(store.database))
    return SyncSample(
        outbox=dict(status.outbox),
        pending_uploads=status.pending_uploads,
        failed_uploads=status.failed_uploads,
        last_attempt=_moment(status.last.attempted_at),
        last_success=_moment(status.last.succeeded_at),
        last_failed=status.last.error is not None,
        last_held_back=status.last.held_back is not None,
        pack_announced=status.species_pack.announced,
        pack_installed=status.species_pack.installed,
        pack_failures=failures.failures if failures is not None else 0,
    )


def _moment(text: str | None) -> datetime | None:
    return parse_timestamp(text) if text else None


class StoreReader:
    """One store, opened on first use on a thread of its own, read for every scrape."""

    def __init__(self, open_store: Callable[[], Store], env: Mapping[str, str]) -> None:
        self._open_store = open_store
        self._env = env
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="jaga-metrics-store")
        self._store: Store | None = None  # touched on that thread only

    def sample(self, timeout_s: float = READ_TIMEOUT_S) -> SyncSample:
        return self._thread.submit(self._read).result(timeout_s)

    def close(self) -> None:
        self._thread.submit(self._close).result()
        self._thread.shutdown()

    def _read(self) -> SyncSample:
        if self._store is None:
            self._store = self._open_store()
        try:
            return read_sample(self._store, self._env)
        except SyncError:
            self._close()  # opened afresh next time: the file may have been replaced
            raise

    def _close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store.close()


class StoreCollector(Collector):
    """The store's figures, read when Prometheus scrapes."""

    def __init__(self, reader: StoreReader) -> None:
        self._reader = reader

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            sample = self._reader.sample()
        except (SyncError, TimeoutError) as error:  # locked, wrong key, gone: say so, keep on
            _log.warning("metrics: the store could not be read: %s", error)
            sample = None
        yield _gauge("jaga_sync_store_up", "1 when the store was read for this scrape",
                     0.0 if sample is None else 1.0)  # fmt: skip
        if sample is not None:
            yield from _families(sample)


class _SampleCollector(Collector):
    """One sample, read already (``jaga sync status --prometheus``)."""

    def __init__(self, sample: SyncSample) -> None:
        self._sample = sample

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield _gauge("jaga_sync_store_up", "1 when the store was read for this scrape", 1.0)
        yield from _families(self._sample)


def store_exposition(store: Store, env: Mapping[str, str]) -> bytes:
    """The store's figures as the app serves them, in Prometheus text, read once: for a
    device that syncs from a timer without the app (node_exporter's textfile collector)."""
    registry = CollectorRegistry()
    registry.register(_SampleCollector(read_sample(store, env)))
    return generate_latest(registry)


def _families(sample: SyncSample) -> Iterator[GaugeMetricFamily]:
    outbox = GaugeMetricFamily(
        "jaga_sync_outbox_entries",
        "Outbox entries by state (queued and sent: the backlog; rejected: quarantined;"
        " acknowledged: only the catches, photos and erasures the store keeps, access"
        " decisions, people and face templates being deleted once acknowledged)",
        labels=["state"],
    )
    for state in OutboxState:
        outbox.add_metric([state.value], sample.outbox.get(state.value, 0))
    yield outbox
    yield _gauge("jaga_sync_photo_uploads_pending", "Photos whose bytes the hub still lacks",
                 sample.pending_uploads)  # fmt: skip
    yield _gauge("jaga_sync_photo_uploads_failed",
                 "Photos whose upload the hub refused for good, their bytes only on this device"
                 " (`jaga sync status` says why; `jaga sync retry-uploads` sends them again)",
                 sample.failed_uploads)  # fmt: skip
    for name, moment, what in (
        ("jaga_sync_last_attempt_timestamp_seconds", sample.last_attempt, "attempt"),
        ("jaga_sync_last_success_timestamp_seconds", sample.last_success, _SUCCESS),
    ):
        if moment is not None:  # never synced: no sample, rather than 1970
            yield _gauge(name, f"When the last {what} ended (Unix time)", moment.timestamp())
    yield _gauge("jaga_sync_last_attempt_failed", "1 when the last sync attempt failed",
                 float(sample.last_failed))  # fmt: skip
    yield _gauge("jaga_sync_last_attempt_held_back",
                 "1 when a proxy's body-size limit held entries, photos or audit entries back in"
                 " the last"
                 " sync attempt (the rest ran; raise that limit)",
                 float(sample.last_held_back))  # fmt: skip
    yield _gauge("jaga_sync_species_pack_install_failures",
                 "Consecutive failed installs of the announced species pack",
                 sample.pack_failures)  # fmt: skip
    pack = GaugeMetricFamily(
        "jaga_sync_species_pack_info",
        "The species pack the hub announced and the one installed (1; '' for none)",
        labels=["announced", "installed"],
    )
    pack.add_metric([sample.pack_announced or "", sample.pack_installed or ""], 1.0)
    yield pack


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class SyncMetrics:
    """A device's sync metrics in their own registry (several can live in one process)."""

    def __init__(self, reader: StoreReader | None = None) -> None:
        self.registry = CollectorRegistry()
        self._attempts = Counter(
            "jaga_sync_attempts",
            "Sync attempts by outcome: ok, offline (hub unreachable), failed, paused (needs"
            " an operator), busy (another sync held the store), stopped (ended early by"
            " the app closing), partial (reached its per-sync limits with more to do)",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in Attempt:  # every outcome shows from the start, at 0
            self._attempts.labels(outcome.value)
        self._requests = Histogram(
            "jaga_sync_request_duration_seconds",
            "Requests to the hub by operation and status class, as the device timed them",
            ["operation", "status"],
            buckets=REQUEST_BUCKETS_S,
            registry=self.registry,
        )
        if reader is not None:
            self.registry.register(StoreCollector(reader))

    def record_attempt(self, outcome: Attempt) -> None:
        """``SyncService``'s ``on_attempt``."""
        self._attempts.labels(outcome.value).inc()

    def observe_request(self, timing: RequestTiming) -> None:
        """``HubTransport``'s observer (called on the sync thread)."""
        status = "no_answer" if timing.status is None else f"{timing.status // 100}xx"
        self._requests.labels(timing.operation, status).observe(timing.seconds)


class MetricsServer:
    """Prometheus's HTTP endpoint for ``registry`` on 127.0.0.1 (a thread of its own)."""

    def __init__(self, registry: CollectorRegistry, port: int) -> None:
        """``port`` 0 picks a free one (tests); raises ``OSError`` if it is taken."""
        self._server: Any
        self._server, self._thread = start_http_server(port, addr=LOOPBACK, registry=registry)
        self._thread.name = "jaga-metrics-http"  # for leak checks and thread dumps
        self._closed = False

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
