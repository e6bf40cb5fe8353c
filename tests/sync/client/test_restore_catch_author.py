"""A catch recorded after the hub's backup survives a restore of the hub (a real
``pg_dump``/``pg_restore`` of its PostgreSQL), and stays its boat's, whichever device pushes
first after it, or if its boat never does. Real hub process, real stores.

Boat A records a catch with its photo after the backup; boat B pulls it (without its
photo: photos never travel in pulls) and its officer confirms the species, a review B
pushes before the restore or still holds queued at it. The restore loses both. Then A
pushes its photo and catch again (``sync.store.resend``), and B its review (queued again,
or for the first time): the whole row as B holds it, naming no photo. Were B's review taken
for the catch, B would be its author: A's own catch, pushed again, would be another device's
review, its photo link dropped on the hub and then, pulled back, in A's own store. Were it
refused until A pushes, it would be lost where A never does (its store lost too). B says it
did not record the catch (``recorded_here``): the hub makes the catch from it with no author,
and A's push claims it.

What happens before the restore depends only on whether B's review was acknowledged: it is
done once for each (``at_the_restore``), and each test restores that backup and goes on with
copies of the boats' stores as they stood then.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from main import main
from sync.client import SyncClient
from sync.store import Store
from tests.sync.client.devices import Device, add_photo_observation, new_device
from tests.sync.client.hubcheck import drained
from tests.sync.client.test_log_epoch import _backup, _observation_of_photo, _restore
from tests.sync.hub.hubkit import HubProcess

ORDERS = {"the reviewer": "ba", "the author": "ab", "the reviewer alone": "b"}
"""Who syncs first after the restore (device letters); alone: A's store is lost too."""


def _sync_all(clients: dict[str, SyncClient], order: str, rounds: int = 3) -> None:
    """``rounds`` syncs of each device, in ``order`` (their names, one letter each)."""
    for _ in range(rounds):
        for name in order:
            clients[name].sync_once()


@dataclass(frozen=True)
class AtTheRestore:
    """The hub's backup, taken before A's catch, and both boats' stores as they stood when
    the hub was restored from it (kept aside: each test works on copies)."""

    dump: Path
    boat_a: Device
    boat_b: Device
    catch: str
    photo: str

    def copies(self, tmp_path: Path) -> tuple[Device, Device]:
        """Each boat's store folder copied under ``tmp_path`` (closed stores: no WAL)."""
        return _copied(self.boat_a, tmp_path), _copied(self.boat_b, tmp_path)


def _copied(device: Device, tmp_path: Path) -> Device:
    folder = tmp_path / device.path.parent.name
    shutil.copytree(device.path.parent, folder)
    return replace(device, path=folder / device.path.name)


def _before_the_restore(review: str, hub_url: str, tmp_path: Path) -> AtTheRestore:
    """The backup, then A's catch with its photo, pulled by B and reviewed there: a review
    B pushed (``acknowledged``) or still holds (``still queued``) when the hub is restored."""
    from sync.hub.models import FishObservation

    site = f"site-{uuid.uuid4().hex[:12]}"
    boat_a = new_device(tmp_path, hub_url, site, "boat-a")
    boat_b = new_device(tmp_path, hub_url, site, "boat-b")
    dump = tmp_path / "hub.dump"
    with boat_a.open() as a, boat_b.open() as b, httpx.Client() as http:
        clients = {"a": boat_a.client(a, http), "b": boat_b.client(b, http)}
        _backup(dump)
        photo = add_photo_observation(a, 4000, seed=21, tag="a-catch")
        catch = _observation_of_photo(a, photo)
        clients["a"].sync_once()
        clients["b"].sync_once()
        b.observations.confirm(catch, "Lutjanus synagris", officer="officer-b")
        if review == "acknowledged":
            clients["b"].sync_once()
            assert FishObservation.objects.get(uid=catch).confirmed_species == "Lutjanus synagris"
    return AtTheRestore(dump, boat_a, boat_b, catch, photo)


@pytest.fixture(scope="module")
def at_the_restore(
    live_hub: HubProcess, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], AtTheRestore]:
    """``_before_the_restore`` for a review, made once for the module (by value: the tests
    restore its backup and copy its stores, never change them)."""
    made: dict[str, AtTheRestore] = {}

    def at(review: str) -> AtTheRestore:
        if review not in made:
            folder = tmp_path_factory.mktemp("before-restore")
            made[review] = _before_the_restore(review, live_hub.url, folder)
        return made[review]

    return at


@pytest.mark.parametrize("review", ["acknowledged", "still queued"])
@pytest.mark.parametrize("first", list(ORDERS))
def test_a_catch_pushed_again_after_a_restore_is_kept_and_stays_its_boats(
    first: str,
    review: str,
    at_the_restore: Callable[[str], AtTheRestore],
    tmp_path: Path,
) -> None:
    from sync.hub.models import FishObservation

    before = at_the_restore(review)
    boat_a, boat_b = before.copies(tmp_path)
    catch, photo = before.catch, before.photo
    with boat_a.open() as a, boat_b.open() as b, httpx.Client() as http:
        clients = {"a": boat_a.client(a, http), "b": boat_b.client(b, http)}
        _restore(before.dump)
        assert main(["hub", "renew-log-epoch", "--data", str(tmp_path / "hub")]) == 0

        _sync_all(clients, ORDERS[first])

        hub = FishObservation.objects.select_related("device").get(uid=catch)
        assert (hub.confirmed_species, hub.reviewed_by) == ("Lutjanus synagris", "officer-b")
        _reviewed(b, catch, None, "Lutjanus synagris")
        assert drained(b) and not b.outbox.quarantined()
        if first == "the reviewer alone":
            assert (hub.device, hub.photo_uid) == (None, None)
            assert hub.author_pending  # A's push, should A come back, claims it
            return
        assert hub.device is not None
        assert str(hub.device.uid) == str(boat_a.registration.device_id)
        assert str(hub.photo_uid) == photo
        assert not hub.author_pending
        _reviewed(a, catch, photo, "Lutjanus synagris")
        assert drained(a)

        # B reviews again, after the author's push: the whole row it holds, naming no
        # photo. The hub keeps A's photo, and so does A's store.
        b.observations.confirm(catch, "Lutjanus campechanus", officer="officer-b")
        _sync_all(clients, "ba", rounds=2)
        assert str(FishObservation.objects.get(uid=catch).photo_uid) == photo
        _reviewed(a, catch, photo, "Lutjanus campechanus")
        assert drained(a) and drained(b)


def _reviewed(store: Store, catch: str, photo: str | None, species: str) -> None:
    """The store holds the catch with B's review (``species``), linked to ``photo``."""
    here = store.observations.get(catch)
    assert here.photo_uid == photo
    assert (here.confirmed_species, here.reviewed_by) == (species, "officer-b")
