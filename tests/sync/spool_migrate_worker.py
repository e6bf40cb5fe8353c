"""The re-encryption of an earlier release's catch spool, in a process of its own, held at
one of its steps: ``python -m tests.sync.spool_migrate_worker STORE PASSPHRASE STEP``.

It opens the store and its spool with the store's key (``open_spool``, as the Catch panel
does at its start), which re-encrypts a spool under the store's raw key under the spool's
key. At ``STEP`` it says the step's name and waits for a line on stdin, so that a test can
kill it there (SIGKILL) as a power cut would: ``opened`` (the spool open under the store's
raw key, not yet re-encrypted), ``rekeyed`` (the re-encryption committed to the write-ahead
log, not yet checkpointed into the file).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync.store import Passphrase, Store
from sync.store.database import Database
from sync.store.pending_catches import open_spool
from tests.sync.conftest import FAST


def hold(step: str) -> None:
    print(step, flush=True)
    sys.stdin.readline()


def held_before(step: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        hold(step)
        return function(*args, **kwargs)

    return run


def held_after_commit(step: str, rekey: Callable[..., Any]) -> Callable[..., Any]:
    """``Database.rekey`` checkpoints before its PRAGMA and after its commit: held at the
    second, the re-encrypted pages are in the write-ahead log only."""

    @functools.wraps(rekey)
    def run(database: Database, key: bytes) -> Any:
        checkpoint = database.checkpoint
        calls = 0

        def held_checkpoint() -> bool:
            nonlocal calls
            calls += 1
            if calls == 2:
                hold(step)
            return checkpoint()

        database.checkpoint = held_checkpoint  # type: ignore[method-assign]  # this one only
        try:
            return rekey(database, key)
        finally:
            del database.checkpoint

    return run


def main(store_path: str, passphrase: str, step: str) -> int:
    hold_at = held_before if step == "opened" else held_after_commit
    Database.rekey = hold_at(step, Database.rekey)  # type: ignore[method-assign]
    path = Path(store_path)
    with Store.open(path, Passphrase(passphrase), config=FAST) as store:
        open_spool(path, store.key, store.header.current, None, FAST).close()
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
