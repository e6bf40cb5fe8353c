"""What the Catch panel leaves of the store's key in its memory, read by another process.

Review (s32, spool's own key): a scan of the panel's memory after its start and a Record
found the store's key still there, though no live object held it: freed, never
overwritten. Python's copies (scrypt's output, its hex digits, the ``PRAGMA key`` text and
the statement cache holding it) are overwritten once nothing holds them
(``sync.store.key_memory``); SQLite's (its parser's, the prepared statement's) by
SQLCipher's memory security, on for every process that opens a store. A real worker
process runs the panel's start and a Record on a real store, with the passphrase in its
environment as the app is started; this test reads the worker's memory through
``/proc/PID/mem`` (``tests.process_memory``) while it waits, the panel still running.

It shows the store's key is in no readable mapping at that moment, as raw bytes or hex.
It does not show memory clean of every secret: the panel holds the spool's key by design
(found, as a check that the scan sees the process's objects) while it runs; what is left
of it and of the passphrase once the panel is closed is ``test_catch_closed_memory``'s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.store.spool_kdf import spool_key_from
from tests.desktop.catch_memory import key_forms, panel_store, start_worker
from tests.process_memory import find_in_memory

pytestmark = pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs /proc")


def test_the_stores_key_is_not_in_the_panels_memory_after_a_record(tmp_path: Path) -> None:
    panel = panel_store(tmp_path)
    worker = start_worker("tests.desktop.key_memory_worker", panel)
    assert worker.stdout is not None and worker.stdin is not None
    try:
        assert worker.stdout.readline().strip() == "done"
        needles = key_forms("store key", panel.key) | key_forms(
            "spool key", spool_key_from(panel.key)
        )
        found = find_in_memory(worker.pid, needles)
        worker.stdin.write("\n")
        worker.stdin.flush()
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=60)
    assert any(f.needle.startswith("spool key") for f in found), "the scan saw nothing held"
    stale = [str(f) for f in found if f.needle.startswith("store key")]
    assert not stale, f"the store's key is still in the panel's memory: {stale}"
