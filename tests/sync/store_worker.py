"""A separate writer process for the fault tests: ``python -m tests.sync.store_worker MODE ...``.

Modes:

* ``burst DB KEYFILE START`` — commit fish observations (with a photo) one transaction each,
  numbered from START, forever; after each COMMIT returns, print the number and flush, so the
  parent knows exactly which transactions the store promised were durable.
* ``bursts DB KEYFILE`` — for each START line on stdin, fork a writer that says ``pid PID``
  and runs ``burst`` from START; once it is gone (killed), say ``ended STATUS`` (-9: SIGKILL).
  The imports are made once, in this process, not once a writer: each writer is still a
  process of its own that opens the store itself, and is killed as the app would be.
* ``hold DB KEYFILE SECONDS`` — take the write lock, say ``locked``, hold it, then commit.
* ``write DB KEYFILE COUNT TAG`` — commit COUNT observations tagged TAG (a concurrent writer).
* ``fill DB KEYFILE LIMIT_BYTES`` — cap the file size with RLIMIT_FSIZE (0: no cap, e.g. on a
  small tmpfs) and commit photos until the store refuses; print each committed number, then
  ``error <ErrorClass>``.
* ``outgrow DB KEYFILE LIMIT_BYTES PHOTO_BYTES`` — cap the file size, commit one photo that
  fits in the WAL but not in the main file, print ``committed``, then try the checkpoint that
  would fold it in and print ``checkpoint ok`` or ``error <ErrorClass> <message>``, and close
  (whose own checkpoint SQLite runs, and fails, without a word).
* ``owed DB KEYFILE LIMIT_BYTES PHOTO_BYTES`` — as ``outgrow``, but a reader's snapshot holds
  the checkpoint back (it is owed); once the reader is done, commit a small record, whose write
  retries the owed checkpoint, and print ``second committed`` or ``error <ErrorClass>``; then
  the count of observations a fresh read sees.
* ``open DB KEYFILE`` — open the store (as the app does), say ``open``, and keep it open until
  stdin closes; then commit one observation tagged ``after`` and say ``wrote`` (or
  ``error <ErrorClass> <message>``).
* ``read DB KEYFILE`` — hold a read snapshot (an export, a backup, the kiosk loading its
  gallery): say ``reading``; at a line on stdin end it and say ``read done``, keeping the store
  open; at the next line, close it.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from sync.errors import StoreError
from sync.store import FishObservation, KeyFile, Photo, SpeciesScore, Store, StoreConfig


def observation(number: int, tag: str, photo_bytes: int) -> tuple[FishObservation, Photo]:
    now = datetime.now(UTC)
    photo = Photo(data=random.randbytes(photo_bytes), media_type="image/jpeg", taken_at=now)
    record = FishObservation(
        observed_at=now,
        predictions=(SpeciesScore("Gadus morhua", 0.8), SpeciesScore("Pollachius", 0.1)),
        needs_review=False,
        officer="worker",
        notes=f"{tag}-{number}",
    )
    return record, photo


def open_store(db: str, key_file: str, busy_timeout_s: float = 10.0) -> Store:
    return Store.open(Path(db), KeyFile(Path(key_file)), config=StoreConfig(busy_timeout_s))


def burst(db: str, key_file: str, start: str) -> None:
    store = open_store(db, key_file)
    number = int(start)
    while True:
        store.observations.add(*observation(number, "txn", random.randint(256, 12_000)))
        print(number, flush=True)
        number += 1


def bursts(db: str, key_file: str) -> None:
    for line in sys.stdin:
        sys.stdout.flush()  # nothing buffered here may be written again by the writer
        pid = os.fork()
        if pid == 0:
            _forked_burst(db, key_file, line.strip())
        _, status = os.waitpid(pid, 0)
        print("ended", os.waitstatus_to_exitcode(status), flush=True)


def _forked_burst(db: str, key_file: str, start: str) -> NoReturn:
    try:
        random.seed()  # not the photo sizes of the writer before
        print("pid", os.getpid(), flush=True)
        burst(db, key_file, start)
    except BaseException:  # a writer that fails says why, and never returns to the loop
        traceback.print_exc()
    finally:
        os._exit(1)


def hold(db: str, key_file: str, seconds: str) -> None:
    store = open_store(db, key_file)
    with store.database.write():
        print("locked", flush=True)
        time.sleep(float(seconds))
    store.close()


def write(db: str, key_file: str, count: str, tag: str) -> None:
    store = open_store(db, key_file)
    for number in range(int(count)):
        store.observations.add(*observation(number, tag, 2_000))
    store.close()
    print("done", flush=True)


def limit_file_size(limit_bytes: int) -> None:
    # Without this, crossing the limit kills us with SIGXFSZ instead of failing the write.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def fill(db: str, key_file: str, limit_bytes: str) -> None:
    if int(limit_bytes):
        limit_file_size(int(limit_bytes))
    store = open_store(db, key_file)
    number = 0
    try:
        while True:
            store.observations.add(*observation(number, "fill", 20_000))
            print(number, flush=True)
            number += 1
    except StoreError as error:
        print(f"error {type(error).__name__} {error}", flush=True)
    store.close()


def outgrow(db: str, key_file: str, limit_bytes: str, photo_bytes: str) -> None:
    limit_file_size(int(limit_bytes))
    store = open_store(db, key_file)
    store.observations.add(*observation(0, "outgrow", int(photo_bytes)))
    print("committed", flush=True)
    try:
        store.database.checkpoint()
        print("checkpoint ok", flush=True)
    except StoreError as error:
        print(f"error {type(error).__name__} {error}", flush=True)
    store.close()


def owed(db: str, key_file: str, limit_bytes: str, photo_bytes: str) -> None:
    store, reader = open_store(db, key_file), open_store(db, key_file)
    with reader.database.read() as snapshot:
        snapshot.execute("SELECT count(*) FROM fish_observations").fetchone()
        limit_file_size(int(limit_bytes))
        store.observations.add(*observation(0, "owed", int(photo_bytes)))
        print("committed", "owed" if not store.database.checkpoint() else "folded", flush=True)
    reader.close()
    try:
        store.observations.add(observation(1, "owed", 1)[0])
        print("second committed", flush=True)
    except StoreError as error:
        print(f"error {type(error).__name__} {error}", flush=True)
    print(store.database.query("SELECT count(*) FROM fish_observations")[0][0], flush=True)
    store.close()


def keep_open(db: str, key_file: str) -> None:
    store = open_store(db, key_file)
    print("open", flush=True)
    sys.stdin.read()
    try:
        store.observations.add(observation(0, "after", 1)[0])
        print("wrote", flush=True)
    except StoreError as error:
        print(f"error {type(error).__name__} {error}", flush=True)
    store.close()


def read(db: str, key_file: str) -> None:
    store = open_store(db, key_file)
    with store.database.read() as snapshot:
        snapshot.execute("SELECT count(*) FROM photos").fetchone()
        print("reading", flush=True)
        sys.stdin.readline()
    print("read done", flush=True)
    sys.stdin.readline()
    store.close()


MODES: dict[str, Callable[..., None]] = {
    "burst": burst,
    "bursts": bursts,
    "hold": hold,
    "write": write,
    "fill": fill,
    "outgrow": outgrow,
    "owed": owed,
    "open": keep_open,
    "read": read,
}

if __name__ == "__main__":
    MODES[sys.argv[1]](*sys.argv[2:])
