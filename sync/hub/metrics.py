"""The hub's own Prometheus metrics: requests, pushed entries, what pushed records say.

Counters and histograms live in each gunicorn worker. ``jaga hub run`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before any worker starts
(``sync.hub.metrics_process``), so every worker writes its values there and a scrape, served
by any one worker, adds them all up. For that the metric objects must be made after the
folder is set: they are built on first use (in a worker, after the fork), never at import,
because Django's start-up in the master already imports the modules that count.

Label values come from short fixed lists (``bounded``), never from what a device sent as is:
a device could otherwise mint series at will. Entry outcomes are counted when the push
commits (``transaction.on_commit``), so a batch the database rolls back counts nothing, and a
rejected entry's savepoint takes its record's counts with it.

The state that the database holds (backlogs, devices, records per site) is read at scrape
time instead (``sync.hub.metrics_db``): exact, and the same whichever worker answers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

OTHER = "other"
ENTITIES = ("person", "face_template", "photo", "fish_observation", "access_event")
# How a pushed entry ended: the ledger's outcomes, a replayed key, or a rejection.
OUTCOMES = (
    "applied",
    "unchanged",
    "superseded",
    "early_retention",
    "same_catch",
    "duplicate",
    "refused",
    "retry_later",
)
# The face pipeline's decisions (inference.face.decision.Status; sync may not import it).
DECISIONS = (
    "no_face_detected",
    "multiple_faces",
    "low_quality",
    "spoof_detected",
    "challenge_required",
    "verified",
    "not_matched",
)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Request latency: a status check takes milliseconds, a push of a full batch seconds;
# gunicorn gives up on a request after 60 s.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


def bounded(value: str, allowed: Iterable[str]) -> str:
    """``value`` when it is one of ``allowed``, else ``"other"``."""
    return value if value in allowed else OTHER


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else OTHER


@dataclass(frozen=True)
class HubMetrics:
    requests: Counter
    latency: Histogram
    entries: Counter
    decisions: Counter
    fish_confidence: Histogram
    journal_failures: Counter


_making = threading.Lock()
_made: list[HubMetrics] = []  # the process's one set, once made


def hub_metrics() -> HubMetrics:
    """The process's metrics, made (and registered) on first use; see the module's note.

    Under a lock: a worker answers on several threads, and two first requests at once would
    each register the same series ("Duplicated timeseries"), failing one of them.
    """
    if not _made:
        with _making:
            if not _made:
                _made.append(_make())
    return _made[0]


def _make() -> HubMetrics:
    from prometheus_client import Counter, Histogram

    return HubMetrics(
        requests=Counter(
            "jaga_hub_http_requests",
            "HTTP requests answered, by endpoint (URL pattern), method and status class",
            ["endpoint", "method", "status"],
        ),
        latency=Histogram(
            "jaga_hub_http_request_duration_seconds",
            "Time to answer a request (until the response is ready), by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS_S,
        ),
        entries=Counter(
            "jaga_hub_push_entries",
            "Pushed outbox entries by entity and outcome (applied, unchanged, superseded,"
            " early_retention: a retention erasure from a device whose clock is ahead, kept"
            " until the hub's purge; same_catch: a catch its device pushed again under a new"
            " uid, kept once; duplicate: a retried key; refused: quarantined on the device;"
            " retry_later)",
            ["entity", "outcome"],
        ),
        decisions=Counter(
            "jaga_hub_access_events",
            "Kiosk access events stored, by decision (spoof_detected: liveness refused a face)",
            ["decision"],
        ),
        fish_confidence=Histogram(
            "jaga_hub_fish_top_confidence",
            "The classifier's top-1 confidence of each new fish observation (drift shows here)",
            buckets=CONFIDENCE_BUCKETS,
        ),
        journal_failures=Counter(
            "jaga_hub_erasure_journal_failures",
            "Erasures that stand but could not be written to the erasure journal in the hub's"
            " data folder (sync.hub.erasure_journal): a restore of the database from a backup"
            " older than them would bring those people back; alert on any (the workers'"
            " erasures: `jaga hub purge-expired` lists its own and exits 1)",
        ),
    )


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    metrics = hub_metrics()
    metrics.requests.labels(endpoint, bounded(method, METHODS), status_class(status)).inc()
    metrics.latency.labels(endpoint).observe(seconds)


def count_entry(entity: str, outcome: str) -> None:
    """Count a pushed entry's outcome once its transaction commits."""
    labels = (bounded(entity, ENTITIES), bounded(outcome, OUTCOMES))
    transaction.on_commit(lambda: hub_metrics().entries.labels(*labels).inc())


def count_access_event(decision: str) -> None:
    """Count a newly stored access event once its transaction commits."""
    label = bounded(decision, DECISIONS)
    transaction.on_commit(lambda: hub_metrics().decisions.labels(label).inc())


def observe_fish_confidence(predictions: list[tuple[str, float]]) -> None:
    """Observe a new observation's top-1 confidence once its transaction commits."""
    if predictions:
        top = max(score for _, score in predictions)
        transaction.on_commit(lambda: hub_metrics().fish_confidence.observe(top))
