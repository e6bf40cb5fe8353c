"""A spool entry of several fish on one photo whose catch the hub holds only in part: one
fish's entry was still waiting in the outbox (a push cut after a batch) when the store was
restored to a backup taken before the catch, so a sync pulls the others back and not it.

Found in session 34 (spool): the entry counted as recorded once any of its fish was in the
store (``sync.store.catch_written``), and was deleted: the held fish, in neither the store
nor the hub, was lost with it. The entry now stays until every fish is in the store, and
its Retry records only the fish the store lacks, on the photo put back from the entry.
Real stores, real spool, a real worker killed after the commit, a real hub on the suite's
PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from desktop.catch import CaughtFish
from desktop.catch_store import CatchStore
from sync.store import Crop, Passphrase
from sync.store.backups import restore
from sync.store.photos import load_photo
from tests.desktop.catch_worker import NO_FISH
from tests.desktop.test_catch_spool_pulled import site_slug
from tests.desktop.test_catch_spool_restored import (
    _forget_observation_uids,
    _sync,
    kept_and_committed,
    take_backup,
)
from tests.sync.client.devices import FAST_TUNING, new_device
from tests.sync.client.devices import PASSPHRASE as HUB_PASSPHRASE
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["site_slug"]  # the fixture, used by name

LEFT, RIGHT = Crop(0, 0, 32, 48), Crop(32, 0, 32, 48)
TWO_FISH = (CaughtFish(LEFT, NO_FISH), CaughtFish(RIGHT, NO_FISH))
# The photo's entry and the first fish's: the second fish's waits for the next sync.
PHOTO_AND_ONE_FISH = replace(FAST_TUNING, batch_entries=2, max_batches_per_sync=1)


@pytest.mark.parametrize("old_entry", [True, False], ids=["kept-before-uids", "kept-with-uids"])
def test_a_fish_the_hub_never_got_stays_in_the_spool_until_it_is_recorded(
    old_entry: bool, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    from sync.hub.models import FishObservation

    boat = new_device(tmp_path, live_hub.url, site_slug, f"boat-part-{old_entry}")
    before = tmp_path / "before.db"
    take_backup(boat.path, HUB_PASSPHRASE, before)
    catch = kept_and_committed(boat.path, tmp_path, HUB_PASSPHRASE, TWO_FISH)
    if old_entry:
        _forget_observation_uids(boat.path)
    with boat.open() as store, httpx.Client() as http:
        boat.client(store, http, tuning=PHOTO_AND_ONE_FISH).sync_once()
    assert FishObservation.objects.filter(photo_uid=catch.uid).count() == 1
    restore(
        before, boat.path, Passphrase(HUB_PASSPHRASE), operator="test", force=True,
        discard_unsynced=True, config=FAST,  # the operator was told the fish waits: lost here
    )  # fmt: skip
    _sync(boat)  # pulls the first fish back, without its photo

    catches = CatchStore(boat.path, Passphrase(HUB_PASSPHRASE), FAST)
    offered = catches.pending()
    assert [kept.uid for kept in offered] == [catch.uid], "the entry of a fish not recorded went"
    for kept in offered:
        catches.record(kept)
    _sync(boat)

    with boat.open() as store:
        rows = store.database.query(
            "SELECT o.crop_x, p.photo_uid FROM fish_observations o"
            " LEFT JOIN photos p ON p.id = o.photo_id ORDER BY o.crop_x"
        )
        assert rows == [(0, catch.uid), (32, catch.uid)], f"the store holds {rows}"
        assert load_photo(store.database, catch.uid).data == catch.photo.data
        assert store.outbox.quarantined() == []
    on_hub = sorted(o.crop_x for o in FishObservation.objects.filter(photo_uid=catch.uid))
    assert on_hub == [0, 32], f"the hub holds the fish at {on_hub}"
    assert catches.pending() == []
