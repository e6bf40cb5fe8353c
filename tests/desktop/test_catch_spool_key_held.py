"""A Record keeps its catch on disk before any key is derived for it.

Review (s31, Record kill window): each Record opened the store before it kept the catch in
the spool (``<store>.pending-catches``), and each open derives the store's key with scrypt:
at the production cost a catch with a 4 MB photo was on disk a median 1.2 s after the
officer pressed Record, and a kill in that time (a flat battery, the app killed) lost the
catch the officer believed recorded. The spool's key is now taken from the store when it is
opened (``Store.spool_key``), so a Record keeps the catch first and derives only to write it
to the store. Real processes killed with SIGKILL at a point the worker names, on a real
store; a key taken before a key change is never used after it. The key taken is the
spool's own, derived from the store's (HKDF): what the panel holds never opens the store.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_errors import CatchError
from desktop.catch_photo import read_catch_photo
from desktop.catch_records import CatchRecord
from desktop.catch_spool import CatchSpool
from desktop.catch_store import CatchStore
from sync.errors import WrongKeyError
from sync.store import Passphrase, Store
from sync.store.database import Database
from sync.store.in_use import InUse
from sync.store.pending_catches import pending_count, spool_exists, spool_path
from sync.store.spool_kdf import spool_key_from
from tests.desktop.catch_worker import NO_FISH
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.rekey_worker import NEW_PASSPHRASE
from tests.desktop.test_catch_spool_crash import QUICK, counts
from tests.desktop.test_catch_spool_keys import keep_one
from tests.inference.fish.test_images import grey_png
from tests.sync.conftest import REPO_ROOT


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "deck.png"
    path.write_bytes(grey_png(64, 48))
    return path


def a_catch(photo: Path) -> CatchRecord:
    return CatchRecord(
        read_catch_photo(photo).file(), (CaughtFish(None, NO_FISH),),
        CatchDetails(officer="Ana Lima"), (None,),
    )  # fmt: skip


def test_a_record_killed_while_a_key_is_derived_keeps_the_catch(
    store_path: Path, photo: Path
) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.desktop.record_derive_kill_worker", str(store_path),
         str(photo)],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert worker.stdout is not None
    try:
        said, uid = worker.stdout.readline().split()
        assert said == "catch"
        assert worker.stdout.readline().strip() == "deriving"  # the Record's first scrypt run
        worker.kill()  # SIGKILL, there
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=60)
    offered = CatchStore(store_path, Passphrase(PASSPHRASE), QUICK).pending()
    assert [catch.uid for catch in offered] == [uid], (
        "the catch was lost: killed while its Record derived the store's key, before the"
        " catch was kept on disk"
    )
    assert offered[0].photo.data == photo.read_bytes()


def change_key_twice(store_path: Path) -> bytes:
    """The store's passphrase changed and changed back: the same passphrase, a new key (a
    new salt), as a restore of a backup under another key would give; the new key."""
    with Store.open(store_path, Passphrase(PASSPHRASE), config=QUICK) as store:
        store.change_key(Passphrase(NEW_PASSPHRASE), operator="test")
    with Store.open(store_path, Passphrase(NEW_PASSPHRASE), config=QUICK) as store:
        store.change_key(Passphrase(PASSPHRASE), operator="test")
        return store.key


@pytest.mark.parametrize("spool_before", [False, True], ids=["no spool yet", "a spool"])
def test_a_key_taken_before_a_key_change_is_not_used_after_it(
    store_path: Path, photo: Path, spool_before: bool
) -> None:
    """The panel took the spool's key at its start; the store's key changed since: the
    Record keeps its catch under the key the store has now, never under the one taken (a
    spool made under it would open with no key the store has)."""
    catch_store = CatchStore(store_path, Passphrase(PASSPHRASE), QUICK)
    if spool_before:  # made by the Record of another photo, under the first key
        other = photo.with_name("other.png")
        other.write_bytes(grey_png(32, 24))
        catch_store.record(a_catch(other))
    catch_store.at_start()
    new_key = change_key_twice(store_path)
    catch_store.record(a_catch(photo))
    assert counts(store_path) == (1 + spool_before, 1 + spool_before)
    assert pending_count(store_path, new_key, QUICK) == 0, "the spool is not under the new key"


def test_a_record_during_a_restore_or_key_change_writes_nothing_beside_the_store(
    store_path: Path, photo: Path
) -> None:
    """A restore or key change copies the spool and puts its copy in place: a catch kept
    in the spool between the two would be lost, so none is kept while one runs (it holds
    the store's in-use lock alone); the refusal says the catch is in memory only."""
    catch_store = CatchStore(store_path, Passphrase(PASSPHRASE), QUICK)
    catch_store.at_start()
    held = InUse.alone(store_path, "restore")
    try:
        with pytest.raises(CatchError, match="kept in memory only"):
            catch_store.record(a_catch(photo))
    finally:
        held.release()
    assert not spool_exists(store_path)


def as_an_earlier_release_kept_it(store_path: Path) -> bytes:
    """The spool re-encrypted back under the store's raw key, as a release before the
    spool's own key (HKDF) kept it; the store's key."""
    with Store.open(store_path, Passphrase(PASSPHRASE), config=QUICK) as store:
        key = store.key
    spool = Database.open(spool_path(store_path), spool_key_from(key), QUICK, create=False)
    try:
        spool.rekey(key)
    finally:
        spool.close()
    return key


def test_the_panel_holds_the_spools_key_never_the_stores(
    store_path: Path, tmp_path: Path, photo: Path
) -> None:
    """What the panel keeps while it runs opens the spool, not the store; an earlier
    release's spool, under the store's raw key, is re-encrypted at the panel's start and
    its catch offered, then kept by the next Record without the store."""
    kept = keep_one(store_path, tmp_path)
    store_key = as_an_earlier_release_kept_it(store_path)
    catch_store = CatchStore(store_path, Passphrase(PASSPHRASE), QUICK)
    offered = catch_store.at_start().kept
    assert isinstance(offered, tuple) and [c.uid for c in offered] == [kept.uid]
    taken = catch_store._spool_key.value
    assert taken is not None
    assert store_key not in (taken.key, *vars(taken).values()), "the panel holds the store's key"
    with pytest.raises(WrongKeyError):  # re-encrypted at the start: the raw key opens nothing
        Database.open(spool_path(store_path), store_key, QUICK, create=False)
    early = CatchSpool.open_with(taken)
    assert early is not None, "the panel's key does not open the re-encrypted spool"
    early.close()
    catch_store.record(a_catch(photo))
    assert counts(store_path) == (1, 1)
    assert pending_count(store_path, store_key, QUICK) == 1  # the refused one, still kept
