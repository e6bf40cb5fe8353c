"""A catch pulled from a hub is that hub's: after a registration with another hub, whose site
of the same slug is another organisation's, the review of it is held for the old hub, never
pushed to the new one, and goes to the old hub if the device is registered with it again.
Found by review: another boat's catch has no outbox entry of this device for the move to
hold, so its review went to the new hub, which made a catch it never had, while the old hub
never heard of the review. Two real hubs, each on its own database (so each has its own id)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import psycopg
import pytest

from main import main
from sync.store import Passphrase, Store
from tests.sync.client.devices import PASSPHRASE, add_observations, new_device, sync_until_drained
from tests.sync.client.test_register_moved import env, register, sync
from tests.sync.conftest import FAST
from tests.sync.hub.hubfixtures import SERVER
from tests.sync.hub.hubkit import HubProcess, jaga_hub, start_hub_process

__all__ = ["env"]  # the fixture, used by name

SPECIES = "Gadus morhua"


@pytest.fixture(scope="module")
def other_hub(hub_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """Another organisation's hub: ``jaga hub run`` on a database of its own."""
    name = f"jaga_other_{uuid4().hex[:12]}"
    SERVER.create_database(name)
    hub = start_hub_process(SERVER.url(name), tmp_path_factory.mktemp("other-hub"))
    try:
        yield hub
    finally:
        hub.kill()
        with psycopg.connect(SERVER.url(), autocommit=True) as server:
            server.execute(f'DROP DATABASE "{name}"')


def _register_with(env: pytest.MonkeyPatch, db: Path, hub: HubProcess, site: str) -> int:
    """``jaga sync register`` with a code ``hub``'s admin made (``jaga hub create-device``)."""
    made = jaga_hub(
        "create-device", "--site", site, "--name", "boat-2", database_url=hub.database_url
    )
    assert made.returncode == 0, made.stderr
    code = re.search(r"one-time code: (\S+)", made.stdout)
    assert code is not None, made.stdout
    env.setenv("JAGA_SYNC_CODE", code.group(1))
    return main(["sync", "register", "--hub", hub.url, "--db", str(db)])


def _catch_on(hub: HubProcess, uid: str) -> tuple[bool, str] | None:
    """The catch ``uid`` as ``hub`` holds it (flagged for review, reviewer); None when it
    has none."""
    with psycopg.connect(hub.database_url) as database:
        row = database.execute(
            "SELECT needs_review, reviewed_by FROM hub_fishobservation WHERE uid = %s", (uid,)
        ).fetchone()
    return None if row is None else (bool(row[0]), str(row[1]))


@pytest.fixture
def pulled(
    env: pytest.MonkeyPatch, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> tuple[Path, str]:
    """A boat's store holding another boat's catch it pulled from the live hub (its uid),
    flagged for review, then registered with ``other_hub``: the store, and the catch."""
    boat = new_device(tmp_path, live_hub.url, site_slug, "boat-1")
    with boat.open() as store, httpx.Client() as http:
        (uid,) = add_observations(store, 1, "other-boat")  # the first is flagged
        assert sync_until_drained(boat.client(store, http)) == 0
    db = tmp_path / "boat-2" / "jaga.db"
    db.parent.mkdir()
    Store.create(db, Passphrase(PASSPHRASE), config=FAST).close()
    assert register(env, db, live_hub.url, site_slug) == 0
    assert sync(db) == 0
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        assert not store.observations.get(uid).recorded_here  # pulled
    return db, uid


def test_the_review_of_a_catch_pulled_from_the_old_hub_never_reaches_the_new_hub(
    env: pytest.MonkeyPatch,
    other_hub: HubProcess,
    site_slug: str,
    pulled: tuple[Path, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: the confirmation was pushed to the other hub, which made the catch in its own
    site of the same slug."""
    db, uid = pulled
    assert _register_with(env, db, other_hub, site_slug) == 0
    capsys.readouterr()

    argv = ["store", "confirm", uid, SPECIES, "--new-species", "--officer", "officer-9"]
    argv += ["--db", str(db)]
    assert main(argv) == 0
    said = capsys.readouterr().out.strip().splitlines()

    assert sync(db) == 0
    assert _catch_on(other_hub, uid) is None
    assert len(said) == 1 and "held for hub " in said[0], said
    assert "not sent to the hub this device is registered with" in said[0]
    capsys.readouterr()
    assert main(["sync", "status", "--db", str(db)]) == 0
    assert "held         1 outbox entry queued for another hub" in capsys.readouterr().out


def test_registered_back_with_the_old_hub_the_held_review_goes_to_it(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    other_hub: HubProcess,
    site_slug: str,
    pulled: tuple[Path, str],
) -> None:
    """Held, not lost: the old hub, which has the catch, takes the review once the device is
    registered with it again."""
    db, uid = pulled
    assert _register_with(env, db, other_hub, site_slug) == 0
    assert (
        main(["store", "confirm", uid, "--not-a-fish", "--officer", "officer-9", "--db", str(db)])
        == 0
    )
    assert sync(db) == 0
    assert _catch_on(live_hub, uid) == (True, "")  # flagged, never reviewed

    assert register(env, db, live_hub.url, site_slug) == 0
    assert sync(db) == 0

    assert _catch_on(live_hub, uid) == (False, "officer-9")
    assert _catch_on(other_hub, uid) is None
