"""A device registered again to another site keeps none of the old site's people: it pulls
only the new site's log, so the old site's erasures would never reach them, and their
templates would verify at the new site's gate for good. Against the real hub."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from main import main
from sync.client.audit import PROBLEM_NAME
from sync.client.config import Registration
from sync.client.moved_site import register_moving
from sync.client.site_state import cursor_name
from sync.client.state import put_values, read_cursor, save_registration
from sync.hub.auth import create_device
from sync.store import Passphrase, Store
from sync.store.purge_mark import PURGE_OWED
from tests.sync.client.devices import PASSPHRASE, enrol
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    for name in ("JAGA_HUB_URL", "JAGA_SYNC_SITE", "JAGA_SYNC_DEVICE_ID", "JAGA_SYNC_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def kiosk(path: Path, site: str, badges: list[str]) -> list[str]:
    """A new store holding people of ``site`` enrolled before registering; their uids."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with Store.create(path, Passphrase(PASSPHRASE), config=FAST) as store:
        return [enrol(store, site, badge, seed=n + 1) for n, badge in enumerate(badges)]


def register(env: pytest.MonkeyPatch, db: Path, hub_url: str, site: str, *extra: str) -> int:
    env.setenv("JAGA_SYNC_CODE", create_device(site, f"kiosk-{db.parent.name}").code)
    return main(["sync", "register", "--hub", hub_url, "--db", str(db), *extra])


def sync(db: Path) -> int:
    return main(["sync", "now", "--db", str(db)])


def people(db: Path) -> dict[str, str]:
    """person uid: site, of everyone the store holds."""
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        rows = store.database.query("SELECT person_uid, site FROM people")
    return {str(uid): str(site) for uid, site in rows}


def state_names(db: Path) -> set[str]:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        return {str(name) for (name,) in store.database.query("SELECT name FROM sync_state")}


def problem(db: Path) -> str:
    """The audit chain's problem the hub reported (``sync.client.audit_state.PROBLEM_NAME``)."""
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        rows = store.database.query("SELECT value FROM sync_state WHERE name = ?", (PROBLEM_NAME,))
    return str(rows[0][0]) if rows else ""


def audit_actions(db: Path, action: str) -> list[tuple[str, str]]:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        rows = store.database.query(
            "SELECT subject, details FROM audit_log WHERE action = ? ORDER BY sequence", (action,)
        )
    return [(str(subject), str(details)) for subject, details in rows]


def test_registered_to_another_site_the_old_sites_people_leave_the_store(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: registered from gate X to gate Y, the kiosk still held X's two people (and
    their templates) after syncing with Y, for good."""
    x, y = f"{site_slug}-x", f"{site_slug}-y"
    hub_url = live_hub.url
    moved = tmp_path / "moved" / "jaga.db"
    x_people = kiosk(moved, x, ["X-1", "X-2"])
    assert register(env, moved, hub_url, x) == 0 and sync(moved) == 0  # the hub holds them
    y_people = kiosk(tmp_path / "y" / "jaga.db", y, ["Y-1"])
    y_kiosk = tmp_path / "y" / "jaga.db"
    assert register(env, y_kiosk, hub_url, y) == 0 and sync(y_kiosk) == 0
    assert set(people(moved)) == set(x_people)
    assert any(name.endswith(f".{x}") for name in state_names(moved))
    capsys.readouterr()

    assert register(env, moved, hub_url, y) == 0
    out = capsys.readouterr().out
    assert f"removed 2 people of site {x} from this store" in out
    assert PURGE_OWED not in state_names(moved)  # purged: their bytes left the file
    assert sync(moved) == 0
    assert people(moved) == dict.fromkeys(y_people, y)
    assert not [name for name in state_names(moved) if name.endswith(f".{x}")]
    assert problem(moved) == ""  # the hub took the new audit entries
    removed = audit_actions(moved, "person.left_site")
    assert sorted(subject for subject, _ in removed) == sorted(x_people)
    assert all(f"registered to site {y}" in details for _, details in removed)
    with Store.open(moved, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.database.query("SELECT count(*) FROM face_templates")[0][0] == 1


def test_registered_again_to_the_same_site_nothing_is_removed(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "same" / "jaga.db"
    held = kiosk(db, site_slug, ["S-1"])
    hub_url = live_hub.url
    assert register(env, db, hub_url, site_slug) == 0 and sync(db) == 0
    capsys.readouterr()
    assert register(env, db, hub_url, site_slug) == 0
    assert "removed" not in capsys.readouterr().out
    assert set(people(db)) == set(held)
    assert audit_actions(db, "person.left_site") == []


def test_stranded_people_of_the_old_site_are_kept(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Unsent, they exist nowhere else: ``--strand-records`` leaves them unsent, not erased;
    the ones the hub holds go."""
    x, y = f"{site_slug}-x", f"{site_slug}-y"
    hub_url = live_hub.url
    db = tmp_path / "strand" / "jaga.db"
    synced = kiosk(db, x, ["X-1"])
    assert register(env, db, hub_url, x) == 0 and sync(db) == 0
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        unsent = enrol(store, x, "X-2", seed=9)
    capsys.readouterr()
    assert register(env, db, hub_url, y, "--strand-records") == 0
    out = capsys.readouterr().out
    assert f"removed 1 person of site {x} from this store" in out
    assert f"kept 1 person of site {x} with records still to push" in out
    assert set(people(db)) == {unsent} and synced[0] not in people(db)


def test_another_hub_is_another_site_even_of_the_same_slug(tmp_path: Path) -> None:
    """The old hub's site of that slug holds the people, and only its log erases them."""
    db = tmp_path / "hubs" / "jaga.db"
    kiosk(db, "gate", ["G-1", "G-2"])
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        old = Registration("https://old-hub.example", "gate", uuid4(), "old-token")
        save_registration(store.database, old, store.clock.now(), send_face_images=False)
        drain(store)  # as if the old hub had acknowledged them
        put_values(store.database, {cursor_name("gate"): "7"}, store.clock.now())
        new = Registration("https://new-hub.example", "gate", uuid4(), "new-token")
        left = register_moving(
            store, new, store.clock.now(), send_face_images=False, operator="ops"
        )
        assert left is not None and (left.removed, left.kept) == (2, 0)
        assert store.people.count() == 0 and read_cursor(store.database, "gate") == 0


def drain(store: Store) -> None:
    """Forget every queued entry, as a sync the old hub acknowledged would have."""
    with store.database.write() as connection:
        connection.execute("DELETE FROM outbox WHERE state = 'queued'")  # as acknowledged
