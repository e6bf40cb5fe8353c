"""A boat whose clock runs years behind (a dead RTC battery, no NTP at sea), with a real hub.

The hub settles conflicts per field by last-writer-wins on the edit's time. An edit this
device makes after it has pulled the hub's version of a record must win over that version,
however far behind its clock is; edits nobody saw each other make still go by time. The
device says that its clock looks wrong.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from sync.client.status import read_status
from sync.hub import review
from tests.sync.client.devices import SkewedClock, add_observations, new_device
from tests.sync.hub.hubkit import HubProcess

YEARS_BEHIND = timedelta(days=3 * 365)


def test_an_edit_made_after_pulling_the_hub_version_wins_with_the_clock_behind(
    live_hub: HubProcess, site_slug: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from sync.hub.models import FishObservation

    device = new_device(tmp_path, live_hub.url, site_slug)
    behind = SkewedClock(-YEARS_BEHIND)
    with device.open(behind) as store, httpx.Client() as http:
        (uid,) = add_observations(store, 1, "clock")
        device.client(store, http).sync_once()
        on_hub = FishObservation.objects.get(uid=uid)
        review.correct_species(on_hub.pk, "Pollachius pollachius", "hub-reviewer")
        with caplog.at_level(logging.WARNING):
            device.client(store, http).sync_once()  # the officer sees the hub's correction
        assert store.observations.get(uid).confirmed_species == "Pollachius pollachius"
        assert "clock" in caplog.text and "behind" in caplog.text
        status = "\n".join(read_status(store, {}).lines())
        assert "clock" in status and "behind" in status
    with device.open(behind) as store, httpx.Client() as http:  # what was seen is kept
        # ...he holds the fish, it is a cod: he confirms it after seeing the correction
        store.observations.confirm(uid, "Gadus morhua", officer="officer-7")
        client = device.client(store, http)
        client.sync_once()
        client.sync_once()
        on_hub.refresh_from_db()
        assert on_hub.confirmed_species == "Gadus morhua"
        assert store.observations.get(uid).confirmed_species == "Gadus morhua"


def test_a_hub_edit_made_after_the_device_edit_still_wins(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    from sync.hub.models import FishObservation

    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open(SkewedClock(-YEARS_BEHIND)) as store, httpx.Client() as http:
        (uid,) = add_observations(store, 1, "clock-concurrent")
        client = device.client(store, http)
        client.sync_once()
        store.observations.confirm(uid, "Gadus morhua", officer="officer-7")
        on_hub = FishObservation.objects.get(uid=uid)  # the hub has not seen the confirmation
        review.correct_species(on_hub.pk, "Pollachius pollachius", "hub-reviewer")
        client.sync_once()
        client.sync_once()
        on_hub.refresh_from_db()
        assert on_hub.confirmed_species == "Pollachius pollachius"
        assert store.observations.get(uid).confirmed_species == "Pollachius pollachius"


def test_once_the_clock_is_set_right_a_hub_edit_made_later_wins_again(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """One edit made while the clock ran a year ahead; NTP sets it right; an officer's
    offline edit, then a hub reviewer's correction made later: the reviewer's wins."""
    from sync.hub.models import FishObservation

    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        (uid,) = add_observations(store, 1, "clock-right")
        device.client(store, http).sync_once()
    with device.open(SkewedClock(timedelta(days=365))) as store, httpx.Client() as http:
        add_observations(store, 1, "clock-ahead")
        device.client(store, http).sync_once()
    with device.open() as store, httpx.Client() as http:
        store.observations.confirm(uid, "Gadus morhua", officer="officer-7")
        on_hub = FishObservation.objects.get(uid=uid)
        review.correct_species(on_hub.pk, "Pollachius pollachius", "hub-reviewer")
        client = device.client(store, http)
        client.sync_once()
        client.sync_once()
        on_hub.refresh_from_db()
        assert on_hub.confirmed_species == "Pollachius pollachius"
        assert store.observations.get(uid).confirmed_species == "Pollachius pollachius"


def test_an_edit_made_after_pulling_wins_over_a_device_whose_clock_is_ahead(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Boat B's clock runs 4 minutes ahead (within the hub's 5-minute skew, so its stamp is
    kept as it is). Boat A pulls B's verdict, then overrules it: A's edit wins."""
    from sync.hub.models import FishObservation

    a = new_device(tmp_path, live_hub.url, site_slug, "boat-a")
    b = new_device(tmp_path, live_hub.url, site_slug, "boat-b")
    ahead = SkewedClock(timedelta(seconds=240))
    with a.open() as store_a, b.open(ahead) as store_b, httpx.Client() as http:
        (uid,) = add_observations(store_a, 1, "clock-race")
        a.client(store_a, http).sync_once()
        b.client(store_b, http).sync_once()
        store_b.observations.confirm(uid, "Pollachius pollachius", officer="officer-b")
        b.client(store_b, http).sync_once()
        a.client(store_a, http).sync_once()
        assert store_a.observations.get(uid).confirmed_species == "Pollachius pollachius"
        store_a.observations.confirm(uid, "Gadus morhua", officer="officer-a")
        a.client(store_a, http).sync_once()
        a.client(store_a, http).sync_once()
        assert store_a.observations.get(uid).confirmed_species == "Gadus morhua"
    assert FishObservation.objects.get(uid=uid).confirmed_species == "Gadus morhua"
