"""``jaga store rekey``'s key change in a process of its own, held at one of its steps:
``python -m tests.desktop.rekey_worker STORE STEP [FILE]`` (``prepared``: the spool's copy
under the new key is written, the store not yet re-encrypted; ``rekeyed``: the store has the
new key, the spool's copy is not yet in place). At that step it says the step's name and
waits for a line on stdin, so that a test can kill it there (SIGKILL) as a power cut would.
``FILE`` ``journal``: the steps are the kiosk journal's copy's instead of the spool's.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync.store import Passphrase, Store, StoreConfig, kiosk_journal, pending_catches
from tests.desktop.passphrases import PASSPHRASE

NEW_PASSPHRASE = "a new passphrase, typed twice"
FAST = StoreConfig(busy_timeout_s=5.0, scrypt_n=2**10)


def held(step: str, before: bool, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        def hold() -> None:
            print(step, flush=True)
            sys.stdin.readline()

        if before:
            hold()
        result = function(*args, **kwargs)
        if not before:
            hold()
        return result

    return run


def main(store_path: str, step: str, file: str = "spool") -> int:
    moved: Any = kiosk_journal if file == "journal" else pending_catches
    if step == "prepared":
        moved.prepare_key_change = held(step, False, moved.prepare_key_change)
    else:
        moved.finish_key_change = held(step, True, moved.finish_key_change)
    with Store.open(Path(store_path), Passphrase(PASSPHRASE), config=FAST) as store:
        store.change_key(Passphrase(NEW_PASSPHRASE), operator="test")
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
