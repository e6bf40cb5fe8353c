"""The hub's /metrics: a real device's push seen in the counters of a two-worker hub, what
the database holds read at each scrape, and who may read them.

One ``jaga hub run`` (two gunicorn workers) for the module; its counters move only for this
module's requests. The database is shared with other tests, so its figures are read for
this test's own site.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sync.hub.metrics_process import MULTIPROC_ENV, PARENT_ENV
from tests.sync.client.devices import (
    add_access_events,
    add_observations,
    add_photo_observation,
    new_device,
)
from tests.sync.hub.entries import access_event, at, batch, entry, observation
from tests.sync.hub.hubkit import REPO, Api, HubProcess, example_env

TOKEN = f"metrics-{uuid.uuid4().hex}"
PUSH = "api/v1/sites/<slug:site>/push"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def metrics_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hub-metrics")


@pytest.fixture(scope="module")
def metrics_hub(hub_database: str, metrics_root: Path) -> Iterator[HubProcess]:
    hub = HubProcess(hub_database, metrics_root / "hub", workers=2)
    (metrics_root / "counts").mkdir()
    with pytest.MonkeyPatch.context() as env:  # the hub process copies the environment
        env.setenv("JAGA_HUB_METRICS_TOKEN", TOKEN)
        env.setenv(PARENT_ENV, str(metrics_root / "counts"))
        hub.start()
    try:
        yield hub
    finally:
        hub.kill()


def scrape(hub: HubProcess) -> Samples:
    """One scrape on a new connection (so either worker may answer), parsed."""
    with httpx.Client() as http:
        response = http.get(f"{hub.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_device_push_moves_the_counters_by_exactly_what_it_pushed_in_every_worker(
    metrics_hub: HubProcess, metrics_root: Path, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, metrics_hub.url, site_slug)
    before = scrape(metrics_hub)
    with device.open() as store, httpx.Client() as http:
        add_observations(store, 7, "metrics")  # top-1 0.7; numbers 0, 3, 6 need review
        add_access_events(store, site_slug, 3)  # not_matched, verified, not_matched
        add_photo_observation(store, 20_000, seed=3, tag="metrics")  # top-1 0.5, needs review
        report = device.client(store, http).sync_once()
    assert (report.push.acknowledged, report.push.rejected, report.uploads.completed) == (12, 0, 1)
    # The same batch twice: two new events, then two duplicates; the foreign one refused twice.
    pushed = batch(str(device.registration.device_id), [
        entry("access_event", "upsert", access_event(site_slug, decision="spoof_detected")),
        entry("access_event", "upsert", access_event(site_slug, decision="a-new-decision")),
        entry("access_event", "upsert", access_event("another-site")),
    ]).model_dump_json()  # fmt: skip
    headers = {"Authorization": f"Bearer {device.registration.token}",
               "Content-Type": "application/json"}  # fmt: skip
    for _ in range(2):
        answer = httpx.post(
            f"{metrics_hub.url}/api/v1/sites/{site_slug}/push", content=pushed, headers=headers
        )
        assert answer.status_code == 200 and len(answer.json()["rejected"]) == 1

    scrapes = [scrape(metrics_hub) for _ in range(12)]
    for number, after in enumerate(scrapes):
        moved = Moved(before, after)
        assert moved("jaga_hub_push_entries_total", entity="fish_observation",
                     outcome="applied") == 8  # fmt: skip
        assert moved("jaga_hub_push_entries_total", entity="photo", outcome="applied") == 1
        assert moved("jaga_hub_push_entries_total", entity="access_event", outcome="applied") == 5
        assert moved("jaga_hub_push_entries_total", entity="access_event",
                     outcome="duplicate") == 2  # fmt: skip
        assert moved("jaga_hub_push_entries_total", entity="access_event", outcome="refused") == 2
        for decision, count in (("verified", 1), ("not_matched", 2), ("spoof_detected", 1),
                                ("other", 1)):  # fmt: skip
            assert moved("jaga_hub_access_events_total", decision=decision) == count, decision
        assert moved("jaga_hub_fish_top_confidence_count") == 8
        assert moved("jaga_hub_fish_top_confidence_bucket", le="0.5") == 1
        assert moved("jaga_hub_fish_top_confidence_bucket", le="0.6") == 1
        assert moved("jaga_hub_fish_top_confidence_bucket", le="0.7") == 8
        pushes = report.push.batches + 2
        assert moved("jaga_hub_http_requests_total", endpoint=PUSH, method="POST",
                     status="2xx") == pushes  # fmt: skip
        assert moved("jaga_hub_http_request_duration_seconds_count", endpoint=PUSH) == pushes
        # Every earlier scrape counted once, whichever worker answered it and this one.
        assert moved("jaga_hub_http_requests_total", endpoint="metrics", method="GET",
                     status="2xx") == number + 1  # fmt: skip
        assert value(after, "jaga_hub_database_up") == 1
        assert_site_figures(after, site_slug)
    assert len(counting_workers(metrics_root / "counts")) == 2  # both workers' counts were in it


class Moved:
    def __init__(self, before: Samples, after: Samples) -> None:
        self.before, self.after = before, after

    def __call__(self, name: str, **labels: str) -> float:
        return value(self.after, name, **labels) - value(self.before, name, **labels)


def assert_site_figures(samples: Samples, site: str) -> None:
    """What the database holds for the site, read at scrape time."""
    records = {kind: value(samples, "jaga_hub_site_records", site=site, kind=kind)
               for kind in ("fish_observations", "access_events", "photos", "people")}  # fmt: skip
    assert records == {"fish_observations": 8, "access_events": 5, "photos": 1, "people": 0}
    assert value(samples, "jaga_hub_review_queue", site=site) == 4
    verdicts = {status: value(samples, "jaga_hub_fish_verdicts", site=site, status=status)
                for status in ("identified", "unknown", "no_fish", "not_recorded")}  # fmt: skip
    assert verdicts == {"identified": 0, "unknown": 0, "no_fish": 0, "not_recorded": 8}
    photos = {state: value(samples, "jaga_hub_photos", site=site, state=state)
              for state in ("stored", "uploading", "awaiting_upload")}  # fmt: skip
    assert photos == {"stored": 1, "uploading": 0, "awaiting_upload": 0}
    devices = {age: value(samples, "jaga_hub_devices", site=site, last_seen=age)
               for age in ("under_1h", "under_1d", "under_7d", "over_7d", "never")}  # fmt: skip
    assert devices == {"under_1h": 1, "under_1d": 0, "under_7d": 0, "over_7d": 0, "never": 0}


def counting_workers(parent: Path) -> set[str]:
    """The processes whose counter files are in this hub's folder (one folder per start)."""
    (folder,) = parent.iterdir()
    return {path.stem.removeprefix("counter_") for path in folder.glob("counter_*.db")}


