"""The CLI takes the store's passphrases (and ``jaga kiosk``, the hub's token) out of its
environment: no process a command starts inherits them, and ``/proc/PID/environ`` no
longer shows them.

Review (s34): the app did so, but ``jaga store``, ``jaga sync``, ``jaga catch`` and
``jaga kiosk`` read ``$JAGA_STORE_PASSPHRASE`` (and ``_NEW_``, ``_REPLACED_``) as plain text
and left it in ``os.environ``; ``jaga kiosk run``, a long unattended process, left the
token there too. Each case runs ``main`` in a child process that then reads its own
environment, as ``test_catch_secrets_forgotten`` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sync.client.config import TOKEN_ENV
from sync.store import Passphrase, Store
from sync.store.key_sources import (
    NEW_PASSPHRASE_ENV,
    PASSPHRASE_ENV,
    PASSPHRASE_VARIABLES,
    REPLACED_PASSPHRASE_ENV,
    environment_passphrase,
)
from tests.sync.conftest import FAST

REPO = Path(__file__).resolve().parents[1]
SECRETS = {
    PASSPHRASE_ENV: "the-store-passphrase-only-the-child-has",
    NEW_PASSPHRASE_ENV: "a-new-passphrase-only-the-child-has",
    REPLACED_PASSPHRASE_ENV: "a-replaced-passphrase-only-the-child-has",
}
TOKEN = "jaga_a-token-only-the-child-has"

# Runs `jaga` with the arguments given, then says which secrets its environment still
# holds: in os.environ (what a child inherits), and in /proc/self/environ.
_AFTER_MAIN = """
import json, os, sys
from pathlib import Path
from main import main
secrets = json.loads(sys.argv[1])
status = main(sys.argv[2:])
shown = Path("/proc/self/environ").read_bytes()
print(json.dumps({"status": status,
                  "environ": sorted(n for n in secrets if n in os.environ),
                  "proc": sorted(n for n, v in secrets.items() if v.encode() in shown)}))
"""

# `jaga kiosk run` up to the kiosk's start, which is probed rather than run (no models, no
# camera): what the environment holds while the kiosk would run, and what it is handed.
_KIOSK_RUN = """
import contextlib, json, os, sys
from pathlib import Path
import desktop.kiosk.assemble
from desktop.kiosk.errors import KioskError
from main import main
secrets = json.loads(sys.argv[1])
seen = {}

def probe(store_path, key_source, options, env):
    shown = Path("/proc/self/environ").read_bytes()
    seen.update(environ=sorted(n for n in secrets if n in os.environ),
                proc=sorted(n for n, v in secrets.items() if v.encode() in shown),
                token_handed=env.get("JAGA_SYNC_TOKEN") == secrets["JAGA_SYNC_TOKEN"],
                key=key_source.revealed().__enter__() == secrets["JAGA_STORE_PASSPHRASE"])
    raise KioskError("probed")

desktop.kiosk.assemble.open_kiosk = probe
main(sys.argv[2:])
print(json.dumps(seen))
"""

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/environ").exists(), reason="reads /proc/self/environ"
)


def _child(script: str, secrets: dict[str, str], *argv: str) -> dict[str, object]:
    child = subprocess.run(
        [sys.executable, "-c", script, json.dumps(secrets), *argv],
        capture_output=True, text=True, check=True, cwd=REPO,
        env={**os.environ, **secrets},
    )  # fmt: skip
    result: dict[str, object] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "jaga.db"
    Store.create(path, Passphrase(SECRETS[PASSPHRASE_ENV]), config=FAST).close()
    return path


@needs_proc
def test_a_store_command_leaves_no_passphrase_in_its_environment(store_path: Path) -> None:
    seen = _child(_AFTER_MAIN, SECRETS, "store", "info", "--db", str(store_path))
    assert seen["status"] == 0, seen  # the passphrase was read: the store opened
    assert seen["environ"] == [], f"a child of `jaga store info` inherits {seen['environ']}"
    assert seen["proc"] == [], f"/proc/PID/environ still shows {seen['proc']}"


@needs_proc
def test_a_key_file_command_takes_the_passphrases_it_does_not_read(tmp_path: Path) -> None:
    key_file = tmp_path / "jaga.key"
    db = str(tmp_path / "jaga.db")
    argv = ("store", "init", "--db", db, "--key-file", str(key_file), "--create-key-file")
    seen = _child(_AFTER_MAIN, SECRETS, *argv)
    assert seen["status"] == 0, seen
    assert seen["environ"] == [], f"a child of `jaga store init` inherits {seen['environ']}"
    assert seen["proc"] == [], f"/proc/PID/environ still shows {seen['proc']}"


@needs_proc
def test_kiosk_run_holds_neither_passphrase_nor_token_in_its_environment(
    tmp_path: Path,
) -> None:
    import cv2

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    for _ in range(2):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    secrets = {**SECRETS, TOKEN_ENV: TOKEN}
    argv = ("kiosk", "run", str(video), "--db", str(tmp_path / "jaga.db"), "--site", "gate")
    seen = _child(_KIOSK_RUN, secrets, *argv)
    assert seen["key"] is True and seen["token_handed"] is True, seen  # read, then taken
    assert seen["environ"] == [], f"a child of `jaga kiosk run` inherits {seen['environ']}"
    assert seen["proc"] == [], f"/proc/PID/environ still shows {seen['proc']}"


@needs_proc
@pytest.mark.parametrize("command", ["store", "catch"])
def test_a_command_that_does_not_read_the_token_takes_it_out_too(
    store_path: Path, tmp_path: Path, command: str
) -> None:
    """Review (s35): only ``jaga sync`` and ``jaga kiosk``, which read the token, took it;
    ``jaga store`` and ``jaga catch`` left it for every process they start. ``main`` takes
    it for every command but the app (whose settings take it), as it takes the passphrases."""
    argv = {
        "store": ("store", "info", "--db", str(store_path)),
        "catch": ("catch", str(tmp_path / "no-such-photo.jpg"), "--officer", "Ana Lima",
                  "--db", str(store_path)),
    }[command]  # fmt: skip
    seen = _child(_AFTER_MAIN, {**SECRETS, TOKEN_ENV: TOKEN}, *argv)
    assert seen["environ"] == [], f"a child of `jaga {command}` inherits {seen['environ']}"
    assert seen["proc"] == [], f"/proc/PID/environ still shows {seen['proc']}"


def test_every_reader_of_a_variable_gets_the_one_passphrase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, secret in SECRETS.items():
        monkeypatch.setenv(name, secret)
    first = environment_passphrase(os.environ, PASSPHRASE_ENV)
    assert not [name for name in PASSPHRASE_VARIABLES if name in os.environ]
    assert first == Passphrase(SECRETS[PASSPHRASE_ENV])
    assert environment_passphrase(os.environ, PASSPHRASE_ENV) is first  # not a copy each
    assert environment_passphrase(os.environ, NEW_PASSPHRASE_ENV) == Passphrase(
        SECRETS[NEW_PASSPHRASE_ENV]
    )


def test_a_mapping_not_the_environment_is_read_and_left_as_it_was() -> None:
    env = {PASSPHRASE_ENV: "pass phrase"}
    assert environment_passphrase(env, PASSPHRASE_ENV) == Passphrase("pass phrase")
    assert env == {PASSPHRASE_ENV: "pass phrase"}
