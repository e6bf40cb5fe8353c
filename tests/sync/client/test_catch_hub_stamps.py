"""A catch is stamped with the hub it is of when it is pulled from that hub or acknowledged
by it (``fish_observations.for_hub``), never at a move: the hub is known then, and only
then. Found by review: the move stamped every catch not stamped yet with the hub being
left, so a catch a sync under way pulled from the old hub after the registration with
another was saved went unstamped, as the new hub's, and its review was pushed there. And a
stamp made by address, before the device learned its hub's id, becomes the id once
learned, so the hub at a new address is still the same hub (``sync.store.hub_keys``).
Two real hubs, each on its own database (so each has its own id)."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest

from main import main
from sync.client.apply import apply_page
from sync.client.config import Registration
from sync.client.state import write_registration
from sync.protocol.hub_messages import HUB_ID_HEADER
from sync.store import Passphrase, Store
from sync.store.state_rows import HUB_ID_NAME
from tests.sync.client.devices import PASSPHRASE, add_observations, new_device, sync_until_drained
from tests.sync.client.test_pulled_catches_held import _catch_on, _register_with, other_hub
from tests.sync.client.test_register_moved import env, register, sync
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["env", "other_hub"]  # the fixtures, used by name


def _hub_id(hub: HubProcess) -> str:
    """The id ``hub`` names itself by in its status answer."""
    return httpx.get(f"{hub.url}/api/v1/status").headers[HUB_ID_HEADER]


def _stamp(db: Path, uid: str) -> str | None:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        rows = store.database.query(
            "SELECT for_hub FROM fish_observations WHERE observation_uid = ?", (uid,)
        )
    return None if rows[0][0] is None else str(rows[0][0])


def _new_store(tmp_path: Path) -> Path:
    db = tmp_path / "boat-2" / "jaga.db"
    db.parent.mkdir()
    Store.create(db, Passphrase(PASSPHRASE), config=FAST).close()
    return db


@pytest.fixture
def boat_2(
    env: pytest.MonkeyPatch, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> tuple[Path, str]:
    """A new store registered with the live hub, which holds another boat's catch flagged
    for review that the store has not pulled yet: the store, and the catch."""
    boat = new_device(tmp_path, live_hub.url, site_slug, "boat-1")
    with boat.open() as store, httpx.Client() as http:
        (uid,) = add_observations(store, 1, "other-boat")  # flagged for review
        assert sync_until_drained(boat.client(store, http)) == 0
    db = _new_store(tmp_path)
    assert register(env, db, live_hub.url, site_slug) == 0
    return db, uid


def test_a_catch_pulled_by_a_sync_under_way_at_a_move_is_the_old_hubs(
    env: pytest.MonkeyPatch,
    other_hub: HubProcess,
    site_slug: str,
    boat_2: tuple[Path, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: the catch, pulled from the live hub after the registration with the other
    one was saved, was left unstamped, and its review was queued for the other hub."""
    db, uid = boat_2
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        (live_hub_id,) = store.database.query(
            "SELECT value FROM sync_state WHERE name = ?", (HUB_ID_NAME,)
        )[0]
    other = Registration(other_hub.url, site_slug, uuid4(), "token-b", UUID(_hub_id(other_hub)))

    def moved_meanwhile(store: Store, *args: object, **kwargs: object) -> object:
        """``jaga sync register`` with the other hub, saved while the pull was under way."""
        env.setattr("sync.client.pull.apply_page", apply_page)
        with store.database.write() as connection:
            write_registration(connection, other, store.clock.now(), send_face_images=False)
        return apply_page(store, *args, **kwargs)  # type: ignore[arg-type]

    env.setattr("sync.client.pull.apply_page", moved_meanwhile)
    sync(db)
    capsys.readouterr()

    argv = ["store", "confirm", uid, "--not-a-fish", "--officer", "officer-9", "--db", str(db)]
    assert main(argv) == 0

    said = capsys.readouterr().out
    assert f"held for hub {live_hub_id}" in said, said
    assert _stamp(db, uid) == live_hub_id


def test_a_catch_acknowledged_before_the_hub_named_its_id_follows_the_hub_to_a_new_address(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    other_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
) -> None:
    """Acknowledged while the device knew its hub by address only (a registration saved
    before hub ids), the catch is stamped with the address; the pull that follows names
    the hub's id, and the stamp becomes it: once moved away and back to the hub at a new
    address, its review reaches it."""
    db = _new_store(tmp_path)
    assert register(env, db, live_hub.url, site_slug) == 0
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        (uid,) = add_observations(store, 1, "own")  # recorded here, flagged for review
        with store.database.write() as connection:
            connection.execute("DELETE FROM sync_state WHERE name = ?", (HUB_ID_NAME,))

    assert sync(db) == 0  # a push (acknowledged), then a pull (which names the id)
    assert _stamp(db, uid) == _hub_id(live_hub)

    assert _register_with(env, db, other_hub, site_slug) == 0
    argv = ["store", "confirm", uid, "--not-a-fish", "--officer", "officer-9", "--db", str(db)]
    assert main(argv) == 0
    assert sync(db) == 0
    assert _catch_on(other_hub, uid) is None
    moved = live_hub.url.replace("127.0.0.1", "localhost")  # the same hub, at a new address
    assert register(env, db, moved, site_slug) == 0
    assert sync(db) == 0
    assert _catch_on(live_hub, uid) == (False, "officer-9")
