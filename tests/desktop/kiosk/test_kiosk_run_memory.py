"""What a running ``jaga kiosk run`` holds of its secrets while its frames run: days on a
device someone could steal or dump.

Review (s35): the run took the passphrase from the environment into its one buffer
(``sync.store.key_sources``) and held it until it exited, though nothing of the run needs
it once the store is open (the kiosk's journal opens under a key derived from the store's,
never the passphrase; a key change needs the kiosk stopped); and it held the hub's token,
given in the environment, as ``str`` in ``args.env`` for as long, though the kiosk only
reads it (``kiosk_identity``) as the store opens.

A real ``jaga kiosk run`` process, the real face models on the CPU, a real video (30 s, far
longer than the test waits), a real store with a random passphrase in its environment,
with the token: once it has printed the decision an earlier run left waiting (printed with
its first frame), it is stopped (SIGSTOP: nothing is faked, the process is only paused),
its memory read through ``/proc/PID/mem`` (``tests.process_memory``), then it is let go and
stopped by SIGTERM.

The store's raw key is not asserted absent, and cannot be: SQLCipher holds it while the
store is open (its cipher context), and so does the ``Store`` (``Store.key``: the kiosk's
journal is opened with it when a decision first waits for a busy store, which may be at any
frame). The scan cannot tell that copy from SQLCipher's by their bytes alone; it found one
(s35), a Python ``bytes`` by the header before it (a size of 32, a hash not yet computed):
the ``Store``'s. So it shows that the key's hex digits (the ``PRAGMA key`` text) are gone,
and that the key is in one place at most; not that SQLCipher holds no copy of it in a form
the scan does not look for (its AES key schedule, say).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inference.pack.installed import ModelPack
from sync.client.config import TOKEN_ENV
from sync.store import AccessEvent, Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.kiosk.conftest import webcam, write_video
from tests.process_memory import find_in_memory
from tests.sync.conftest import FAST

pytestmark = [
    pytest.mark.needs_shared,
    pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs /proc"),
]
REPO = Path(__file__).resolve().parents[3]


def store_with_a_decision_waiting(path: Path, passphrase: str) -> tuple[bytes, AccessEvent]:
    """A store under ``passphrase``, its raw key (as the store derives it: opened), and a
    decision an earlier run left in the kiosk's journal, which the run prints with its first
    frame: the line the test waits for."""
    from desktop.kiosk.journal import DecisionJournal

    Store.create(path, Passphrase(passphrase), config=FAST).close()
    earlier = AccessEvent(datetime.now(UTC), "front-gate", "k1", "spoof_detected", None, None, 0.1)
    with Store.open(path, Passphrase(passphrase), config=FAST) as store:
        key = store.key  # held here: the close leaves it as it is
        journal = DecisionJournal(store)
        journal.keep([earlier])
        journal.close()
    return key, earlier


def test_a_running_kiosk_holds_neither_the_passphrase_nor_the_token(
    tmp_path: Path, model_pack: ModelPack
) -> None:
    passphrase = secrets.token_urlsafe(24)  # in no source file: the run's environment only
    token = "tok-" + secrets.token_hex(20)
    store_path = tmp_path / "jaga.db"
    key, earlier = store_with_a_decision_waiting(store_path, passphrase)
    video = write_video(webcam("live", 10, 100) * 3, tmp_path / "gate.avi")  # 30 s
    env = os.environ | {PASSPHRASE_ENV: passphrase, TOKEN_ENV: token,
                        "JAGA_MODELS_DIR": str(model_pack.root)}  # fmt: skip
    command = [sys.executable, "-m", "main", "kiosk", "run", str(video), "--site", "front-gate",
               "--device", "k1", "--providers", "cpu", "--threads", "1",
               "--db", str(store_path)]  # fmt: skip
    needles = {
        "passphrase": passphrase.encode(),
        "token": token.encode(),
        "store key (raw)": key,
        "store key (hex)": key.hex().encode(),
        "store key (HEX)": key.hex().upper().encode(),
    }
    kiosk = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert kiosk.stdout is not None
        first = kiosk.stdout.readline()  # the earlier run's decision, with the first frame
        assert json.loads(first)["event_uid"] == earlier.event_uid, first
        kiosk.send_signal(signal.SIGSTOP)  # paused between two reads of its memory's maps
        try:
            found = find_in_memory(kiosk.pid, needles)
        finally:
            kiosk.send_signal(signal.SIGCONT)
        kiosk.send_signal(signal.SIGTERM)
        _rest, err = kiosk.communicate(timeout=300)
    finally:
        if kiosk.poll() is None:
            kiosk.kill()
            kiosk.wait()
    assert kiosk.returncode == 143, f"exit status {kiosk.returncode}; stderr: {err}"
    everything = [str(f) for f in found]
    held = [str(f) for f in found if f.needle in ("passphrase", "token")]
    assert not held, f"the running kiosk holds its secrets: {held} (all found: {everything})"
    digits = [str(f) for f in found if f.needle in ("store key (hex)", "store key (HEX)")]
    assert not digits, f"the store key's hex digits are in the running kiosk: {digits}"
    raw = [f for f in found if f.needle == "store key (raw)"]
    assert len(raw) <= 1, f"more copies of the store's key than the Store's: {everything}"
