"""Access decisions noted to send again to a restored hub (``sync.store.resend``) are records
still to push: ``jaga sync register`` treats them as it treats the outbox's. A code of
another site is refused before it is used (registered elsewhere, the device never sent
them, and said nothing); with ``--strand-records`` they stay unsent, queued, and the command
says so. Against the real hub."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from sync.client.config import Registration
from sync.client.state import read_values, save_registration
from sync.store import Passphrase, Store
from sync.store.resend import decisions_name, queue_again
from tests.sync.client.devices import PASSPHRASE, add_access_events
from tests.sync.client.test_register_moved import env, register, sync
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["env"]  # the fixture, used by name


def _noted_at(db: Path, hub: HubProcess, env: pytest.MonkeyPatch, site: str) -> None:
    """A kiosk of ``site`` holding no one, whose two decisions the hub acknowledged; then
    the hub restored: its renewal noted them to send again, and the sync was killed before
    it queued them (nothing else of the site to send again: no person held)."""
    db.parent.mkdir(parents=True, exist_ok=True)
    Store.create(db, Passphrase(PASSPHRASE), config=FAST).close()
    assert register(env, db, hub.url, site) == 0
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        add_access_events(store, site, 2)
    assert sync(db) == 0
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        with store.database.write() as connection:
            queue_again(connection, store.outbox, store.clock, site)
        assert decisions_name(site) in read_values(store.database)
        assert not store.outbox.queued(limit=10)


def _queued_decisions(db: Path, site: str) -> int:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        queued = store.outbox.queued(limit=100)
    return sum(
        entry.entity == "access_event" and entry.payload()["site"] == site for entry in queued
    )


def _site(db: Path) -> str:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        return read_values(store.database)["site"]


def test_decisions_noted_to_send_again_refuse_a_code_of_another_site(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: registered from X to Y with exit 0 and not a word; the two decisions the
    restored hub lost waited, unsent, for a registration back to X nobody knew to make."""
    x, y = f"{site_slug}-x", f"{site_slug}-y"
    db = tmp_path / "noted" / "jaga.db"
    _noted_at(db, live_hub, env, x)
    capsys.readouterr()

    assert register(env, db, live_hub.url, y) == 1

    err = capsys.readouterr().err
    assert f"unsent records of site {x} (2 access events)" in err
    assert "the code was not used" in err
    assert _site(db) == x
    assert sync(db) == 0  # still registered to X, the next sync sends them
    assert _queued_decisions(db, x) == 0


def test_with_strand_records_the_noted_decisions_stay_queued_and_are_named(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    x, y = f"{site_slug}-x", f"{site_slug}-y"
    db = tmp_path / "stranded" / "jaga.db"
    _noted_at(db, live_hub, env, x)
    capsys.readouterr()

    assert register(env, db, live_hub.url, y, "--strand-records") == 0

    out = capsys.readouterr().out
    assert f"left unsent: records of site {x} (2 access events)" in out
    assert _site(db) == y
    assert _queued_decisions(db, x) == 2


def _noted_at_another_hub(db: Path, site: str) -> None:
    """A kiosk of ``site`` at another hub than the test's, whose two decisions that hub
    acknowledged; then that hub restored: its renewal noted them to send again, and the
    sync was killed before it queued them."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with Store.create(db, Passphrase(PASSPHRASE), config=FAST) as store:
        old = Registration("https://old-hub.example", site, uuid4(), "old-token")
        save_registration(store.database, old, store.clock.now(), send_face_images=False)
        add_access_events(store, site, 2)
        with store.database.write() as connection:
            connection.execute("DELETE FROM outbox WHERE state = 'queued'")  # as acknowledged
            queue_again(connection, store.outbox, store.clock, site)
        assert decisions_name(site) in read_values(store.database)


def test_registered_with_another_hub_the_old_hubs_noted_decisions_are_not_pushed_to_it(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: the register command queued the old hub's noted decisions first, so the next
    sync pushed them to the new hub, whose site of the same slug is another site. They are
    the old hub's: the note is forgotten, as it was before the command queued them, and the
    command says which decisions stay unsent."""
    db = tmp_path / "moved-hub" / "jaga.db"
    _noted_at_another_hub(db, site_slug)

    assert register(env, db, live_hub.url, site_slug) == 0

    assert _queued_decisions(db, site_slug) == 0
    out = capsys.readouterr().out
    assert (
        f"not sent: access decisions of site {site_slug} (2 access events) noted to send again"
        " to https://old-hub.example" in out
    )
    assert decisions_name(site_slug) not in read_values_of(db)
    assert sync(db) == 0
    assert _queued_decisions(db, site_slug) == 0


def test_registered_with_another_hub_the_old_hubs_noted_decisions_refuse_no_code(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """They are never this hub's records to push, so a code of any of its sites is taken."""
    db = tmp_path / "moved-hub-site" / "jaga.db"
    _noted_at_another_hub(db, f"{site_slug}-x")

    assert register(env, db, live_hub.url, f"{site_slug}-y") == 0

    assert "left unsent" not in capsys.readouterr().out
    assert _site(db) == f"{site_slug}-y"
    assert _queued_decisions(db, f"{site_slug}-x") == 0


def read_values_of(db: Path) -> dict[str, str]:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        return read_values(store.database)
