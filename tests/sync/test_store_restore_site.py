"""A restore over a store registered to a site brings no other site's people onto it: the
device pulls only its own site's changes, so that site's erasures would never reach them.

Without a hub: the registrations are rows as ``jaga sync register`` leaves them."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest

from sync.client.config import Registration
from sync.client.state import ensure_schema, registration_values, save_registration
from sync.errors import RestoreOtherSiteError
from sync.store import Passphrase, Store, backup, restore
from tests.sync.client.devices import PASSPHRASE, add_access_events, enrol
from tests.sync.conftest import FAST

KEY = Passphrase(PASSPHRASE)
HUB = "http://hub.test"


def _registration(site: str, device: int, hub: str = HUB) -> Registration:
    return Registration(hub, site, UUID(int=device), f"token-{device}")


def _store(path: Path, *, site: str, badge: str, registered: Registration | None) -> Path:
    """A store holding one person of ``site`` (enrolled with ``--site``), registered or not."""
    with Store.create(path, KEY, config=FAST) as store:
        enrol(store, site, badge, seed=len(badge))
        if registered is not None:
            ensure_schema(store.database)
            save_registration(store.database, registered, store.clock.now(), send_face_images=False)
    return path


def _backup_of(tmp_path: Path, *, site: str, registered: Registration | None) -> Path:
    source = _store(tmp_path / "other" / "jaga.db", site=site, badge="X-1", registered=registered)
    with Store.open(source, KEY, config=FAST) as store:
        backup(store, tmp_path / "X.db", operator="ops")
    return tmp_path / "X.db"


def _badges(path: Path) -> list[str]:
    with Store.open(path, KEY, config=FAST) as store:
        return sorted(p.external_id for p, _ in store.people.listing())


def test_an_unregistered_backup_of_another_sites_people_is_refused_over_a_registered_store(
    tmp_path: Path,
) -> None:
    """A backup made before registering, of people enrolled with ``--site site-x``, restored
    over a store registered to site-y: refused, naming both sites, nothing changed."""
    nightly = _backup_of(tmp_path, site="site-x", registered=None)
    here = _store(tmp_path / "kiosk" / "jaga.db", site="site-y", badge="Y-1",
                  registered=_registration("site-y", 2))  # fmt: skip
    with pytest.raises(RestoreOtherSiteError) as refused:
        restore(nightly, here, KEY, operator="ops", force=True, config=FAST,
                discard_unsynced=True)  # fmt: skip  # the refusal is not that one
    message = str(refused.value)
    assert "site-x" in message and "site-y" in message and "Nothing was changed" in message
    assert _badges(here) == ["Y-1"]


def test_a_backup_registered_to_another_site_is_refused(tmp_path: Path) -> None:
    """Even one holding no record of its site: its registration says whose data it is."""
    nightly = _backup_of(tmp_path, site="site-x", registered=_registration("site-x", 1))
    here = _store(tmp_path / "kiosk" / "jaga.db", site="site-y", badge="Y-1",
                  registered=_registration("site-y", 2))  # fmt: skip
    with pytest.raises(RestoreOtherSiteError, match="registered to site site-x"):
        restore(nightly, here, KEY, operator="ops", force=True, config=FAST,
                discard_unsynced=True)  # fmt: skip  # the refusal is not that one
    assert _badges(here) == ["Y-1"]


def test_a_backup_registered_with_another_hub_is_refused(tmp_path: Path) -> None:
    nightly = _backup_of(
        tmp_path, site="site-y", registered=_registration("site-y", 1, "http://other.test")
    )
    here = _store(tmp_path / "kiosk" / "jaga.db", site="site-y", badge="Y-1",
                  registered=_registration("site-y", 2))  # fmt: skip
    with pytest.raises(RestoreOtherSiteError, match=r"http://other\.test"):
        restore(nightly, here, KEY, operator="ops", force=True, config=FAST,
                discard_unsynced=True)  # fmt: skip  # the refusal is not that one


def test_another_sites_access_events_are_refused_too(tmp_path: Path) -> None:
    """An access event names its site and the person it recognised."""
    source = tmp_path / "other" / "jaga.db"
    with Store.create(source, KEY, config=FAST) as store:
        add_access_events(store, "site-x", 1)
        backup(store, tmp_path / "X.db", operator="ops")
    here = _store(tmp_path / "kiosk" / "jaga.db", site="site-y", badge="Y-1",
                  registered=_registration("site-y", 2))  # fmt: skip
    with pytest.raises(RestoreOtherSiteError, match="1 access event"):
        restore(tmp_path / "X.db", here, KEY, operator="ops", force=True, config=FAST,
                discard_unsynced=True)  # fmt: skip  # the refusal is not that one


def test_the_same_sites_backup_of_another_device_restores_as_this_device(
    tmp_path: Path,
) -> None:
    nightly = _backup_of(tmp_path, site="site-y", registered=_registration("site-y", 1))
    here = _store(tmp_path / "kiosk" / "jaga.db", site="site-y", badge="Y-1",
                  registered=_registration("site-y", 2))  # fmt: skip
    with Store.open(here, KEY, config=FAST) as store:
        registered = registration_values(store.database)
    restored = restore(nightly, here, KEY, operator="ops", force=True, config=FAST,
                       discard_unsynced=True)  # fmt: skip  # Y-1 never reached a hub
    assert restored.registration is not None and restored.registration.backup_had is not None
    assert _badges(here) == ["X-1"]
    with Store.open(here, KEY, config=FAST) as store:
        assert registration_values(store.database) == registered


def test_another_sites_records_this_store_holds_too_do_not_refuse_its_own_backup(
    tmp_path: Path,
) -> None:
    """People enrolled with another site's ``--site`` before registering (left unsent with
    ``--strand-records``) are in this device's own backups: restoring one brings nothing new."""
    here = _store(tmp_path / "kiosk" / "jaga.db", site="hq", badge="H-1", registered=None)
    with Store.open(here, KEY, config=FAST) as store:
        ensure_schema(store.database)
        save_registration(
            store.database, _registration("site-y", 2), store.clock.now(), send_face_images=False
        )
        backup(store, tmp_path / "own.db", operator="ops")
    restore(tmp_path / "own.db", here, KEY, operator="ops", force=True, config=FAST,
                discard_unsynced=True)  # fmt: skip
    assert _badges(here) == ["H-1"]


