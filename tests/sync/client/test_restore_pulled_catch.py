"""A catch recorded after the hub's backup survives a restore of the hub (a real
``pg_dump``/``pg_restore``) when its boat is lost too, though no other device reviewed it:
the devices that pulled it queue it again at the renewal (``sync.store.resend``), saying
they did not record it, so the hub makes it with no author, for its boat to claim should it
come back. On a hub that still holds it, such a push changes nothing: no second catch, and
the author's facts stay. Real hub process, real stores.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from main import main
from sync.store import Store
from tests.sync.client.devices import add_photo_observation, new_device
from tests.sync.client.hubcheck import drained
from tests.sync.client.test_log_epoch import _backup, _observation_of_photo, _restore
from tests.sync.hub.hubkit import HubProcess


def test_a_pulled_catch_its_boat_never_pushes_again_is_kept_without_an_author(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    from sync.hub.models import FishObservation

    boat_a = new_device(tmp_path, live_hub.url, site_slug, "boat-a")
    boat_b = new_device(tmp_path, live_hub.url, site_slug, "boat-b")
    dump = tmp_path / "hub.dump"
    with boat_a.open() as a, boat_b.open() as b, httpx.Client() as http:
        client_a, client_b = boat_a.client(a, http), boat_b.client(b, http)
        _backup(dump)
        photo = add_photo_observation(a, 4000, seed=21, tag="a-catch")
        catch = _observation_of_photo(a, photo)
        client_a.sync_once()
        client_b.sync_once()
        pulled = b.observations.get(catch)
        _restore(dump)
        assert main(["hub", "renew-log-epoch", "--data", str(tmp_path / "hub")]) == 0

        for _ in range(3):  # boat A is lost with its store: only B syncs
            client_b.sync_once()

        hub = FishObservation.objects.get(uid=catch)
        assert (hub.device, hub.photo_uid, hub.author_pending) == (None, None, True)
        assert (hub.officer, hub.count, hub.observed_at) == (
            pulled.officer,
            pulled.count,
            pulled.observed_at,
        )
        assert _sent_as_pulled(b, catch) and b.observations.get(catch).recorded_here is False
        assert drained(b) and not b.outbox.quarantined()

        # Boat A comes back (its store kept after all): its catch claims it.
        for _ in range(2):
            client_a.sync_once()
            client_b.sync_once()
        hub = FishObservation.objects.select_related("device").get(uid=catch)
        assert str(hub.device.uid) == str(boat_a.registration.device_id)
        assert (str(hub.photo_uid), hub.author_pending) == (photo, False)
        assert a.observations.get(catch).photo_uid == photo
        assert drained(a) and drained(b)


def test_a_pulled_catch_sent_again_to_a_hub_that_holds_it_changes_nothing(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A renewal with nothing lost (the command run again with no restore): B's copy, as pulled,
    neither doubles the catch nor takes it from A, nor drops its photo."""
    from sync.hub.models import FishObservation

    boat_a = new_device(tmp_path, live_hub.url, site_slug, "boat-a")
    boat_b = new_device(tmp_path, live_hub.url, site_slug, "boat-b")
    with boat_a.open() as a, boat_b.open() as b, httpx.Client() as http:
        client_a, client_b = boat_a.client(a, http), boat_b.client(b, http)
        photo = add_photo_observation(a, 4000, seed=22, tag="a-catch")
        catch = _observation_of_photo(a, photo)
        client_a.sync_once()
        client_b.sync_once()
        before = FishObservation.objects.get(uid=catch)
        renew = ["hub", "renew-log-epoch", "--again", "--data", str(tmp_path / "hub")]
        assert main(renew) == 0  # --again: no restore since an earlier renewal

        for _ in range(2):
            client_b.sync_once()
            client_a.sync_once()

        assert _sent_as_pulled(b, catch)
        assert FishObservation.objects.filter(uid=catch).count() == 1
        hub = FishObservation.objects.select_related("device").get(uid=catch)
        assert str(hub.device.uid) == str(boat_a.registration.device_id)
        assert (str(hub.photo_uid), hub.author_pending) == (photo, False)
        assert hub.field_versions == before.field_versions
        assert a.observations.get(catch).photo_uid == photo
        assert drained(a) and drained(b) and not b.outbox.quarantined()


def _sent_as_pulled(store: Store, catch: str) -> bool:
    """``store`` sent the catch again, and the hub acknowledged it."""
    with store.database.read() as connection:
        row = connection.execute(
            "SELECT 1 FROM outbox WHERE entity = 'fish_observation' AND entity_uid = ?"
            " AND state = 'acknowledged'",
            (catch,),
        ).fetchone()
    return row is not None
