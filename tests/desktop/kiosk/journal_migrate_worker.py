"""The re-encryption of an earlier release's kiosk journal, in a process of its own, held at
one of its steps: ``python -m tests.desktop.kiosk.journal_migrate_worker STORE PASSPHRASE STEP``.

It opens the store and reads the journal as the kiosk's start does (``DecisionJournal.kept``),
which re-encrypts a journal under the store's raw key under the journal's own key. At
``STEP`` it says the step's name and waits for a line on stdin, so that a test can kill it
there (SIGKILL) as a power cut would: ``opened`` (the journal open under the store's raw
key, not yet re-encrypted), ``rekeyed`` (the re-encryption committed to the write-ahead log,
not yet checkpointed into the file). The holds are the catch spool's worker's.
"""

from __future__ import annotations

import sys
from pathlib import Path

from desktop.kiosk.journal import DecisionJournal
from sync.store import Passphrase, Store
from sync.store.database import Database
from tests.desktop.kiosk.test_kiosk_rules import QUICK
from tests.sync.spool_migrate_worker import held_after_commit, held_before


def main(store_path: str, passphrase: str, step: str) -> int:
    hold_at = held_before if step == "opened" else held_after_commit
    Database.rekey = hold_at(step, Database.rekey)  # type: ignore[method-assign]
    with Store.open(Path(store_path), Passphrase(passphrase), config=QUICK) as store:
        journal = DecisionJournal(store)
        try:
            journal.kept()
        finally:
            journal.close()
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
