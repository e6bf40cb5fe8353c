"""Shared bits of the unit tests: a client of the fake hub, records in a store."""

from __future__ import annotations

from datetime import timedelta

from sync.client import SitePolicy, SyncClient, SyncConfig, Tuning
from sync.store import FishObservation, SpeciesScore, Store
from tests.sync.client.fakehub import FakeHub, registration

SMALL = Tuning(batch_entries=20, chunk_bytes=1000, read_timeout_s=2.0)


def client_of(
    store: Store, hub: FakeHub, tuning: Tuning = SMALL, policy: SitePolicy | None = None
) -> SyncClient:
    config = SyncConfig(registration(), policy or SitePolicy(), tuning)
    return SyncClient(store, hub.client(), config)


def observations(store: Store, count: int, tag: str = "unit") -> list[str]:
    now = store.clock.now()
    records = [
        FishObservation(
            observed_at=now - timedelta(minutes=n),
            predictions=(SpeciesScore("Gadus morhua", 0.9),),
            needs_review=False,
            officer="officer-7",
            notes=f"{tag}-{n}",
        )
        for n in range(count)
    ]
    store.observations.add_many(records)
    return [record.observation_uid for record in records]


def states(store: Store) -> dict[str, int]:
    return {state.value: n for state, n in store.outbox.counts().items() if n}