def test_a_stranded_person_of_a_site_does_not_let_another_backup_of_that_site_in(
    tmp_path: Path,
) -> None:
    """Before: the exemption was by site, so one person of hq kept here (``--strand-records``)
    let any backup of hq in, its other people then staying here for good. Only what this
    store holds itself is exempt."""
    here = _store(tmp_path / "kiosk" / "jaga.db", site="hq", badge="H-1", registered=None)
    with Store.open(here, KEY, config=FAST) as store:
        ensure_schema(store.database)
        save_registration(
            store.database, _registration("site-y", 2), store.clock.now(), send_face_images=False
        )
    nightly = _backup_of(tmp_path, site="hq", registered=None)  # another hq kiosk's X-1
    with pytest.raises(RestoreOtherSiteError, match="1 person of site hq") as refused:
        restore(nightly, here, KEY, operator="ops", force=True, config=FAST,
                discard_unsynced=True)  # fmt: skip  # the refusal is not that one
    assert "Nothing was changed" in str(refused.value)
    assert _badges(here) == ["H-1"]


def test_over_an_unregistered_store_any_backup_restores_as_before(tmp_path: Path) -> None:
    nightly = _backup_of(tmp_path, site="site-x", registered=_registration("site-x", 1))
    here = _store(tmp_path / "kiosk" / "jaga.db", site="site-y", badge="Y-1", registered=None)
    restored = restore(nightly, here, KEY, operator="ops", force=True, config=FAST,
                       discard_unsynced=True)  # fmt: skip
    assert restored.registration is None and _badges(here) == ["X-1"]


