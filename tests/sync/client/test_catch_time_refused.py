"""A catch the hub refuses for its time in the future, with a real hub and a real store.

``jaga catch`` takes no time past the device's clock, but a catch written by a release that
did not check (or a buggy one) may carry one. The hub refuses that catch alone, for good:
the device quarantines its entry with the hub's reason, keeps the catch, and syncs the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from sync.client.status import read_status
from sync.store import FishObservation, SpeciesScore, Store
from tests.sync.client.devices import add_observations, new_device, sync_until_drained
from tests.sync.hub.hubkit import HubProcess

FAR_AHEAD = datetime(2099, 1, 1, tzinfo=UTC)


def _catch_dated(store: Store, observed_at: datetime) -> str:
    catch = FishObservation(
        observed_at=observed_at,
        predictions=(SpeciesScore("Gadus morhua", 0.7),),
        needs_review=True,
        officer="officer-7",
        notes="dated ahead",
    )
    store.observations.add_many([catch])
    return catch.observation_uid


def test_a_catch_dated_in_the_future_is_quarantined_with_the_hubs_reason_and_kept(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    from sync.hub.models import FishObservation as HubCatch

    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        (before,) = add_observations(store, 1, "today")
        ahead = _catch_dated(store, FAR_AHEAD)
        (after,) = add_observations(store, 1, "today again")
        sync_until_drained(device.client(store, http))
        (quarantined,) = read_status(store, {}).quarantined
        assert quarantined.entity_uid == ahead
        assert "the catch's time 2099-01-01T00:00:00.000000Z is in the future" in (
            quarantined.reason
        )
        assert store.observations.get(ahead).observed_at == FAR_AHEAD  # kept on the device
    stored = set(HubCatch.objects.filter(uid__in=[before, ahead, after]).values_list("uid"))
    assert {str(uid) for (uid,) in stored} == {before, after}


def test_a_catch_dated_by_a_clock_running_ahead_is_not_quarantined(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Dated by the device's own clock, the same catch time is the boat's to give."""
    from tests.sync.client.devices import SkewedClock

    device = new_device(tmp_path, live_hub.url, site_slug, "boat-ahead")
    with device.open(SkewedClock(timedelta(hours=6))) as store, httpx.Client() as http:
        uid = _catch_dated(store, store.clock.now())
        sync_until_drained(device.client(store, http))
        assert read_status(store, {}).quarantined == ()
    from sync.hub.models import FishObservation as HubCatch

    assert HubCatch.objects.filter(uid=uid).exists()
