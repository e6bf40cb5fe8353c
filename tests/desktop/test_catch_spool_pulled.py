"""A catch kept in the Catch panel's spool, recorded and synced, then lost from the store by a
restore of a backup taken before it (``jaga store restore``), and pulled back by a sync
before its entry was replayed (photos never travel in pulls: the pulled catch comes back
without its photo).

Found in session 33 (spooldup): an entry kept by a Jaga before entries carried their
observation uids was not recognised as the pulled catch, and its Retry recorded the catch a
second time in the store; and an entry found held (by its observation uids) was deleted
with the only photo bytes on the device, the pulled catch left naming a photo it lacked.
The pull now notes the photo a catch names when the store lacks it, the replay finds the
entry's catch by it (``sync.store.pulled_photos``), and the entry's photo is put into the
store for it before the entry is deleted. Real stores, real spool, a real worker killed
with SIGKILL after the commit, a real hub on the suite's PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from desktop.catch_records import CatchRecord
from desktop.catch_store import CatchStore
from sync.errors import CatchRecordedError, RecordTooLargeError
from sync.store import Passphrase, Store
from sync.store.backups import restore
from sync.store.database import Database
from sync.store.pending_catches import spool_path
from sync.store.photos import load_photo
from sync.store.spool_kdf import spool_key_from
from tests.desktop.test_catch_spool_restored import (
    _forget_observation_uids,
    _sync,
    kept_and_committed,
    observation_uids,
    take_backup,
)
from tests.sync.client.devices import PASSPHRASE as HUB_PASSPHRASE
from tests.sync.client.devices import Device, new_device
from tests.sync.conftest import FAST
from tests.sync.hub.hubfixtures import site_slug
from tests.sync.hub.hubkit import HubProcess

__all__ = ["site_slug"]  # the fixture, used by name


def _pulled_back(
    tmp_path: Path, hub_url: str, site: str, name: str, *, old_entry: bool
) -> tuple[Device, CatchRecord, str]:
    """A catch recorded (its spool entry left by a kill), synced, lost by a restore and
    pulled back; its entry written by an earlier Jaga (no observation uids) if
    ``old_entry``. Returns the device, the catch, and the uid the hub holds it under."""
    from sync.hub.models import FishObservation

    boat = new_device(tmp_path, hub_url, site, name)
    before = tmp_path / "before.db"
    take_backup(boat.path, HUB_PASSPHRASE, before)
    catch = kept_and_committed(boat.path, tmp_path, HUB_PASSPHRASE)
    if old_entry:
        _forget_observation_uids(boat.path)
    _sync(boat)
    (held,) = FishObservation.objects.filter(photo_uid=catch.uid)
    restore(before, boat.path, Passphrase(HUB_PASSPHRASE), operator="test", force=True, config=FAST)
    _sync(boat)  # pulls the catch back, without its photo
    assert observation_uids(boat.path, HUB_PASSPHRASE) == [str(held.uid)]
    return boat, catch, str(held.uid)


def _assert_one_catch_with_its_photo(boat: Device, catch: CatchRecord, uid: str) -> None:
    from sync.hub.models import FishObservation

    recorded = observation_uids(boat.path, HUB_PASSPHRASE)
    assert recorded == [uid], f"the store holds {recorded} for one catch (the hub's: {uid})"
    on_hub = [str(o.uid) for o in FishObservation.objects.filter(photo_uid=catch.uid)]
    assert on_hub == [uid], f"the hub holds {on_hub} for one catch"
    with boat.open() as store:
        held = store.observations.get(uid)
        assert held.photo_uid == catch.uid, f"the catch names photo {held.photo_uid}"
        assert load_photo(store.database, catch.uid).data == catch.photo.data
        assert store.outbox.quarantined() == []


@pytest.mark.parametrize("old_entry", [True, False], ids=["kept-before-uids", "kept-with-uids"])
def test_a_pulled_back_catch_is_recorded_once_and_keeps_its_photo(
    old_entry: bool, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The next start finds the entry's catch in the store (pulled back), deletes the entry
    instead of offering it for a Retry, and the catch has its photo from the entry."""
    boat, catch, uid = _pulled_back(
        tmp_path, live_hub.url, site_slug, f"boat-pulled-{old_entry}", old_entry=old_entry
    )
    catches = CatchStore(boat.path, Passphrase(HUB_PASSPHRASE), FAST)
    for kept in catches.pending():  # what the next start offers, each retried
        catches.record(kept)
    _sync(boat)

    _assert_one_catch_with_its_photo(boat, catch, uid)
    assert catches.pending() == []


