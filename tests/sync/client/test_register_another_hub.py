"""An outbox row belongs to the hub it was queued for: registered with another hub, whose site
of the same slug is another organisation's site, the old hub's unsent rows (people and face
templates a restored hub's renewal queued again, say) are never pushed to it. ``jaga sync
register`` refuses such a code, unused, naming them; with ``--strand-records`` they stay in
the store, held for the old hub, and go to it when the device is registered back with it.
The old hub is a registration kept in the store, as ``test_register_noted_decisions`` makes
one; the new hub is the real one."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from main import main
from sync.client.config import Registration
from sync.client.state import read_values, save_registration
from sync.store import Passphrase, Store
from tests.sync.client.devices import PASSPHRASE, add_access_events, enrol
from tests.sync.client.test_register_moved import env, register, sync
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["env"]  # the fixture, used by name

OLD_HUB = "https://old-hub.example"


def _queued_at_the_old_hub(db: Path, site: str) -> None:
    """A kiosk of ``site`` registered with ``OLD_HUB``, holding one person (a person and a
    face template queued, as a restored hub's renewal queues them again) and one access
    decision, unsent."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with Store.create(db, Passphrase(PASSPHRASE), config=FAST) as store:
        old = Registration(OLD_HUB, site, uuid4(), "old-token")
        save_registration(store.database, old, store.clock.now(), send_face_images=False)
        enrol(store, site, "OLD-1", seed=3)
        add_access_events(store, site, 1)


def _unsent(db: Path) -> dict[str, int]:
    """Outbox rows not acknowledged, by entity: a row the new hub took is acknowledged."""
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        rows = store.database.query(
            "SELECT entity, count(*) FROM outbox WHERE state != 'acknowledged' GROUP BY entity"
        )
    return {str(entity): int(n) for entity, n in rows}


def _hub_url(db: Path) -> str:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        return read_values(store.database)["hub_url"]


def test_a_code_of_another_hub_is_refused_while_the_old_hubs_rows_wait(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: registered with exit 0 (the new hub's site has the same slug, so no site check
    caught it), and the next sync pushed the old hub's person and template to the new hub."""
    db = tmp_path / "refused" / "jaga.db"
    _queued_at_the_old_hub(db, site_slug)

    assert register(env, db, live_hub.url, site_slug) == 1

    err = capsys.readouterr().err
    assert f"records still to push to {OLD_HUB}" in err
    assert f"site {site_slug} (1 person, 1 access event, 1 face template)" in err
    assert "the code was not used" in err
    assert _hub_url(db) == OLD_HUB


def test_with_strand_records_the_old_hubs_rows_are_never_pushed_to_the_new_hub(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: the person, the face template and the decision went to the new hub."""
    db = tmp_path / "stranded" / "jaga.db"
    _queued_at_the_old_hub(db, site_slug)
    before = _unsent(db)

    assert register(env, db, live_hub.url, site_slug, "--strand-records") == 0
    out = capsys.readouterr().out
    assert f"left unsent: records queued for {OLD_HUB}" in out
    assert f"site {site_slug} (1 person, 1 access event, 1 face template)" in out
    assert f"never sent to {live_hub.url}" in out

    assert sync(db) == 0
    assert _unsent(db) == before == {"person": 1, "face_template": 1, "access_event": 1}


def test_rows_queued_after_the_move_go_to_the_new_hub(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
) -> None:
    """Only the old hub's rows are held: what the device records once registered with the
    new hub is that hub's, and is pushed."""
    db = tmp_path / "after" / "jaga.db"
    _queued_at_the_old_hub(db, site_slug)
    assert register(env, db, live_hub.url, site_slug, "--strand-records") == 0
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        add_access_events(store, site_slug, 2)

    assert sync(db) == 0
    assert _unsent(db) == {"person": 1, "face_template": 1, "access_event": 1}


def test_the_held_rows_show_in_sync_status(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Held, they are in no count a sync waits on; the status says they are there."""
    db = tmp_path / "status" / "jaga.db"
    _queued_at_the_old_hub(db, site_slug)
    assert register(env, db, live_hub.url, site_slug, "--strand-records") == 0
    capsys.readouterr()

    assert main(["sync", "status", "--db", str(db)]) == 0

    out = capsys.readouterr().out
    assert "held         3 outbox entries queued for another hub than this one" in out


def test_registered_back_with_the_old_hub_its_rows_are_pushed_again(tmp_path: Path) -> None:
    """Held for the old hub, not dropped: registered with it again (another address case of
    the same hub), they are queued for it; registered elsewhere, they stay held."""
    db = tmp_path / "back" / "jaga.db"
    _queued_at_the_old_hub(db, "gate")
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        for hub in ("https://new-hub.example", "https://third-hub.example"):
            elsewhere = Registration(hub, "gate", uuid4(), "token")
            save_registration(store.database, elsewhere, store.clock.now(), send_face_images=False)
            assert store.outbox.queued(limit=10) == []
        back = Registration("https://OLD-HUB.example:443/", "gate", uuid4(), "token")
        save_registration(store.database, back, store.clock.now(), send_face_images=False)
        assert len(store.outbox.queued(limit=10)) == 3
