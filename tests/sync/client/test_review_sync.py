"""Who reviewed a catch travels both ways through a real hub process: an officer's
confirmation on deck reaches the hub with its reviewer, and a hub reviewer's correction
reaches the boat with theirs."""

from __future__ import annotations

from pathlib import Path

import httpx

from sync.client.status import read_status
from sync.hub import review
from sync.hub.models import FishObservation
from tests.sync.client.devices import add_observations, new_device
from tests.sync.client.hubcheck import drained
from tests.sync.hub.hubkit import HubProcess


def test_the_reviewer_of_a_catch_travels_to_the_hub_and_back(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        (uid,) = add_observations(store, 1, "review")
        client = device.client(store, http)
        client.sync_once()
        confirmed = store.observations.confirm(uid, "Gadus morhua", officer="officer-7")
        report = client.sync_once()
        assert report.push.rejected == 0, read_status(store, {}).quarantined
        on_hub = FishObservation.objects.get(uid=uid)
        assert (on_hub.confirmed_species, on_hub.needs_review) == ("Gadus morhua", False)
        assert (on_hub.reviewed_by, on_hub.reviewed_at) == ("officer-7", confirmed.reviewed_at)

        corrected = review.correct_species(on_hub.pk, "Pollachius pollachius", "hub-reviewer")
        assert client.sync_once().pull.applied >= 1
        here = store.observations.get(uid)
        assert (here.confirmed_species, here.needs_review) == ("Pollachius pollachius", False)
        assert (here.reviewed_by, here.reviewed_at) == ("hub-reviewer", corrected.reviewed_at)
        assert drained(store)  # the pulled correction is not pushed back
