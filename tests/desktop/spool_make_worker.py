"""A catch the store refuses, kept in a spool being made for it, in a process of its own:
``python -m tests.desktop.spool_make_worker STORE PHOTO``.

It records the photo (``CatchStore.record``) while the test holds the store's write lock, so
the store refuses it and the catch goes to the spool, which does not exist yet. Once the
spool's file is made, before SQLite has written a byte of it, it says ``made`` and waits for
a line on stdin: the moment at which the test kills it (SIGKILL), as an out-of-memory kill or
a power cut would, leaving the empty file a full disk leaves too.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_photo import read_catch_photo
from desktop.catch_records import CatchRecord
from desktop.catch_store import CatchStore
from sync.store import Passphrase, StoreConfig, database_open
from tests.desktop.catch_worker import NO_FISH
from tests.desktop.passphrases import PASSPHRASE

QUICK = StoreConfig(busy_timeout_s=0.2, scrypt_n=2**10)


def hold_once_the_spool_is_made(spool: Path) -> None:
    """The spool's first connection says ``made`` and waits for a line on stdin first."""
    connect = database_open.connect

    def held(path: Path, key: bytes, config: StoreConfig, mode: str) -> Any:
        if path == spool:
            print("made", flush=True)
            sys.stdin.readline()
        return connect(path, key, config, mode)

    database_open.connect = held


def main(store_path: str, photo_path: str) -> int:
    store = CatchStore(Path(store_path), Passphrase(PASSPHRASE), QUICK)
    hold_once_the_spool_is_made(Path(store_path + ".pending-catches"))
    catch = CatchRecord(
        read_catch_photo(Path(photo_path)), (CaughtFish(None, NO_FISH),),
        CatchDetails(officer="Ana Lima"), (None,),
    )  # fmt: skip
    store.record(catch)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