def test_a_restore_that_reads_no_replaced_store_says_whose_registration_it_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review found ``--no-carry-erasures`` (the replaced store not read, so neither the
    site check nor the kept registration runs) turning a site-y kiosk into site-x's device 1,
    silently. The store it replaces cannot be read then (the flag is for that), so the
    restore cannot refuse: it says whose identity the restored store has, and what to do."""
    from main import main

    nightly = _backup_of(tmp_path, site="site-x", registered=_registration("site-x", 1))
    here = _store(tmp_path / "kiosk" / "jaga.db", site="site-y", badge="Y-1",
                  registered=_registration("site-y", 2))  # fmt: skip
    restored = restore(nightly, here, KEY, operator="ops", force=True, config=FAST,
                       discard_unsynced=True, carry_erasures=False)  # fmt: skip
    assert restored.unchecked_registration is not None
    assert restored.unchecked_registration.site == "site-x"

    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    again = _store(tmp_path / "kiosk2" / "jaga.db", site="site-y", badge="Y-2",
                   registered=_registration("site-y", 3))  # fmt: skip
    argv = ["store", "restore", str(nightly), "--db", str(again), "--force",
            "--no-carry-erasures", "--discard-unsynced"]  # fmt: skip
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "WARNING: the restored store is registered as the backup was" in said
    assert f"device {UUID(int=1)} of site site-x" in said and "register it anew" in said


@pytest.mark.parametrize("spelled", ["http://HUB.test", "http://hub.test:80/"])
def test_the_same_hub_spelled_otherwise_is_the_same_hub(tmp_path: Path, spelled: str) -> None:
    """A review found a backup registered at ``http://HUB.test`` (or with the default port)
    refused over a store registered at ``http://hub.test``, its message naming "the hub at
    http://HUB.test" as another: the same site of the same hub restores, as this device."""
    nightly = _backup_of(tmp_path, site="site-y", registered=_registration("site-y", 1, spelled))
    here = _store(tmp_path / "kiosk" / "jaga.db", site="site-y", badge="Y-1",
                  registered=_registration("site-y", 2))  # fmt: skip
    restored = restore(nightly, here, KEY, operator="ops", force=True, config=FAST,
                       discard_unsynced=True)  # fmt: skip
    assert restored.registration is not None  # kept as this device's
    assert _badges(here) == ["X-1"]


HUB_ID = UUID("0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9")


def test_a_backup_of_the_same_hub_before_it_moved_address_restores(tmp_path: Path) -> None:
    """Before: refused as another hub's (told apart by address only), though the hub named
    itself by the same id at both addresses."""
    old = Registration("http://old-name.test", "site-y", UUID(int=1), "token-1", HUB_ID)
    nightly = _backup_of(tmp_path, site="site-y", registered=old)
    moved = Registration(HUB, "site-y", UUID(int=2), "token-2", HUB_ID)
    here = _store(tmp_path / "kiosk" / "jaga.db", site="site-y", badge="Y-1", registered=moved)
    restored = restore(nightly, here, KEY, operator="ops", force=True, config=FAST,
                       discard_unsynced=True)  # fmt: skip
    assert restored.registration is not None  # kept as this device's
    assert _badges(here) == ["X-1"]


def test_a_backup_of_another_hub_at_the_same_address_is_refused(tmp_path: Path) -> None:
    """Both ids known and different: another hub, whatever the address says."""
    other = Registration(HUB, "site-y", UUID(int=1), "token-1", UUID(int=7))
    nightly = _backup_of(tmp_path, site="site-y", registered=other)
    ours = Registration(HUB, "site-y", UUID(int=2), "token-2", HUB_ID)
    here = _store(tmp_path / "kiosk" / "jaga.db", site="site-y", badge="Y-1", registered=ours)
    with pytest.raises(RestoreOtherSiteError, match="of the hub at"):
        restore(nightly, here, KEY, operator="ops", force=True, config=FAST,
                discard_unsynced=True)  # fmt: skip
    assert _badges(here) == ["Y-1"]
