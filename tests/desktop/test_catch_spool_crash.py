"""A Retry killed between the store's commit and the deletion of its spool entry records the
catch once, even a catch recorded *again* (which the store's check for an earlier record of
the photo lets through): a real process on a real store, killed with SIGKILL at that point.

The spool's write lock, held here, keeps the worker's deletion of the entry waiting after the
store committed the catch; the worker is killed there, as an out-of-memory kill or a power cut
would, and the next start finds the entry's catch recorded, and deletes the entry.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_errors import CatchError
from desktop.catch_photo import read_catch_photo
from desktop.catch_records import CatchRecord
from desktop.catch_store import CatchStore
from sync.store import Passphrase, Store, StoreConfig
from sync.store.database import Database
from sync.store.pending_catches import pending_count, spool_path
from sync.store.spool_kdf import spool_key_from
from tests.desktop.catch_worker import NO_FISH
from tests.desktop.conftest import PASSPHRASE
from tests.inference.fish.test_images import grey_png
from tests.sync.conftest import REPO_ROOT

QUICK = StoreConfig(busy_timeout_s=0.2, scrypt_n=2**10)


@contextmanager
def write_locked(
    store_path: Path, passphrase: str = PASSPHRASE, *, spool: bool = False
) -> Iterator[None]:
    """Another connection holds the write lock of the store, or of its spool."""
    with Store.open(store_path, Passphrase(passphrase), config=QUICK) as store:
        if not spool:
            with store.database.write():
                yield
            return
        other = Database.open(
            spool_path(store_path), spool_key_from(store.key), QUICK, create=False
        )
        try:
            with other.write():
                yield
        finally:
            other.close()


def counts(store_path: Path, passphrase: str = PASSPHRASE) -> tuple[int, int]:
    """How many observations and photos the store holds."""
    with Store.open(store_path, Passphrase(passphrase), config=QUICK) as store:
        ((observations, photos),) = store.database.query(
            "SELECT (SELECT count(*) FROM fish_observations), (SELECT count(*) FROM photos)"
        )
    return observations, photos


def spool_entries(store_path: Path, passphrase: str = PASSPHRASE) -> int | None:
    """How many catches the spool file holds, read past the panel (which deletes those the
    store holds as it reads them)."""
    with Store.open(store_path, Passphrase(passphrase), config=QUICK) as store:
        return pending_count(store_path, store.key, QUICK)


def kill_after_commit(store_path: Path) -> None:
    """Retry the kept catches in a worker, and kill it once the store has them but before
    the spool's entries are deleted."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.desktop.spool_worker", str(store_path)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdin is not None and worker.stdout is not None
    try:
        assert worker.stdout.readline().strip() == "read"
        assert worker.stdout.readline().strip() == "writing"  # kept in the spool again
        with write_locked(store_path, spool=True):
            worker.stdin.write("go\n")
            worker.stdin.flush()
            deadline = time.monotonic() + 60
            while counts(store_path) != (2, 2):  # committed; the entry's deletion waits
                assert worker.poll() is None, "the worker ended before it was killed"
                assert time.monotonic() < deadline, "the worker never recorded the catch"
                time.sleep(0.05)
            worker.kill()  # SIGKILL
            worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=60)


def test_a_catch_recorded_again_and_killed_before_its_entry_is_deleted_is_recorded_once(
    store_path: Path, tmp_path: Path
) -> None:
    photo = tmp_path / "deck.png"
    photo.write_bytes(grey_png(64, 48))
    file = read_catch_photo(photo)
    fish, details = (CaughtFish(None, NO_FISH),), CatchDetails(officer="Ana Lima")
    store = CatchStore(store_path, Passphrase(PASSPHRASE), QUICK)
    store.record(CatchRecord(file, fish, details, (None,)))
    again = CatchRecord(file, fish, details, (None,), again=True)  # the officer's second Record
    with write_locked(store_path), pytest.raises(CatchError, match="kept on disk"):
        store.record(again)
    assert [kept.uid for kept in store.pending()] == [again.uid]

    kill_after_commit(store_path)
    assert counts(store_path) == (2, 2)
    assert store.pending() == []  # the next start finds it recorded, and deletes its entry

    store.record(again)  # a Retry of it still in memory
    assert counts(store_path) == (2, 2), "the catch recorded again was recorded a third time"
    assert store.pending() == []
