"""Who reviewed a catch travels both ways through a real hub process: an officer's
confirmation on deck reaches the hub with its reviewer, and a hub reviewer's correction
reaches the boat with theirs."""

from __future__ import annotations

from pathlib import Path

import httpx

from sync.client.apply import apply_page
from sync.client.status import read_status
from sync.hub import review
from sync.hub.models import FishObservation
from sync.protocol import PullResult
from sync.store import Crop, PredictionStatus, SpeciesScore
from sync.store import FishObservation as StoreObservation
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


def test_a_boat_reviews_its_own_flagged_catches_not_the_ones_it_pulled(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A busy site: boat B pulls boat A's flagged catches, then records one of its own. B's
    review list is its own catch (the fish its officer saw), not A's, however many A's are;
    the whole site's list has both, B's newest first."""
    boat_a = new_device(tmp_path, live_hub.url, site_slug, "boat-a")
    boat_b = new_device(tmp_path, live_hub.url, site_slug, "boat-b")
    with boat_a.open() as store_a, boat_b.open() as store_b, httpx.Client() as http:
        theirs = add_observations(store_a, 9, "boat-a")  # 3 flagged (every third)
        boat_a.client(store_a, http).sync_once()
        client_b = boat_b.client(store_b, http)
        assert client_b.sync_once().pull.applied >= 9
        (own,) = add_observations(store_b, 1, "boat-b")  # flagged
        client_b.sync_once()  # pushed, and pulled back: still B's own
        assert [o.observation_uid for o in store_b.observations.review_queue(2)] == [own]
        site = store_b.observations.review_queue(10, include_pulled=True)
        assert [o.observation_uid for o in site] == [own, *theirs[::3]]
        assert [o.recorded_here for o in site] == [True, False, False, False]
        assert [o.observation_uid for o in store_a.observations.review_queue()] == theirs[::3]


def test_a_boat_that_pulled_a_catch_on_protocol_2_keeps_its_box_when_it_confirms_it(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The fleet's rollout: the hub first, then the boats one by one. Boat 2, still on
    protocol 2, pulls boat 1's catch of one fish among several in a photo without its box
    (protocol 2 does not carry it); upgraded, its officer confirms the species. Boat 2 was
    never told the box, so its confirmation must not say "the whole photo": that would reset
    the box on the hub and, through the change log, on every boat, boat 1 included."""
    box = Crop(40, 30, 120, 90)
    boat_1 = new_device(tmp_path, live_hub.url, site_slug, "boat-1")
    boat_2 = new_device(tmp_path, live_hub.url, site_slug, "boat-2")
    with boat_1.open() as store_1, boat_2.open() as store_2, httpx.Client() as http:
        catch = StoreObservation(
            observed_at=store_1.clock.now(), predictions=(SpeciesScore("Lutjanus", 0.48),),
            needs_review=True, officer="officer-7", pack_version="f4k-3", crop=box,
            status=PredictionStatus.UNKNOWN,
        )  # fmt: skip
        uid = store_1.observations.add(catch).observation_uid
        client_1 = boat_1.client(store_1, http)
        client_1.sync_once()

        # Boat 2's pull as protocol 2 gets it, applied to its store as a pulled page is.
        registration = boat_2.registration
        answer = http.get(
            f"{live_hub.url}/api/v1/sites/{site_slug}/changes",
            params={"cursor": "0", "protocol_version": "2"},
            headers={"Authorization": f"Bearer {registration.token}"},
        )
        page = PullResult.model_validate_json(answer.content)
        assert all("crop" not in change.payload for change in page.changes)
        apply_page(store_2, site_slug, page.changes, page.next_cursor)
        store_2.observations.confirm(uid, "Lutjanus synagris", officer="officer-9")
        report = boat_2.client(store_2, http).sync_once()
        assert report.push.rejected == 0, read_status(store_2, {}).quarantined

        on_hub = FishObservation.objects.get(uid=uid)
        assert (on_hub.confirmed_species, on_hub.crop) == ("Lutjanus synagris", box.as_tuple())
        client_1.sync_once()
        here = store_1.observations.get(uid)
        assert (here.confirmed_species, here.crop) == ("Lutjanus synagris", box)
