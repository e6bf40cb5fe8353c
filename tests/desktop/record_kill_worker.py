"""The Catch panel's Record in a process of its own, held just before the store writes it:
``python -m tests.desktop.record_kill_worker STORE PHOTO``.

It records the photo as the panel's worker does (``CatchStore.record``: the whole photo, one
fish the pack called ``no_fish``, officer Ana Lima) under a patient busy timeout. It first
says ``catch UID``; when the store is about to write the catch (``add_with_photo``) it says
``writing`` and waits for a line on stdin: the moment at which a test kills it (SIGKILL), as
a flat battery on deck would, or lets it go on and kills it later.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_photo import read_catch_photo
from desktop.catch_records import CatchRecord
from desktop.catch_store import CatchStore
from sync.store import Passphrase, StoreConfig
from sync.store.observations import Observations
from tests.desktop.catch_worker import NO_FISH
from tests.desktop.passphrases import PASSPHRASE

PATIENT = StoreConfig(busy_timeout_s=60.0, scrypt_n=2**10)


def hold_before_the_store_writes() -> None:
    """The store's write of a catch says ``writing`` and waits for a line on stdin first."""
    add = Observations.add_with_photo

    def held(self: Observations, *args: Any, **kwargs: Any) -> Any:
        print("writing", flush=True)
        sys.stdin.readline()
        return add(self, *args, **kwargs)

    Observations.add_with_photo = held  # type: ignore[method-assign]


def main(store_path: str, photo_path: str) -> int:
    store = CatchStore(Path(store_path), Passphrase(PASSPHRASE), PATIENT)
    catch = CatchRecord(
        read_catch_photo(Path(photo_path)).file(), (CaughtFish(None, NO_FISH),),
        CatchDetails(officer="Ana Lima"), (None,),
    )  # fmt: skip
    print(f"catch {catch.uid}", flush=True)
    hold_before_the_store_writes()
    store.record(catch)
    print("recorded", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
