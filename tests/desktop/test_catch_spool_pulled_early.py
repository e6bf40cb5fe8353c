"""A spool entry kept before entries carried their observation uids, whose catch a sync
pulled back (after a ``jaga store restore``) while the store was still below schema 20: that
pull noted no ``pulled_photo_uid``, so nothing told the entry's catch from another, and the
entry stayed offered as not recorded until a later pull brought a change of that catch; its
Retry recorded the catch a second time meanwhile.

Found in session 34 (spool): the upgrade now asks the next pull to read the site again from
the start when the store holds such a catch (``sync.client.full_pull``), and the replayed
change notes the photo. Real stores, real spool, a real worker killed after the commit, a
real hub on the suite's PostgreSQL; the store below schema 20 is made as the upgrade finds
it (the column and its index dropped, the version and the pull's note set back).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.catch_errors import KEPT_ON_DISK, CatchError
from desktop.catch_store import CatchStore
from sync.client.site_state import pulled_with_name
from sync.store import Passphrase, Store
from sync.store.database import Database
from tests.desktop.test_catch_spool_pulled import (
    _assert_one_catch_with_its_photo,
    _pulled_back,
    site_slug,
)
from tests.desktop.test_catch_spool_restored import _sync, observation_uids
from tests.sync.client.devices import PASSPHRASE as HUB_PASSPHRASE
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["site_slug"]  # the fixture, used by name


def pulled_before_schema_20(store_path: Path, site: str) -> None:
    """The store as a Jaga at schema 19 left it after its pull: no ``pulled_photo_uid``,
    its cursor noted as pulled by schema 19."""
    with Store.open(store_path, Passphrase(HUB_PASSPHRASE), config=FAST) as store:
        key = store.key
    database = Database.open(store_path, key, FAST, create=False)
    try:
        with database.write() as connection:
            (noted,) = connection.execute(
                "SELECT value FROM sync_state WHERE name = ?", (pulled_with_name(site),)
            ).fetchone()
            earlier = {**json.loads(noted), "schema": 19}
            connection.execute(
                "UPDATE sync_state SET value = ? WHERE name = ?",
                (json.dumps(earlier), pulled_with_name(site)),
            )
            connection.execute("DROP INDEX fish_observations_pulled_photo")
            connection.execute("ALTER TABLE fish_observations DROP COLUMN pulled_photo_uid")
            connection.execute("PRAGMA user_version = 19")
    finally:
        database.close()


def test_an_old_entry_of_a_catch_pulled_before_schema_20_is_found_after_the_next_sync(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """After the upgrade (schema 20) the entry's Retry waits for a sync, kept (it would
    record the catch a second time); the next sync, with no change of the catch on the hub,
    notes the photo the catch is on: the next start deletes the entry, the catch gets its
    photo, and nothing is recorded twice in the store or on the hub."""
    boat, catch, uid = _pulled_back(tmp_path, live_hub.url, site_slug, "boat-early", old_entry=True)
    pulled_before_schema_20(boat.path, site_slug)
    catches = CatchStore(boat.path, Passphrase(HUB_PASSPHRASE), FAST)
    (waiting,) = catches.pending()  # upgraded, not synced: nothing tells it from the catch yet
    with pytest.raises(CatchError, match=f"sync, then Retry .*{KEPT_ON_DISK}"):
        catches.record(waiting)
    recorded = observation_uids(boat.path, HUB_PASSPHRASE)
    assert recorded == [uid], f"a Retry before the sync recorded {recorded} for one catch"

    _sync(boat)  # the hub has no change of the catch since
    offered = catches.pending()
    assert offered == [], f"the entry of catch {uid}, held, is offered as not recorded"
    _sync(boat)
    _assert_one_catch_with_its_photo(boat, catch, uid)
