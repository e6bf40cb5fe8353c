"""What the Catch panel leaves of its secrets in memory while it runs, and once it is closed
and the app quits.

Review (s32): a scan of the panel's memory after its start and a Record found the store's
key still there, though no live object held it: freed, never overwritten. Python's copies
(scrypt's output, its hex digits, the ``PRAGMA key`` text and the statement cache holding
it) are overwritten once nothing holds them (``sync.store.key_memory``); SQLite's (its
parser's, the prepared statement's) by SQLCipher's memory security, on for every process
that opens a store.

Review (s34): the panel held the store's passphrase and the spool's key for as long as it
lived, as ``str`` and ``bytes`` (immutable: their copies linger once freed), and each
open of the spool derived the spool's key again and let it go as it was. A real worker
process (``tests.desktop.catch_closed_memory_worker``) runs the panel's start and a Record
on a real store, the passphrase in its environment as the app is started, then closes the
panel and quits as the window does; this test then reads its memory through
``/proc/PID/mem`` (``tests.process_memory``).

It shows that, while the panel runs, the store's key is in no readable mapping and the
passphrase and the spool's key are each in one place (their buffers), and that once it is
closed none of them is in any readable mapping of the process, as raw bytes or hex: the
environment's copies included (the one the process was started with, at the top of its
stack, is overwritten there).
It does not show that no secret was ever swapped out, nor what OpenSSL's scrypt and HMAC
kept (none was found).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from sync.store.spool_kdf import spool_key_from
from tests.inference.fish.test_images import grey_png
from tests.process_memory import find_in_memory
from tests.sync.conftest import FAST, REPO_ROOT

pytestmark = pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs /proc")


@dataclass(frozen=True)
class PanelStore:
    path: Path
    passphrase: str
    key: bytes  # the store's key, as the worker will derive it
    photo: Path


def panel_store(folder: Path) -> PanelStore:
    passphrase = secrets.token_urlsafe(24)  # in no source file: the worker's environment only
    path = folder / "jaga.db"
    Store.create(path, Passphrase(passphrase), config=FAST).close()
    with Store.open(path, Passphrase(passphrase), config=FAST) as store:
        key = store.key
    photo = folder / "deck.png"
    photo.write_bytes(grey_png(64, 48))
    return PanelStore(path, passphrase, key, photo)


def start_worker(module: str, panel: PanelStore) -> subprocess.Popen[str]:
    """``module`` run on the store and photo, talking line by line on its stdin and stdout."""
    worker = subprocess.Popen(
        [sys.executable, "-m", module, str(panel.path), str(panel.photo)],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, PASSPHRASE_ENV: panel.passphrase},
    )  # fmt: skip
    assert worker.stdout is not None and worker.stdin is not None
    return worker


def key_forms(name: str, key: bytes) -> dict[str, bytes]:
    """The forms a key is copied in: raw (scrypt's output), and hex (the PRAGMA's text)."""
    return {f"{name} (raw)": key, f"{name} (hex)": key.hex().encode(),
            f"{name} (HEX)": key.hex().upper().encode()}  # fmt: skip


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
    stale = [str(f) for f in running if f.needle.startswith("store key")]
    assert not stale, f"the store's key is in the running panel's memory: {stale}"
    # While the panel runs, each is held once, in its buffer: the scan sees them.
    held = sorted(f.needle for f in running)
    assert held == ["passphrase", "spool key (raw)"], [str(f) for f in running]
    left = [str(f) for f in found]
    assert not left, f"the panel's secrets are still in its memory once closed: {left}"
