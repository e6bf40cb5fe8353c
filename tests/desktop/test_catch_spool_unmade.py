"""A spool whose making was cut short holds no catch, and never stops the next from being
kept: a kill between its file and its first page, or a disk too full for that page, left an
empty ``<store>.pending-catches`` that every later open refused as a truncated store, so no
refused catch was kept on disk again and every start said the kept catches could not be read.

Real processes on a real store: one killed with SIGKILL once the spool's file is made, and a
real full file system (a small tmpfs, where mounting one is permitted).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_errors import CatchError
from desktop.catch_photo import read_catch_photo
from desktop.catch_records import CatchRecord
from desktop.catch_store import CatchStore
from sync.store import Passphrase, Store
from sync.store.pending_catches import pending_count, spool_path
from tests.desktop.catch_worker import NO_FISH
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.test_catch_spool_crash import QUICK, counts, write_locked
from tests.inference.fish.test_images import grey_png
from tests.sync.conftest import REPO_ROOT
from tests.sync.test_store_faults import small_tmpfs

__all__ = ["small_tmpfs"]  # a fixture: a 2 MiB tmpfs, or a skip


def a_catch(photo: Path, data: bytes) -> CatchRecord:
    photo.write_bytes(data)
    fish, details = (CaughtFish(None, NO_FISH),), CatchDetails(officer="Ana Lima")
    return CatchRecord(read_catch_photo(photo), fish, details, (None,))


def kill_once_the_spool_is_made(store_path: Path, photo: Path) -> None:
    """A catch refused while the store's write lock is held elsewhere, its process killed
    once the spool's file exists and before anything is written in it."""
    with write_locked(store_path):
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.desktop.spool_make_worker", str(store_path), str(photo)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None
        try:
            assert worker.stdout.readline().strip() == "made"
        finally:
            worker.kill()  # SIGKILL
            worker.wait(timeout=60)


def test_a_catch_is_kept_after_a_kill_left_the_spool_empty(
    store_path: Path, tmp_path: Path
) -> None:
    first = tmp_path / "first.png"
    first.write_bytes(grey_png(32, 24))
    kill_once_the_spool_is_made(store_path, first)
    assert spool_path(store_path).stat().st_size == 0  # what the kill left

    store = CatchStore(store_path, Passphrase(PASSPHRASE), QUICK)
    assert store.pending() == []  # the next start: nothing was kept, nothing to refuse
    catch = a_catch(tmp_path / "deck.png", grey_png(64, 48))
    with write_locked(store_path), pytest.raises(CatchError, match="kept on disk until recorded"):
        store.record(catch)
    assert [kept.uid for kept in store.pending()] == [catch.uid]
    assert stat.S_IMODE(spool_path(store_path).stat().st_mode) == 0o600  # the officer's photos
    store.record(catch)  # its Retry
    assert counts(store_path) == (1, 1)
    assert store.pending() == []


def test_a_spool_the_disk_had_no_room_to_make_keeps_the_next_catch_once_it_has(
    small_tmpfs: Path, tmp_path: Path
) -> None:
    store_path = small_tmpfs / "jaga.db"
    Store.create(store_path, Passphrase(PASSPHRASE), config=QUICK).close()
    free = os.statvfs(small_tmpfs).f_bavail * os.statvfs(small_tmpfs).f_frsize
    ballast = small_tmpfs / "ballast"
    ballast.write_bytes(bytes(free - 64 * 1024))  # room for a page or two, not for a photo
    store = CatchStore(store_path, Passphrase(PASSPHRASE), QUICK)
    big = a_catch(tmp_path / "big.png", grey_png(64, 48) + os.urandom(400_000))
    with pytest.raises(CatchError, match="kept in memory only"):
        store.record(big)  # the spool has no room, nor has the store
    ballast.unlink()  # room again (a spool begun on the full disk opens only then)
    assert store.pending() == []  # nothing was kept

    # another writer holds the store a moment
    catch = a_catch(tmp_path / "deck.png", grey_png(64, 48))
    with write_locked(store_path), pytest.raises(CatchError, match="kept on disk until recorded"):
        store.record(catch)
    assert [kept.uid for kept in store.pending()] == [catch.uid]
    with Store.open(store_path, Passphrase(PASSPHRASE), config=QUICK) as opened:
        assert pending_count(opened.path, opened.key, opened.database.config) == 1


def test_a_store_whose_spool_a_kill_left_empty_changes_its_key(
    store_path: Path, tmp_path: Path
) -> None:
    first = tmp_path / "first.png"
    first.write_bytes(grey_png(32, 24))
    kill_once_the_spool_is_made(store_path, first)
    new = Passphrase("another long passphrase")
    with Store.open(store_path, Passphrase(PASSPHRASE), config=QUICK) as store:
        assert pending_count(store.path, store.key, store.database.config) == 0  # store info
        store.change_key(new, operator="Ana Lima")  # jaga store rekey
    assert CatchStore(store_path, new, QUICK).pending() == []
