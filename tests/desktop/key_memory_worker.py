"""The Catch panel's start and one Record in a process of its own, for a test to scan its
memory: ``python -m tests.desktop.key_memory_worker STORE PHOTO`` with the passphrase in
``$JAGA_STORE_PASSPHRASE``, as the app is started.

It takes its settings as the app does (``settings_from_args``), starts as the panel does
(``CatchStore.at_start``: the store opened once), records the photo as the panel's worker
does (``CatchStore.record``), lets the store go (every job closes it), collects garbage,
then says ``done`` and waits for a line on stdin: the test reads its memory meanwhile. The
passphrase is in no source file: only the environment gives it.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import main
from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_photo import read_catch_photo
from desktop.catch_records import CatchRecord
from desktop.catch_store import CatchStore
from desktop.settings import AppSettings, settings_from_args
from tests.desktop.catch_worker import NO_FISH, PATIENT


def run(settings: AppSettings, photo_path: str) -> CatchStore:
    catch_store = CatchStore.of(settings)
    assert catch_store is not None, "no key: the passphrase was not in the environment"
    catch_store = CatchStore(catch_store.path, catch_store.source, PATIENT)  # scrypt, cheaper
    catch_store.at_start()
    catch = CatchRecord(
        read_catch_photo(Path(photo_path)).file(), (CaughtFish(None, NO_FISH),),
        CatchDetails(officer="Ana Lima"), (None,),
    )  # fmt: skip
    catch_store.record(catch)
    return catch_store


def main_(store_path: str, photo_path: str) -> int:
    args = main.build_parser().parse_args(["app", "--db", store_path])
    held = run(settings_from_args(args, os.environ), photo_path)  # the panel, still running
    gc.collect()
    print("done", flush=True)
    sys.stdin.readline()
    del held
    return 0


if __name__ == "__main__":
    sys.exit(main_(*sys.argv[1:]))
