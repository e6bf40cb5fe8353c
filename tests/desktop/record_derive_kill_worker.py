"""The Catch panel's Record in a process of its own, held at each key derivation:
``python -m tests.desktop.record_derive_kill_worker STORE PHOTO``.

It starts as the panel does (``CatchStore.at_start``: the store opened once, its key
derived), says ``catch UID``, then records the photo as the panel's worker does
(``CatchStore.record``: the whole photo, one fish the pack called ``no_fish``, officer Ana
Lima). Each scrypt run from then on says ``deriving`` and waits for a line on stdin first:
the moment at which a test kills it (SIGKILL), as a flat battery on deck would. At the
production cost that run is most of a second, the window the officer's catch was in memory
only while the store's key was derived again before the catch was kept on disk.
"""

from __future__ import annotations

import sys
from pathlib import Path

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_photo import read_catch_photo
from desktop.catch_records import CatchRecord
from desktop.catch_store import CatchStore
from sync.store import Passphrase, StoreConfig
from sync.store.keys import ScryptParams
from tests.desktop.catch_worker import NO_FISH
from tests.desktop.passphrases import PASSPHRASE

PATIENT = StoreConfig(busy_timeout_s=60.0, scrypt_n=2**10)


def hold_at_each_key_derivation() -> None:
    """Each scrypt run says ``deriving`` and waits for a line on stdin first."""
    derive = ScryptParams.derive

    def held(self: ScryptParams, passphrase: str) -> bytes:
        print("deriving", flush=True)
        sys.stdin.readline()
        return derive(self, passphrase)

    ScryptParams.derive = held  # type: ignore[method-assign]


def main(store_path: str, photo_path: str) -> int:
    store = CatchStore(Path(store_path), Passphrase(PASSPHRASE), PATIENT)
    store.at_start()  # the panel's start, before any Record
    catch = CatchRecord(
        read_catch_photo(Path(photo_path)).file(), (CaughtFish(None, NO_FISH),),
        CatchDetails(officer="Ana Lima"), (None,),
    )  # fmt: skip
    print(f"catch {catch.uid}", flush=True)
    hold_at_each_key_derivation()
    store.record(catch)
    print("recorded", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
