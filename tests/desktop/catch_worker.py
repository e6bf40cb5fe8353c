"""``jaga catch``'s record in a process of its own, held just before it writes:
``python -m tests.desktop.catch_worker STORE PHOTO``.

It opens the store and reads the photo as ``jaga catch`` does, then records it through
``record_catches`` as the whole photo, one fish that the pack called ``no_fish`` (the race
under test is in the store, not in the classifier). When the record is about to take the
store's write lock it says ``writing`` and waits for a line on stdin, so that a test can
hold two of them at that point and let them go together. At the end it says
``recorded UID`` or ``recorded before``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from desktop.catch import CatchDetails, CaughtFish, record_catches
from desktop.catch_errors import RecordedBeforeError
from desktop.catch_photo import read_catch_photo
from inference.fish.types import FishPrediction, FishStatus
from sync.store import Passphrase, Store, StoreConfig
from sync.store.database import Database
from tests.desktop.passphrases import PASSPHRASE

# The other worker may hold the write lock for a whole commit: wait for it, as the app does.
PATIENT = StoreConfig(busy_timeout_s=60.0, scrypt_n=2**10)
NO_FISH = FishPrediction(FishStatus.NO_FISH, (), needs_review=True, pack_version="1", reason="x")


def hold_before_writing() -> None:
    """Every write from now on says ``writing`` and waits for a line on stdin first."""
    write = Database.write

    @contextlib.contextmanager
    def held(self: Database) -> Iterator[Any]:
        print("writing", flush=True)
        sys.stdin.readline()
        with write(self) as connection:
            yield connection

    Database.write = held  # type: ignore[method-assign]


def main(store_path: str, photo_path: str) -> int:
    photo = read_catch_photo(Path(photo_path))
    with Store.open(Path(store_path), Passphrase(PASSPHRASE), config=PATIENT) as store:
        hold_before_writing()
        try:
            (recorded,) = record_catches(
                store.observations, photo, [CaughtFish(None, NO_FISH)],
                CatchDetails(officer="Ana Lima"), clock=store.clock,
            )  # fmt: skip
        except RecordedBeforeError:
            print("recorded before", flush=True)
            return 0
    print(f"recorded {recorded.observation_uid}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
