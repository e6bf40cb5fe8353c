"""The Catch panel's Retry of the catches kept in the spool, in a process of its own:
``python -m tests.desktop.spool_worker STORE [PASSPHRASE]``.

It reads the kept catches as the panel's next start does (``CatchStore.pending``), says
``read`` and retries each (``CatchStore.record``) with a patient busy timeout. A Retry keeps
its catch in the spool again first; when the store is about to write it, the worker says
``writing`` and waits for a line on stdin: a test that then holds the spool's write lock
lets the store commit the catch and keeps the spool's entry from being deleted, the moment
at which it kills this process (SIGKILL) as an out-of-memory kill or a power cut would.
"""

from __future__ import annotations

import sys
from pathlib import Path

from desktop.catch_store import CatchStore
from sync.store import Passphrase, StoreConfig
from tests.desktop.passphrases import PASSPHRASE
from tests.desktop.record_kill_worker import hold_before_the_store_writes

PATIENT = StoreConfig(busy_timeout_s=60.0, scrypt_n=2**10)


def main(store_path: str, passphrase: str = PASSPHRASE) -> int:
    store = CatchStore(Path(store_path), Passphrase(passphrase), PATIENT)
    kept = store.pending()
    print("read", flush=True)
    hold_before_the_store_writes()
    for catch in kept:
        store.record(catch)
    print("retried", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
