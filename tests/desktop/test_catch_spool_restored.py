"""A catch kept in the Catch panel's spool, recorded, then lost from the store by a restore
of a backup taken before it (``jaga store restore``) while its spool entry was still there
(the app killed between the store's commit and the entry's deletion): the next start offers
it again, and its Retry records the same catch, never a second one.

Found in session 31 (dupcatch): the Retry recorded the photo under its old uid but made
new observation uids, so a hub that had the catch from a sync before the restore got a
second catch of the same fish on the same photo; and once a sync had pulled the catch back
into the restored store (without its photo: photos never travel in pulls), the Retry wrote
it a second time there too. Real stores, real spool, a real worker killed with SIGKILL
after the commit, a real hub on the suite's PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_errors import CatchError
from desktop.catch_photo import read_catch_photo
from desktop.catch_records import CatchRecord
from desktop.catch_store import CatchStore
from sync.store import Passphrase, Store
from sync.store.backups import backup, restore
from sync.store.database import Database
from sync.store.pending_catches import spool_path
from sync.store.spool_kdf import spool_key_from
from tests.desktop.catch_worker import NO_FISH
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.test_catch_spool_crash import QUICK, counts, write_locked
from tests.inference.fish.test_images import grey_png
from tests.sync.client.devices import PASSPHRASE as HUB_PASSPHRASE
from tests.sync.client.devices import Device, new_device, sync_until_drained
from tests.sync.conftest import FAST, REPO_ROOT
from tests.sync.hub.hubfixtures import site_slug
from tests.sync.hub.hubkit import HubProcess

__all__ = ["site_slug"]  # the fixture, used by name


def kept_and_committed(
    store_path: Path,
    tmp_path: Path,
    passphrase: str,
    fish: tuple[CaughtFish, ...] = (CaughtFish(None, NO_FISH),),
) -> CatchRecord:
    """A catch (of ``fish``, on one photo) the store refused (kept in the spool), then
    retried by a worker killed once the store committed it, before its spool entry was
    deleted."""
    photo = tmp_path / "deck.png"
    photo.write_bytes(grey_png(64, 48))
    catch = CatchRecord(
        read_catch_photo(photo), fish, CatchDetails(officer="Ana Lima"),
        (None,) * len(fish), pressed_at=datetime.now(UTC),  # as the panel's Record makes it
    )  # fmt: skip
    with write_locked(store_path, passphrase), pytest.raises(CatchError, match="kept on disk"):
        CatchStore(store_path, Passphrase(passphrase), QUICK).record(catch)
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.desktop.spool_worker", str(store_path), passphrase],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert worker.stdin is not None and worker.stdout is not None
    try:
        assert worker.stdout.readline().strip() == "read"
        assert worker.stdout.readline().strip() == "writing"
        with write_locked(store_path, passphrase, spool=True):
            worker.stdin.write("go\n")
            worker.stdin.flush()
            deadline = time.monotonic() + 60
            while counts(store_path, passphrase) != (len(fish), 1):  # committed; the deletion waits
                assert worker.poll() is None, "the worker ended before it was killed"
                assert time.monotonic() < deadline, "the worker never recorded the catch"
                time.sleep(0.05)
            worker.kill()  # SIGKILL
            worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=60)
    return catch


def observation_uids(store_path: Path, passphrase: str) -> list[str]:
    with Store.open(store_path, Passphrase(passphrase), config=QUICK) as store:
        rows = store.database.query("SELECT observation_uid FROM fish_observations ORDER BY id")
    return [str(uid) for (uid,) in rows]


def take_backup(store_path: Path, passphrase: str, destination: Path) -> None:
    with Store.open(store_path, Passphrase(passphrase), config=QUICK) as store:
        backup(store, destination, operator="test")


def test_a_catch_retried_after_a_restore_to_before_it_is_the_same_catch(
    store_path: Path, tmp_path: Path
) -> None:
    """No hub: the restore discards the unsynced catch, the spool still has it, and its
    Retry records it under the observation uids it was first recorded with (those a hub
    may hold)."""
    before = tmp_path / "before.db"
    take_backup(store_path, PASSPHRASE, before)
    kept_and_committed(store_path, tmp_path, PASSPHRASE)
    recorded = observation_uids(store_path, PASSPHRASE)
    restore(
        before, store_path, Passphrase(PASSPHRASE), operator="test", force=True,
        discard_unsynced=True, config=QUICK,
    )  # fmt: skip
    assert counts(store_path) == (0, 0)
    catches = CatchStore(store_path, Passphrase(PASSPHRASE), QUICK)
    (kept,) = catches.pending()
    catches.record(kept)
    again = observation_uids(store_path, PASSPHRASE)
    assert again == recorded, f"recorded again as {again}, not as {recorded}: a second catch"
    assert catches.pending() == []


@pytest.mark.parametrize("pulled_back", [False, True], ids=["retried", "pulled-then-retried"])
def test_a_catch_retried_after_a_restore_is_on_the_hub_once_with_its_review(
    pulled_back: bool, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The catch reached the hub, and a hub reviewer confirmed it, before the officer
    restored a backup taken before it. Retried (before any sync, or after a sync pulled it
    back), it stays one catch on the hub and in the store, and the review stands."""
    from sync.hub.models import FishObservation
    from sync.hub.review import correct_species

    boat = new_device(tmp_path, live_hub.url, site_slug, "boat-r")
    before = tmp_path / "before.db"
    take_backup(boat.path, HUB_PASSPHRASE, before)
    catch = kept_and_committed(boat.path, tmp_path, HUB_PASSPHRASE)
    _sync(boat)
    (first,) = FishObservation.objects.filter(photo_uid=catch.uid)
    correct_species(first.pk, "Gadus morhua", "hub-reviewer")
    restore(before, boat.path, Passphrase(HUB_PASSPHRASE), operator="test", force=True, config=FAST)
    catches = CatchStore(boat.path, Passphrase(HUB_PASSPHRASE), FAST)
    if pulled_back:
        _sync(boat)
    for kept in catches.pending():  # what the next start offers, each retried
        catches.record(kept)
    _sync(boat)

    on_hub = [str(o.uid) for o in FishObservation.objects.filter(photo_uid=catch.uid)]
    assert on_hub == [str(first.uid)], f"the hub holds {on_hub} for one catch"
    assert observation_uids(boat.path, HUB_PASSPHRASE) == on_hub
    assert FishObservation.objects.get(pk=first.pk).confirmed_species == "Gadus morhua"
    assert catches.pending() == []


