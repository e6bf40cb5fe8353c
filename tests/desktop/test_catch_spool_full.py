"""A Record or Retry on a full disk says what became of the catch. Once the disk is full the
store cannot even be opened (SQLite needs room for its shared-memory file): that refusal was
the store's bare "no space left", not saying the catch was kept in memory only, as the panel
says of every other catch the disk has no room for. And a catch an earlier refusal kept on
disk stays kept there: the panel said of it "kept in memory only, lost if the app stops".
A real store on a real full file system (a small tmpfs, where mounting one is permitted).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_errors import KEPT_IN_MEMORY, KEPT_ON_DISK, CatchError
from desktop.catch_photo import PhotoFile
from desktop.catch_records import CatchRecord, CatchRecords
from desktop.catch_store import CatchStore
from sync.store import Passphrase, Store
from tests.desktop.catch_worker import NO_FISH
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.test_catch_spool_crash import QUICK, write_locked
from tests.desktop.test_catch_spool_unmade import a_catch
from tests.inference.fish.test_images import grey_png
from tests.sync.test_store_faults import small_tmpfs

__all__ = ["small_tmpfs"]  # a fixture: a 2 MiB tmpfs, or a skip


def fill(folder: Path) -> Path:
    """A file taking all the room left in ``folder``."""
    ballast = folder / "ballast"
    out = os.open(ballast, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(out, bytes(4096)):
            pass
    except OSError:  # ENOSPC: full
        pass
    finally:
        os.close(out)
    return ballast


def test_a_catch_refused_by_a_store_too_full_to_open_is_said_kept_in_memory_only(
    small_tmpfs: Path, tmp_path: Path
) -> None:
    store_path = small_tmpfs / "jaga.db"
    Store.create(store_path, Passphrase(PASSPHRASE), config=QUICK).close()
    store = CatchStore(store_path, Passphrase(PASSPHRASE), QUICK)
    kept = a_catch(tmp_path / "deck.png", grey_png(64, 48))
    with write_locked(store_path), pytest.raises(CatchError, match=KEPT_ON_DISK):
        store.record(kept)  # another writer held the store: kept in the spool

    ballast = fill(small_tmpfs)
    new = a_catch(tmp_path / "next.png", grey_png(48, 64))
    with pytest.raises(CatchError, match="no space left") as refused:
        store.record(new)
    assert KEPT_IN_MEMORY in str(refused.value)

    ballast.unlink()
    store.record(kept)  # room again: both recorded, the spool's entry deleted
    store.record(new)
    assert store.pending() == []


def test_a_catch_kept_on_disk_and_refused_again_is_said_still_kept_on_disk() -> None:
    records = CatchRecords()
    catch = a_catch_record()
    records.start(catch)
    records.failed(catch, f"database is locked ({KEPT_ON_DISK})")
    records.start(catch)  # its Retry, on a disk full since
    records.failed(catch, f"no space left ({KEPT_IN_MEMORY}: no space left)")
    shown = records.outcome().text
    assert "still kept on disk from its earlier refusal" in shown
    assert KEPT_IN_MEMORY not in shown

    other = a_catch_record()  # never kept on disk: said so as it is
    records.start(other)
    records.failed(other, f"no space left ({KEPT_IN_MEMORY}: no space left)")
    assert records.outcome().text.count(KEPT_IN_MEMORY) == 1


def test_a_catch_kept_from_before_the_app_stopped_is_still_kept_on_disk_when_refused() -> None:
    records = CatchRecords()
    catch = a_catch_record()
    records.kept([catch])  # read from the spool at the start
    records.start(catch)
    records.failed(catch, f"no space left ({KEPT_IN_MEMORY}: no space left)")
    assert "still kept on disk from its earlier refusal" in records.outcome().text


def a_catch_record() -> CatchRecord:
    """A catch as Record made it (no file is read)."""
    photo = PhotoFile(Path("deck.png"), grey_png(64, 48), "image/png", (64, 48))
    return CatchRecord(photo, (CaughtFish(None, NO_FISH),), CatchDetails(officer="Ana"), (None,))
