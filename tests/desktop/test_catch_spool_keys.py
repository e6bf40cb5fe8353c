"""The catches kept beside the store move with its key: after ``jaga store rekey`` they open
with the new passphrase, and a key change killed at any step (a real process, SIGKILL) loses
none of them: the spool opens with the key the store ended up with.

Review 15 (spool, 3): the spool kept the old key, and opened only with the old passphrase.
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
from desktop.catch_store import CatchStore
from sync.store import Passphrase, Store
from sync.store.pending_catches import spool_path
from tests.desktop.catch_worker import NO_FISH
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.rekey_worker import NEW_PASSPHRASE
from tests.desktop.test_catch_spool_crash import QUICK, counts, write_locked
from tests.inference.fish.test_images import grey_png
from tests.sync.conftest import REPO_ROOT


def keep_one(store_path: Path, tmp_path: Path, passphrase: str = PASSPHRASE) -> CatchRecord:
    """A catch the store refused (another connection held it): kept in the spool."""
    photo = tmp_path / "deck.png"
    photo.write_bytes(grey_png(64, 48))
    catch = CatchRecord(
        read_catch_photo(photo), (CaughtFish(None, NO_FISH),), CatchDetails(officer="Ana Lima"),
        (None,),
    )  # fmt: skip
    with write_locked(store_path, passphrase), pytest.raises(CatchError, match="kept on disk"):
        CatchStore(store_path, Passphrase(passphrase), QUICK).record(catch)
    return catch


def files_beside(store_path: Path) -> list[str]:
    """The spool's files: no copy of it left behind under another key."""
    return sorted(
        p.name for p in store_path.parent.iterdir() if spool_path(store_path).name in p.name
    )


def test_a_key_change_moves_the_kept_catches_to_the_new_key(
    store_path: Path, tmp_path: Path
) -> None:
    catch = keep_one(store_path, tmp_path)
    with Store.open(store_path, Passphrase(PASSPHRASE), config=QUICK) as store:
        store.change_key(Passphrase(NEW_PASSPHRASE), operator="test")
    moved = CatchStore(store_path, Passphrase(NEW_PASSPHRASE), QUICK)
    (kept,) = moved.pending()
    assert kept.uid == catch.uid
    moved.record(kept)
    assert counts(store_path, NEW_PASSPHRASE) == (1, 1) and moved.pending() == []
    name = spool_path(store_path).name
    assert files_beside(store_path) == [name, f"{name}.kdf.json"]


@pytest.mark.parametrize(
    ("step", "passphrase"),
    [("prepared", PASSPHRASE), ("rekeyed", NEW_PASSPHRASE)],
    ids=["before the store's rekey", "after it"],
)
def test_a_key_change_killed_midway_loses_no_kept_catch(
    store_path: Path, tmp_path: Path, step: str, passphrase: str
) -> None:
    catch = keep_one(store_path, tmp_path)
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.desktop.rekey_worker", str(store_path), step],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == step
    finally:
        worker.kill()  # SIGKILL, at that step
        worker.communicate(timeout=60)
    # the store opens with the key it ended up with, and so do the catches kept beside it
    store = CatchStore(store_path, Passphrase(passphrase), QUICK)
    (kept,) = store.pending()
    assert kept.uid == catch.uid
    name = spool_path(store_path).name
    assert files_beside(store_path) == [name, f"{name}.kdf.json"]
    store.record(kept)
    assert counts(store_path, passphrase) == (1, 1) and store.pending() == []
