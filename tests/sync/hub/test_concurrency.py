"""Many devices of one site pushing at once to a real hub process: no 5xx, no deadlock,
every record once, and the site's change cursors without gaps or duplicates."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import httpx

from sync.hub import auth
from sync.hub.models import Change, FishObservation, Person
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import HubProcess

DEVICES = 6
BATCHES = 5


def _device(hub: HubProcess, site: str, name: str) -> tuple[str, dict[str, str]]:
    code = auth.create_device(site, name).code
    body = httpx.post(f"{hub.url}/api/v1/devices/register", json={"code": code}).json()
    return body["device_id"], {"Authorization": f"Bearer {body['token']}"}


def test_concurrent_pushes_of_one_site(live_hub: HubProcess, site_slug: str) -> None:
    shared = [e.person(site_slug, name=f"Shared {i}") for i in range(4)]
    first_id, first_headers = _device(live_hub, site_slug, "seed")
    seed = e.batch(first_id, [e.entry("person", "upsert", p) for p in shared])
    url = f"{live_hub.url}/api/v1/sites/{site_slug}/push"
    assert httpx.post(url, json=seed.model_dump(mode="json"), headers=first_headers).is_success
    devices = [_device(live_hub, site_slug, f"kiosk-{i}") for i in range(DEVICES)]
    observations: list[str] = []

    def push_all(device: tuple[str, dict[str, str]], rng: random.Random) -> list[int]:
        device_id, headers = device
        statuses = []
        with httpx.Client(timeout=60) as client:
            for minute in range(BATCHES):
                edits = rng.sample(shared, len(shared))  # record locks in a random order
                batch = [e.entry("person", "upsert", p | {"display_name": f"{device_id[:6]}"
                                 f" {minute}"}, when=e.at(minute)) for p in edits]  # fmt: skip
                catch = [e.observation() for _ in range(5)]
                observations.extend(o["observation_uid"] for o in catch)
                batch += [e.entry("fish_observation", "upsert", o) for o in catch]
                body = e.batch(device_id, batch).model_dump(mode="json")
                statuses.append(client.post(url, json=body, headers=headers).status_code)
        return statuses

    with ThreadPoolExecutor(DEVICES) as pool:
        runs = [pool.submit(push_all, d, random.Random(i)) for i, d in enumerate(devices)]
        statuses = [status for run in runs for status in run.result()]
    assert statuses == [200] * (DEVICES * BATCHES)
    assert FishObservation.objects.filter(uid__in=observations).count() == len(observations)
    cursors = list(Change.objects.filter(site__slug=site_slug).values_list("cursor", flat=True))
    assert sorted(cursors) == list(range(1, len(cursors) + 1))
    winners = {Person.objects.get(uid=p["person_uid"]).display_name for p in shared}
    assert all(name.endswith(f" {BATCHES - 1}") for name in winners)  # the latest minute wins
