"""What the Catch panel leaves of its secrets in memory once it is closed and the app quits.

Review (s34): the panel held the store's passphrase and the spool's key for as long as it
lived, as ``str`` and ``bytes`` (immutable: their copies linger once freed), and each
open of the spool derived the spool's key again and let it go as it was. A real worker
process (``tests.desktop.catch_closed_memory_worker``) runs the panel's start and a Record
on a real store, the passphrase in its environment as the app is started, then closes the
panel and quits as the window does; this test then reads its memory through
``/proc/PID/mem`` (``tests.process_memory``).

It shows that, while the panel runs, the passphrase and the spool's key are each in one
place (their buffers), and that once it is closed neither (nor the store's key) is in any
readable mapping of the process, as raw bytes or hex: the environment's copies included
(the one the process was started with, at the top of its stack, is overwritten there).
It does not show that no secret was ever swapped out, nor what OpenSSL's scrypt and HMAC
kept (none was found).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.store.spool_kdf import spool_key_from
from tests.desktop.catch_memory import key_forms, panel_store, start_worker
from tests.process_memory import find_in_memory

pytestmark = pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs /proc")


def test_no_secret_of_the_panel_is_in_memory_once_it_is_closed(tmp_path: Path) -> None:
    panel = panel_store(tmp_path)
    worker = start_worker("tests.desktop.catch_closed_memory_worker", panel)
    assert worker.stdout is not None and worker.stdin is not None
    needles = (
        {"passphrase": panel.passphrase.encode()}
        | key_forms("spool key", spool_key_from(panel.key))
        | key_forms("store key", panel.key)
    )
    try:
        assert worker.stdout.readline().strip() == "running"
        running = find_in_memory(worker.pid, needles)
        worker.stdin.write("\n")
        worker.stdin.flush()
        assert worker.stdout.readline().strip() == "done"
        found = find_in_memory(worker.pid, needles)
        worker.stdin.write("\n")
        worker.stdin.flush()
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=60)
    # While the panel runs, each is held once, in its buffer: the scan sees them.
    held = sorted(f.needle for f in running)
    assert held == ["passphrase", "spool key (raw)"], [str(f) for f in running]
    left = [str(f) for f in found]
    assert not left, f"the panel's secrets are still in its memory once closed: {left}"