@pytest.mark.parametrize("old_entry", [True, False], ids=["kept-before-uids", "kept-with-uids"])
def test_a_catch_pulled_back_while_offered_is_retried_once_and_keeps_its_photo(
    old_entry: bool, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The entry was offered before the pull (read at start); its Retry after the pull finds
    the catch held, writes nothing, and leaves the catch its photo."""
    from sync.hub.models import FishObservation

    boat = new_device(tmp_path, live_hub.url, site_slug, f"boat-offered-{old_entry}")
    before = tmp_path / "before.db"
    take_backup(boat.path, HUB_PASSPHRASE, before)
    catch = kept_and_committed(boat.path, tmp_path, HUB_PASSPHRASE)
    if old_entry:
        _forget_observation_uids(boat.path)
    _sync(boat)
    (held,) = FishObservation.objects.filter(photo_uid=catch.uid)
    restore(before, boat.path, Passphrase(HUB_PASSPHRASE), operator="test", force=True, config=FAST)
    catches = CatchStore(boat.path, Passphrase(HUB_PASSPHRASE), FAST)
    (kept,) = catches.pending()  # offered at start
    _sync(boat)  # then a sync pulls the catch back
    assert isinstance(catches.record(kept), CatchRecordedError)
    _sync(boat)

    _assert_one_catch_with_its_photo(boat, catch, str(held.uid))
    assert catches.pending() == []


def test_a_catch_dismissed_after_it_was_pulled_back_keeps_its_photo(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The officer dismisses the offered entry after a sync pulled its catch back: the entry
    goes, the photo the pulled catch names stays in the store."""
    from sync.hub.models import FishObservation

    boat = new_device(tmp_path, live_hub.url, site_slug, "boat-dismissed")
    before = tmp_path / "before.db"
    take_backup(boat.path, HUB_PASSPHRASE, before)
    catch = kept_and_committed(boat.path, tmp_path, HUB_PASSPHRASE)
    _forget_observation_uids(boat.path)
    _sync(boat)
    (held,) = FishObservation.objects.filter(photo_uid=catch.uid)
    restore(before, boat.path, Passphrase(HUB_PASSPHRASE), operator="test", force=True, config=FAST)
    catches = CatchStore(boat.path, Passphrase(HUB_PASSPHRASE), FAST)
    offered = catches.pending()
    _sync(boat)
    catches.forget(offered)

    _assert_one_catch_with_its_photo(boat, catch, str(held.uid))
    assert catches.pending() == []


def test_an_entry_whose_photo_the_store_refuses_stays_in_the_spool(
    live_hub: HubProcess, site_slug: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The pulled catch's photo cannot be put in (over the store's size limit now): the
    entry, which holds its only bytes here, is neither deleted nor offered for a Retry; a
    dismissal says why and deletes nothing. Under the limit again, the photo goes in."""
    boat, catch, uid = _pulled_back(
        tmp_path, live_hub.url, site_slug, "boat-refused", old_entry=True
    )
    small = replace(FAST, max_blob_bytes=len(catch.photo.data) - 1)
    refused = CatchStore(boat.path, Passphrase(HUB_PASSPHRASE), small)
    assert refused.pending() == []
    assert "not put in the store" in caplog.text
    with pytest.raises(RecordTooLargeError):
        refused.forget([catch])
    (kept,) = _spool_uids(boat.path)
    assert kept == catch.uid, "the entry holding the photo's only bytes was deleted"

    catches = CatchStore(boat.path, Passphrase(HUB_PASSPHRASE), FAST)
    assert catches.pending() == []
    _sync(boat)
    _assert_one_catch_with_its_photo(boat, catch, uid)
    assert _spool_uids(boat.path) == []


def _spool_uids(store_path: Path) -> list[str]:
    with Store.open(store_path, Passphrase(HUB_PASSPHRASE), config=FAST) as store:
        spool = Database.open(spool_path(store_path), spool_key_from(store.key), FAST, create=False)
    try:
        return [str(uid) for (uid,) in spool.query("SELECT uid FROM pending")]
    finally:
        spool.close()