def test_a_catch_kept_before_its_uids_were_is_kept_once_by_the_hub(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A spool entry written by a Jaga before the spool kept observation uids: retried after
    the restore, it is recorded under new ones, and the hub, which holds the catch from
    before, keeps that one (``same_catch``) with its review; nothing is quarantined."""
    from sync.hub.models import FishObservation
    from sync.hub.review import correct_species

    boat = new_device(tmp_path, live_hub.url, site_slug, "boat-old")
    before = tmp_path / "before.db"
    take_backup(boat.path, HUB_PASSPHRASE, before)
    catch = kept_and_committed(boat.path, tmp_path, HUB_PASSPHRASE)
    _forget_observation_uids(boat.path)
    _sync(boat)
    (first,) = FishObservation.objects.filter(photo_uid=catch.uid)
    correct_species(first.pk, "Gadus morhua", "hub-reviewer")
    restore(before, boat.path, Passphrase(HUB_PASSPHRASE), operator="test", force=True, config=FAST)
    catches = CatchStore(boat.path, Passphrase(HUB_PASSPHRASE), FAST)
    (kept,) = catches.pending()
    catches.record(kept)
    _sync(boat)

    on_hub = [str(o.uid) for o in FishObservation.objects.filter(photo_uid=catch.uid)]
    assert on_hub == [str(first.uid)], f"the hub holds {on_hub} for one catch"
    assert FishObservation.objects.get(pk=first.pk).confirmed_species == "Gadus morhua"
    with boat.open() as store:
        assert store.outbox.quarantined() == []


def _forget_observation_uids(store_path: Path) -> None:
    """The spool's entries as a Jaga before session 31 wrote them: no observation uids."""
    with Store.open(store_path, Passphrase(HUB_PASSPHRASE), config=QUICK) as store:
        spool = Database.open(
            spool_path(store_path), spool_key_from(store.key), QUICK, create=False
        )
    try:
        with spool.write() as connection:
            for uid, text in connection.execute("SELECT uid, catch FROM pending").fetchall():
                kept = json.loads(text)
                del kept["observation_uids"]
                connection.execute(
                    "UPDATE pending SET catch = ? WHERE uid = ?", (json.dumps(kept), uid)
                )
    finally:
        spool.close()


def _sync(boat: Device) -> None:
    with boat.open() as store, httpx.Client() as http:
        assert sync_until_drained(boat.client(store, http)) == 0
