"""A photo's bytes belong to the hub that acknowledged its metadata. Registered with another
hub, a photo the old hub acknowledged but whose bytes were never uploaded is not offered to
the new hub (which has no such photo: it answers ``unknown_photo``); it waits for the old
hub, and goes to it once the device is registered back with it. The old hub is a
registration kept in the store, its acknowledgement written as a push records one; the new
hub is the real one."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from sync.client.config import Registration, SitePolicy
from sync.client.state import save_registration
from sync.client.uploads import pending_uploads
from sync.store import Passphrase, Store
from tests.sync.client.devices import PASSPHRASE, add_photo_observation
from tests.sync.client.test_register_another_hub import OLD_HUB
from tests.sync.client.test_register_moved import env, register, sync
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["env"]  # the fixture, used by name


def _acknowledged_at_the_old_hub(db: Path, site: str) -> str:
    """A device of ``site`` registered with ``OLD_HUB``, whose catch and photo the old hub
    acknowledged, the photo's bytes not uploaded yet; the photo's uid."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with Store.create(db, Passphrase(PASSPHRASE), config=FAST) as store:
        old = Registration(OLD_HUB, site, uuid4(), "old-token")
        save_registration(store.database, old, store.clock.now(), send_face_images=False)
        add_photo_observation(store, 4096, seed=5, tag="old")
        with store.database.write() as connection:
            connection.execute("UPDATE outbox SET state = 'acknowledged'")
        (photo,) = pending_uploads(store, SitePolicy(), 10)
    return photo


def _uploads(db: Path) -> dict[str, str]:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        rows = store.database.query("SELECT photo_uid, outcome FROM sync_uploads")
    return {str(uid): str(outcome) for uid, outcome in rows}


def test_a_photo_the_old_hub_acknowledged_is_not_offered_to_the_new_hub(
    env: pytest.MonkeyPatch, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Before: the sync offered the photo to the new hub, which knows no such photo."""
    db = tmp_path / "moved" / "jaga.db"
    photo = _acknowledged_at_the_old_hub(db, site_slug)

    assert register(env, db, live_hub.url, site_slug) == 0
    assert sync(db) == 0

    assert _uploads(db) == {}  # never offered, so no outcome recorded against it
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        assert pending_uploads(store, SitePolicy(), 10) == []
        back = Registration(OLD_HUB, site_slug, uuid4(), "token")
        save_registration(store.database, back, store.clock.now(), send_face_images=False)
        assert pending_uploads(store, SitePolicy(), 10) == [photo]  # the old hub's again
