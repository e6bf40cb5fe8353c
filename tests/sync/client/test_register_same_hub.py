"""A hub that moved address is still the same hub: the hub names itself (``HUB_ID_HEADER``),
and the device keeps that id with its registration, so registering with it at its new address
(a new DNS name, another port) is not refused while records wait, holds nothing for the old
address, removes no people and forgets nothing it pulled. The live hub is reached at
``127.0.0.1`` and at ``localhost``: two addresses of one hub."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from sync.client.config import Registration
from sync.client.state import read_values, save_registration
from sync.store import Passphrase, Store
from tests.sync.client.devices import PASSPHRASE, add_access_events, enrol
from tests.sync.client.test_register_another_hub import _unsent
from tests.sync.client.test_register_moved import env, people, register, sync
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["env"]  # the fixture, used by name


def _moved(hub: HubProcess) -> str:
    """The same hub at another address."""
    return f"http://localhost:{hub.port}"


def _registered_with_records(env: pytest.MonkeyPatch, db: Path, hub: HubProcess, site: str) -> str:
    """A kiosk registered with ``hub`` at its first address, holding one person and two access
    decisions not pushed yet; the person's uid."""
    db.parent.mkdir(parents=True, exist_ok=True)
    Store.create(db, Passphrase(PASSPHRASE), config=FAST).close()
    assert register(env, db, hub.url, site) == 0
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        uid = enrol(store, site, "MOVED-1", seed=5)
        add_access_events(store, site, 2)
    return uid


def _values(db: Path) -> dict[str, str]:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        return read_values(store.database)


def test_the_same_hub_at_a_new_address_is_not_refused_and_its_records_flow(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: refused (records still to push to the old address, "another hub"); with
    --strand-records they were held for an address that no longer exists, for good, and the
    device's people were removed as another hub's."""
    db = tmp_path / "moved" / "jaga.db"
    uid = _registered_with_records(env, db, live_hub, site_slug)
    capsys.readouterr()

    assert register(env, db, _moved(live_hub), site_slug) == 0

    out = capsys.readouterr().out
    assert "left unsent" not in out
    assert "removed" not in out
    assert _values(db)["hub_url"] == _moved(live_hub)
    assert people(db) == {uid: site_slug}
    assert sync(db) == 0
    assert _unsent(db) == {}


def test_records_held_for_the_hub_go_to_it_at_its_new_address(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
) -> None:
    """Held for the hub while the device was registered elsewhere (``--strand-records``), the
    records are released when it registers with that hub again, at whatever address."""
    db = tmp_path / "back" / "jaga.db"
    _registered_with_records(env, db, live_hub, site_slug)
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        elsewhere = Registration("https://other.example", site_slug, uuid4(), "t", uuid4())
        save_registration(store.database, elsewhere, store.clock.now(), send_face_images=False)
        assert store.outbox.queued(limit=10) == []

    assert register(env, db, _moved(live_hub), site_slug) == 0
    assert sync(db) == 0
    assert _unsent(db) == {}


def test_a_registration_saved_before_hub_ids_learns_the_id_on_its_next_sync(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
) -> None:
    """A device registered with a release that kept no hub id learns it from its next pull's
    answer, and is then told the same hub at a new address."""
    db = tmp_path / "learns" / "jaga.db"
    _registered_with_records(env, db, live_hub, site_slug)
    known = _values(db)["hub_id"]
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        store.database.execute("DELETE FROM sync_state WHERE name = 'hub_id'")

    assert sync(db) == 0
    assert _values(db)["hub_id"] == known
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        add_access_events(store, site_slug, 1)
    assert register(env, db, _moved(live_hub), site_slug) == 0
    assert sync(db) == 0
    assert _unsent(db) == {}