def test_a_scrape_without_the_token_is_refused(metrics_hub: HubProcess) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-of-some-length"},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}):  # fmt: skip
        response = httpx.get(f"{metrics_hub.url}/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "jaga_hub" not in response.text


@pytest.mark.parametrize("token", ["", "short", "x" * 15])
def test_metrics_are_off_until_a_long_enough_token_is_set(token: str) -> None:
    from django.test import Client, override_settings

    with override_settings(JAGA_HUB_METRICS_TOKEN=token):
        response = Client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["error"] == "metrics_off"
    assert "JAGA_HUB_METRICS_TOKEN" in response.json()["reason"]


def test_the_example_envs_placeholder_token_leaves_metrics_off() -> None:
    """An operator who copies hub.env.example and forgets this line must not publish every
    site's figures to whoever has read the repository (nginx proxies /metrics)."""
    from django.test import Client, override_settings

    placeholder = example_env()["JAGA_HUB_METRICS_TOKEN"]
    with override_settings(JAGA_HUB_METRICS_TOKEN=placeholder):
        response = Client().get("/metrics", headers={"Authorization": f"Bearer {placeholder}"})
    assert response.status_code == 403
    assert response.json()["error"] == "metrics_off"
    assert "placeholder" in response.json()["reason"]
    assert "jaga_hub" not in response.text


def test_request_labels_name_url_patterns_never_paths(site_slug: str) -> None:
    """A path's site, upload id or junk never becomes a label value (series stay bounded)."""
    from django.test import Client, override_settings

    upload = uuid.uuid4()
    client = Client()
    client.get(f"/api/v1/sites/{site_slug}/uploads/{upload}")
    client.get(f"/no/such/{upload}")
    client.post(f"/api/v1/sites/{site_slug}/push", b"{}", content_type="application/json",
                CONTENT_LENGTH=str(10**9))  # fmt: skip
    with override_settings(JAGA_HUB_METRICS_TOKEN=TOKEN):
        text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    requests = [
        sample.labels
        for family in text_string_to_metric_families(text)
        if family.name == "jaga_hub_http_requests"
        for sample in family.samples
    ]
    endpoints = {labels["endpoint"] for labels in requests}
    assert {"api/v1/sites/<slug:site>/uploads/<uuid:upload_id>", "unmatched", PUSH} <= endpoints
    refused = {"endpoint": PUSH, "method": "POST", "status": "4xx"}
    assert refused in requests  # refused before the URL was resolved, still named by pattern
    assert not any(str(upload) in e or site_slug in e for e in endpoints)


def test_each_hub_start_counts_in_a_fresh_folder_removed_after(tmp_path: Path) -> None:
    """In a fresh interpreter, as in ``jaga hub run``'s master before it forks."""
    script = (
        "import os, pathlib\n"
        "from sync.hub.metrics_process import multiprocess_metrics\n"
        "with multiprocess_metrics() as folder:\n"
        f"    assert os.environ['{MULTIPROC_ENV}'] == str(folder)\n"
        "    assert list(folder.iterdir()) == []\n"
        f"    assert folder.parent == pathlib.Path(os.environ['{PARENT_ENV}'])\n"
        "    from prometheus_client import Counter\n"
        "    Counter('probe', 'probe').inc()\n"
        "    assert [p.name for p in folder.iterdir()] == [f'counter_{os.getpid()}.db']\n"
        "assert not folder.exists()\n"
        f"assert '{MULTIPROC_ENV}' not in os.environ\n"
    )
    env = {"PATH": "/usr/bin:/bin", PARENT_ENV: str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_prometheus_imported_before_the_folder_is_set_stops_the_start() -> None:
    script = (
        "import prometheus_client\n"
        "from sync.hub.metrics_process import MetricsSetupError, multiprocess_metrics\n"
        "try:\n"
        "    with multiprocess_metrics():\n"
        "        raise SystemExit('started')\n"
        "except MetricsSetupError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "PROMETHEUS_MULTIPROC_DIR" in done.stdout


def test_a_scrape_counts_each_sites_catches_by_the_packs_verdict(api: Api, other_api: Api) -> None:
    """Read from the database at the scrape, so a verdict that changes with new predictions
    moves; a catch from a protocol-3 device (no verdict sent) is ``not_recorded``."""
    from django.test import Client, override_settings

    blank: dict[str, Any] = {"predictions": [], "status": "no_fish", "status_reason": "blank"}
    catches = [observation(status="identified"), observation(status="unknown"),
               observation(status="unknown"), observation(**blank), observation()]  # fmt: skip
    api.push(*(entry("fish_observation", "upsert", c, when=at(0)) for c in catches))
    other_api.push(entry("fish_observation", "upsert", observation(status="unknown")))
    identified = catches[1] | {"predictions": [["Gadus morhua", 0.9]], "status": "identified"}
    api.push(entry("fish_observation", "upsert", identified, when=at(5)))

    with override_settings(JAGA_HUB_METRICS_TOKEN=TOKEN):
        text = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "jaga_hub_fish_verdicts"
    ]
    by_status = {
        s.labels["status"]: s.value for s in family.samples if s.labels["site"] == api.site
    }
    assert by_status == {"identified": 2, "unknown": 1, "no_fish": 1, "not_recorded": 1}
    other = {
        s.labels["status"]: s.value for s in family.samples if s.labels["site"] == other_api.site
    }
    assert other == {"identified": 0, "unknown": 1, "no_fish": 0, "not_recorded": 0}


def test_a_site_with_nothing_to_count_publishes_zeros(api: Api) -> None:
    """A fresh site's review queue, audit breaks and people gave no sample at all (only
    HELP and TYPE), so an alert on them neither fired nor cleared."""
    from django.test import Client, override_settings

    with override_settings(JAGA_HUB_METRICS_TOKEN=TOKEN):
        text = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    ours = {
        (sample.name, frozenset((k, v) for k, v in sample.labels.items() if k != "site"))
        : sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("site") == api.site
    }  # fmt: skip
    expected = [
        ("jaga_hub_review_queue", {}),
        ("jaga_hub_access_after_erasure", {}),
        ("jaga_hub_audit_breaks", {"state": "open"}),
        ("jaga_hub_audit_breaks", {"state": "acknowledged"}),
        ("jaga_hub_audit_pruned", {"state": "open"}),
        ("jaga_hub_site_records", {"kind": "people"}),
        ("jaga_hub_site_records", {"kind": "access_events"}),
        ("jaga_hub_photos", {"state": "awaiting_upload"}),
        ("jaga_hub_fish_verdicts", {"status": "unknown"}),
        ("jaga_hub_audit_entries", {}),
        ("jaga_hub_audit_new_chains", {}),
    ]
    for name, labels in expected:
        assert ours.get((name, frozenset(labels.items()))) == 0.0, (name, labels)
