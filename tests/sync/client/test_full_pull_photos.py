"""A cursor pulled below store schema 20, which noted no photo a pulled catch is on
(``fish_observations.pulled_photo_uid``), is pulled again from the start only when the store
holds a catch of this device without its photo and without that note: the Catch panel's
spool may hold its photo under an entry nothing else ties to it. Any other store would read
its whole site again over a boat's link for nothing (``sync.client.full_pull``).
"""

from __future__ import annotations

import json
import uuid

import pytest

from sync.client.full_pull import photos_unnoted
from sync.client.site_state import pulled_with_name
from sync.store import Store
from tests.sync.client.fakehub import DEVICE, SITE, FakeHub
from tests.sync.client.units import client_of
from tests.sync.hub import entries as e


def _as_schema_19_left_it(store: Store) -> None:
    """What the upgrade to schema 20 finds: no catch's photo noted, the cursor noted as
    pulled by schema 19."""
    name = pulled_with_name(SITE)
    with store.database.write() as connection:
        (noted,) = connection.execute(
            "SELECT value FROM sync_state WHERE name = ?", (name,)
        ).fetchone()
        earlier = json.dumps({**json.loads(noted), "schema": 19})
        connection.execute("UPDATE sync_state SET value = ? WHERE name = ?", (earlier, name))
        connection.execute("UPDATE fish_observations SET pulled_photo_uid = NULL")


def _noted(store: Store, observation_uid: str) -> str | None:
    (row,) = store.database.query(
        "SELECT pulled_photo_uid FROM fish_observations WHERE observation_uid = ?",
        (observation_uid,),
    )
    return None if row[0] is None else str(row[0])


@pytest.mark.parametrize("own", [True, False], ids=["this-devices-catch", "other-boats-only"])
def test_a_cursor_pulled_below_schema_20_is_pulled_again_only_for_a_catch_of_this_device(
    own: bool, store: Store
) -> None:
    hub = FakeHub()
    photo = str(uuid.uuid4())
    catch = e.observation(photo_uid=photo)
    hub.add_change("fish_observation", "upsert", catch, origin=DEVICE if own else uuid.uuid4())
    client = client_of(store, hub)
    client.pull()
    _as_schema_19_left_it(store)
    rows = store.observations.count()
    with store.database.read() as connection:
        assert photos_unnoted(connection) is own  # a spool entry's Retry waits meanwhile

    report = client.pull()

    if own:
        assert report.full_pull is not None, "this device's catch was left without its photo"
        assert _noted(store, catch["observation_uid"]) == photo
    else:
        assert report.full_pull is None, "the site was pulled again for another boat's catch"
    assert store.observations.count() == rows  # nothing doubled
    assert client.pull().full_pull is None  # once
    with store.database.read() as connection:
        assert not photos_unnoted(connection)
