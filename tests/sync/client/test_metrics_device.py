"""A device's sync metrics: read from a real encrypted store at scrape time, counted by the
service and the transport as things happen, served on 127.0.0.1 only and only when asked."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from main import main
from sync.client import Backoff, Phase, SyncClient, SyncService
from sync.client.config import SitePolicy, SyncConfig
from sync.client.metrics import (
    MetricsConfigError,
    MetricsServer,
    StoreReader,
    SyncMetrics,
    metrics_port,
)
from sync.client.packs import FAILURES_NAME, PackFailures
from sync.client.service import Attempt
from sync.client.state import ensure_schema, put_values, record_result, record_species_pack
from sync.store import Passphrase, Store
from tests.sync.client.devices import add_photo_observation
from tests.sync.client.fakehub import FakeHub, Fault, registration
from tests.sync.client.recorder import Recorder
from tests.sync.client.units import SMALL, observations
from tests.sync.conftest import FAST, FakeClock

PASSWORD = Passphrase("pw")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(registry: CollectorRegistry) -> Samples:
    return parse(generate_latest(registry).decode())


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@contextlib.contextmanager
def metrics_of(db_path: Path, source: Passphrase = PASSWORD) -> Iterator[SyncMetrics]:
    reader = StoreReader(lambda: Store.open(db_path, source, config=FAST), {})
    try:
        yield SyncMetrics(reader)
    finally:
        reader.close()


def outbox_of(samples: Samples) -> dict[str, float | None]:
    states = ("queued", "sent", "acknowledged", "rejected")
    return {state: value(samples, "jaga_sync_outbox_entries", state=state) for state in states}


def test_the_store_s_figures_are_read_exactly_at_each_scrape(
    db_path: Path, clock: FakeClock
) -> None:
    with Store.create(db_path, PASSWORD, clock=clock, config=FAST) as store:
        ensure_schema(store.database)
        observations(store, 10)
        photo_uid = add_photo_observation(store, 3000, seed=1, tag="pending")
        settle_some(store, photo_uid)
        record_result(store.database, clock.now(), None)
        success_at = clock.now().timestamp()
        clock.advance(minutes=5)
        record_result(store.database, clock.now(), "HubUnavailableError: the link is down")
        announce_a_failing_pack(store, clock)
        with metrics_of(db_path) as metrics:
            first = scrape(metrics.registry)
            observations(store, 2, "after the first scrape")
            second = scrape(metrics.registry)
    assert value(first, "jaga_sync_store_up") == 1
    # 12 entries: 10 observations, then the photo and its observation; see settle_some.
    assert outbox_of(first) == {"queued": 4, "sent": 2, "acknowledged": 4, "rejected": 2}
    assert outbox_of(second) == {"queued": 6, "sent": 2, "acknowledged": 4, "rejected": 2}
    assert value(first, "jaga_sync_photo_uploads_pending") == 1
    assert value(first, "jaga_sync_last_success_timestamp_seconds") == success_at
    assert value(first, "jaga_sync_last_attempt_timestamp_seconds") == success_at + 300
    assert value(first, "jaga_sync_last_attempt_failed") == 1
    assert value(first, "jaga_sync_species_pack_install_failures") == 2
    assert value(first, "jaga_sync_species_pack_info", announced="2026.03", installed="") == 1


def settle_some(store: Store, photo_uid: str) -> None:
    """Of the 12 entries: 3 observations and the photo acknowledged, 2 rejected, 2 still
    sent; the photo observation and 3 more observations stay queued."""
    entries = store.outbox.queued()
    photo = next(e.idempotency_key for e in entries if e.entity_uid == photo_uid)
    keys = [e.idempotency_key for e in entries if e.entity == "fish_observation"]
    store.outbox.mark_sent([*keys[:7], photo])
    store.outbox.mark_acknowledged([*keys[:3], photo])
    for key in keys[3:5]:
        store.outbox.mark_rejected(key, "refused by the hub")


def announce_a_failing_pack(store: Store, clock: FakeClock) -> None:
    sha256 = "ab" * 32
    with store.database.write() as connection:
        announcement = {"version": "2026.03", "sha256": sha256, "byte_size": 1000}
        record_species_pack(connection, announcement, clock.now())
    failures = PackFailures("2026.03", sha256, 2, clock.now(), "the download was cut")
    put_values(store.database, {FAILURES_NAME: failures.to_json()}, clock.now())


def test_a_store_that_cannot_be_read_says_so_and_the_scrape_still_answers(
    db_path: Path,
) -> None:
    Store.create(db_path, PASSWORD, config=FAST).close()
    with metrics_of(db_path, Passphrase("not the passphrase")) as metrics:
        metrics.record_attempt(Attempt.OK)  # counted in the process, store or not
        samples = scrape(metrics.registry)
    assert value(samples, "jaga_sync_store_up") == 0
    assert value(samples, "jaga_sync_outbox_entries", state="queued") is None
    assert value(samples, "jaga_sync_attempts_total", outcome="ok") == 1


def test_the_service_counts_each_attempt_and_the_client_times_each_request(
    db_path: Path,
) -> None:
    with Store.create(db_path, PASSWORD, config=FAST) as store:
        observations(store, 30)  # two batches of 20
    hub, recorder = FakeHub(), Recorder()
    hub.faults.extend(Fault("push", drop=True) for _ in range(2))
    hub.faults.append(Fault("push", status=503, error="database_unavailable"))
    with metrics_of(db_path) as metrics:

        @contextlib.contextmanager
        def open_client() -> Iterator[SyncClient]:
            with Store.open(db_path, PASSWORD, config=FAST) as opened:
                config = SyncConfig(registration(), SitePolicy(), SMALL)
                yield SyncClient(opened, hub.client(), config, observer=metrics.observe_request)

        service = SyncService(
            open_client, interval_s=3600, backoff=Backoff(base_s=0.01, cap_s=0.02),
            on_state=recorder, on_attempt=metrics.record_attempt,
        )  # fmt: skip
        service.start()
        try:
            recorder.wait_for(lambda s: s.phase == Phase.IDLE and s.last_report is not None)
        finally:
            service.stop(timeout_s=10)
        samples = scrape(metrics.registry)
    attempts = {o: value(samples, "jaga_sync_attempts_total", outcome=o)
                for o in ("ok", "offline", "failed", "paused", "busy")}  # fmt: skip
    assert attempts == {"ok": 1, "offline": 3, "failed": 0, "paused": 0, "busy": 0}
    pushes = hub.requests.count("POST /api/v1/sites/north-gate/push")
    assert pushes == 5  # 3 failed, then 2 batches
    timed = value(samples, "jaga_sync_request_duration_seconds_count", operation="push",
                  status="2xx")  # fmt: skip
    assert timed == 2
    assert value(samples, "jaga_sync_request_duration_seconds_count", operation="push",
                 status="5xx") == 1  # fmt: skip
    assert value(samples, "jaga_sync_request_duration_seconds_count", operation="push",
                 status="no_answer") == 2  # fmt: skip
    assert value(samples, "jaga_sync_outbox_entries", state="acknowledged") == 30


def test_the_endpoint_listens_on_loopback_only_and_stops(db_path: Path) -> None:
    Store.create(db_path, PASSWORD, config=FAST).close()
    with metrics_of(db_path) as metrics:
        server = MetricsServer(metrics.registry, 0)
        host, port = server.address
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/metrics")
        finally:
            server.close()
        assert host == "127.0.0.1"
        assert response.status_code == 200
        assert value(parse(response.text), "jaga_sync_outbox_entries", state="queued") == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/metrics")


def test_metrics_are_off_unless_a_port_is_given() -> None:
    assert metrics_port({}) is None
    assert metrics_port({"JAGA_METRICS_PORT": " "}) is None
    assert metrics_port({"JAGA_METRICS_PORT": "9464"}) == 9464
    for bad in ("0", "65536", "http", "-1", "9464x", "٩٤"):
        with pytest.raises(MetricsConfigError, match="JAGA_METRICS_PORT must be a port"):
            metrics_port({"JAGA_METRICS_PORT": bad})


def test_sync_status_writes_the_apps_figures_for_node_exporter(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.create(db_path, PASSWORD, config=FAST) as store:
        observations(store, 7)
        settle_some(store, add_photo_observation(store, 3000, seed=2, tag="pending"))
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", "pw")
    target = tmp_path / "textfile" / "jaga.prom"
    target.parent.mkdir()
    assert main(["sync", "status", "--db", str(db_path), "--prometheus", str(target)]) == 0
    written = parse(target.read_text(encoding="utf-8"))
    with metrics_of(db_path) as metrics:
        served = scrape(metrics.registry)
    counted_by_the_app = ("jaga_sync_attempts", "jaga_sync_request_duration_seconds")
    read_from_the_store = {
        key: figure
        for key, figure in served.items()
        if key[0].startswith("jaga_sync_") and not key[0].startswith(counted_by_the_app)
    }
    assert written == read_from_the_store  # what the app serves, from the same store
    assert outbox_of(written) == {"queued": 1, "sent": 2, "acknowledged": 4, "rejected": 2}
    assert [path.name for path in target.parent.iterdir()] == ["jaga.prom"]  # no partial


def test_sync_status_says_why_it_cannot_write_the_file(
    db_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    Store.create(db_path, PASSWORD, config=FAST).close()
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", "pw")
    target = tmp_path / "no-such-folder" / "jaga.prom"
    with pytest.raises(SystemExit) as refused:  # when the command line is read
        main(["sync", "status", "--db", str(db_path), "--prometheus", str(target)])
    assert refused.value.code == 2
    assert f"cannot write {target}: there is no folder" in capsys.readouterr().err
    assert not target.parent.exists()


def test_a_sync_a_proxy_held_photos_back_from_is_no_failed_attempt_but_shows(
    db_path: Path, clock: FakeClock
) -> None:
    """It ran, so it is no failed attempt, but what it held back waits for an operator to
    raise the proxy's limit: a gauge of its own to alert on, and the last success stays the
    last sync that held nothing back, so an alert on its age fires too (it was moved)."""
    with Store.create(db_path, PASSWORD, clock=clock, config=FAST) as store:
        ensure_schema(store.database)
        record_result(store.database, clock.now(), None)
        succeeded = clock.now().timestamp()
        clock.advance(minutes=5)
        record_result(store.database, clock.now(), None, held_back="photos wait: a 413")
        with metrics_of(db_path) as metrics:
            held = scrape(metrics.registry)
        clock.advance(minutes=5)
        record_result(store.database, clock.now(), None)
        with metrics_of(db_path) as metrics:
            passed = scrape(metrics.registry)
    assert value(held, "jaga_sync_last_attempt_held_back") == 1
    assert value(held, "jaga_sync_last_attempt_failed") == 0
    assert value(held, "jaga_sync_last_success_timestamp_seconds") == succeeded
    assert value(held, "jaga_sync_last_attempt_timestamp_seconds") == succeeded + 300
    assert value(passed, "jaga_sync_last_attempt_held_back") == 0
    assert value(passed, "jaga_sync_last_success_timestamp_seconds") == clock.now().timestamp()
