"""Devices whose clocks disagree with the hub (and each other) by hours.

Two devices of one site, one ahead and one behind by 3 to 5 hours, each record and sync;
then both pull. Every record is on the hub once, both outboxes drain, both devices end up
with the same observations as the hub, and the hub did not let the device that runs ahead
stamp its edits hours into the future (it clamps them to its own clock plus the tolerance).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sync.store import Store
from tests.sync.client import faults
from tests.sync.client.devices import (
    SkewedClock,
    add_access_events,
    add_observations,
    new_device,
    sync_until_drained,
)
from tests.sync.client.hubcheck import drained, hub_tally
from tests.sync.hub.hubkit import HubProcess

RUNS = 3
HUB_TOLERANCE = timedelta(seconds=300)  # JAGA_HUB_MAX_CLOCK_SKEW_S's default


def observation_notes(store: Store) -> set[tuple[str, str]]:
    rows = store.database.query("SELECT observation_uid, notes FROM fish_observations")
    return {(str(uid), str(notes)) for uid, notes in rows}


@pytest.mark.parametrize("run", range(RUNS))
def test_devices_with_skewed_clocks_converge_exactly_once(
    run: int, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    from sync.hub.models import FishObservation

    skew = timedelta(hours=3 + run)
    ahead = new_device(tmp_path, live_hub.url, site_slug, "ahead")
    behind = new_device(tmp_path, live_hub.url, site_slug, "behind")
    with (
        ahead.open(SkewedClock(skew)) as a,
        behind.open(SkewedClock(-skew)) as b,
        httpx.Client() as http,
    ):
        mine = add_observations(a, 30, f"ahead-{run}")
        add_access_events(a, site_slug, 5)
        add_observations(b, 30, f"behind-{run}")
        add_access_events(b, site_slug, 5)
        client_a, client_b = ahead.client(a, http), behind.client(b, http)
        sync_until_drained(client_a)
        sync_until_drained(client_b)
        client_a.sync_once()  # a now pulls what b pushed
        assert drained(a) and drained(b)
        tally = hub_tally(site_slug, [a, b])
        assert observation_notes(a) == observation_notes(b)
        assert len(observation_notes(a)) == 60
    faults.record("device clocks skewed by ±3-5 h", tally)
    assert (tally.lost, tally.duplicated) == (0, 0), tally.detail
    limit = datetime.now(UTC) + HUB_TOLERANCE
    stamps = FishObservation.objects.filter(uid__in=mine).values_list("field_versions", flat=True)
    latest = max(max(stamp[0] for stamp in versions.values()) for versions in stamps)
    assert datetime.fromisoformat(latest.replace("Z", "+00:00")) <= limit
