"""Simulated devices: a real encrypted store, a registration with a real hub, records.

``Device`` keeps what a test needs to build a ``SyncClient`` (in the thread that uses the
store) or to run ``jaga sync now`` in a subprocess against the same store file.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from sync.client import Registration, SitePolicy, SyncClient, SyncConfig, Tuning
from sync.client.state import ensure_schema, save_registration
from sync.client.transport import RequestObserver, register_device
from sync.store import (
    AccessEvent,
    Consent,
    FishObservation,
    ModelRef,
    Passphrase,
    Photo,
    Position,
    SpeciesScore,
    Store,
    Template,
)
from sync.store.clock import Clock
from tests.sync.conftest import FAST, random_vector
from tests.sync.images import photo_bytes as face_photo

PASSPHRASE = "correct horse battery staple"
MODEL = ModelRef("dlib-resnet-128", "1")
FAST_TUNING = Tuning(batch_entries=20, chunk_bytes=64 * 1024, read_timeout_s=10.0)


class SkewedClock:
    """The wall clock, off by a fixed amount: a device whose clock disagrees with the hub."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass(frozen=True)
class Device:
    path: Path
    registration: Registration

    def open(self, clock: Clock | None = None) -> Store:
        return Store.open(self.path, Passphrase(PASSPHRASE), clock=clock, config=FAST)

    def config(self, tuning: Tuning = FAST_TUNING, *, hub_url: str | None = None) -> SyncConfig:
        registration = self.registration
        if hub_url is not None:
            registration = replace(registration, hub_url=hub_url)
        return SyncConfig(registration, SitePolicy(), tuning)

    def client(
        self,
        store: Store,
        http: httpx.Client,
        *,
        hub_url: str | None = None,
        tuning: Tuning = FAST_TUNING,
        observer: RequestObserver | None = None,
    ) -> SyncClient:
        return SyncClient(store, http, self.config(tuning, hub_url=hub_url), observer=observer)

    def environment(self, hub_url: str) -> dict[str, str]:
        """The environment ``jaga sync now`` needs, for a subprocess."""
        registration = self.registration
        return {
            **os.environ,
            "JAGA_STORE_PASSPHRASE": PASSPHRASE,
            "JAGA_HUB_URL": hub_url,
            "JAGA_SYNC_SITE": registration.site,
            "JAGA_SYNC_DEVICE_ID": str(registration.device_id),
            "JAGA_SYNC_TOKEN": registration.token,
        }


def register(hub_url: str, site: str, name: str) -> Registration:
    """Create the device on the hub (as an operator would) and register it over HTTP."""
    from sync.hub.auth import create_device

    code = create_device(site, name).code
    with httpx.Client() as http:
        result = register_device(http, hub_url, code)
    return Registration(hub_url, result.site, result.device_id, result.token)


def new_device(tmp: Path, hub_url: str, site: str, name: str = "boat-1") -> Device:
    """A new store with a registration kept in it, as ``jaga sync register`` leaves it."""
    path = tmp / name / "jaga.db"
    registration = register(hub_url, site, name)
    with Store.create(path, Passphrase(PASSPHRASE), config=FAST) as store:
        ensure_schema(store.database)
        save_registration(store.database, registration, store.clock.now(), send_face_images=False)
    return Device(path, registration)


def add_observations(store: Store, count: int, tag: str) -> list[str]:
    """``count`` fish observations in one transaction; returns their uids."""
    now = store.clock.now()
    records = [
        FishObservation(
            observed_at=now - timedelta(minutes=number),
            predictions=(SpeciesScore("Gadus morhua", 0.7), SpeciesScore("Pollachius", 0.2)),
            needs_review=number % 3 == 0,
            officer="officer-7",
            position=Position(54.1, 7.9),
            vessel="Gaviota",
            count=1 + number % 4,
            length_cm=30.0 + number % 20,
            notes=f"{tag}-{number}",
        )
        for number in range(count)
    ]
    store.observations.add_many(records)
    return [record.observation_uid for record in records]


def add_access_events(store: Store, site: str, count: int) -> list[str]:
    events = [
        store.access.record(
            AccessEvent(
                occurred_at=store.clock.now(),
                site=site,
                device="kiosk-1",
                decision="verified" if number % 2 else "not_matched",
                similarity=0.5 + number % 40 / 100,
                liveness=0.97,
            )
        )
        for number in range(count)
    ]
    return [event.event_uid for event in events]


def photo_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def add_photo_observation(store: Store, size: int, seed: int, tag: str) -> str:
    """A fish observation with a photo of ``size`` bytes; returns the photo's uid."""
    photo = Photo(data=photo_bytes(size, seed), media_type="image/jpeg", taken_at=store.clock.now())
    record = FishObservation(
        observed_at=store.clock.now(),
        predictions=(SpeciesScore("Lutjanus", 0.5),),
        needs_review=True,
        officer="officer-7",
        notes=tag,
    )
    store.observations.add(record, photo)
    return photo.photo_uid


def enrol(store: Store, site: str, badge: str, seed: int, photo: bool = False) -> str:
    """One consenting person with one 128-D template (and an enrolment photo: a real JPEG,
    as a hub keeps a face photo only once its metadata is removed)."""
    now = store.clock.now()
    enrolment = store.people.enrol(
        external_id=badge,
        display_name=f"Person {badge}",
        site=site,
        consent=Consent("kiosk-consent-v3", now, "officer-7", now + timedelta(days=365)),
        templates=[Template(MODEL, random_vector(seed), 0.9, "camera")],
        operator="officer-7",
        duplicate_threshold=0.99,
        photos=[Photo(face_photo(seed), "image/jpeg", now)] if photo else [],
    )
    return enrolment.person.person_uid


def sync_until_drained(client: SyncClient, attempts: int = 12) -> int:
    """Sync until a whole sync succeeds with nothing left to push or upload; returns how
    many attempts failed on the way."""
    from sync.client import HubUnavailableError
    from sync.client.uploads import pending_uploads

    failures = 0
    for _ in range(attempts):
        try:
            client.sync_once()
        except HubUnavailableError:
            failures += 1
            continue
        store = client.store
        if not store.outbox.queued(limit=1) and not pending_uploads(store, client.config.policy, 1):
            return failures
    raise AssertionError(f"not drained after {attempts} attempts ({failures} failed)")
