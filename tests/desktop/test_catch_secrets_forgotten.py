"""What the Catch panel and the app overwrite of their secrets, and what then follows.

Review (s34): the panel held the passphrase and the spool's key as ``str`` and ``bytes``
for as long as it lived. The passphrase is now one buffer the app shares
(``AppSettings.passphrase``), overwritten when the app quits; the spool's key one buffer
the panel's store holds (``CatchStore``), overwritten when the panel closes or when the
store gives the next one. The memory scan is ``test_catch_closed_memory``; these check the
objects themselves, and that a forgotten secret is a clear refusal, never a wrong key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import main
from desktop.catch_store import CatchStore
from desktop.settings import key_source, settings_from_args
from sync.errors import KeySourceError
from sync.store import Passphrase, Store
from sync.store.env_secrets import take_secret
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.test_catch_spool_crash import QUICK
from tests.sync.conftest import FAST, REPO_ROOT


def test_the_app_shares_one_passphrase_and_forgets_it_when_it_quits(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    args = main.build_parser().parse_args(["app", "--db", str(store_path)])
    settings = settings_from_args(args, os.environ)
    assert PASSPHRASE_ENV not in settings.env, "the settings keep the passphrase as a str"
    source = key_source(settings)
    assert source is key_source(settings) and source == Passphrase(PASSPHRASE)
    assert repr(source) == "Passphrase()"
    settings.forget_secrets()  # what run_app does once the app quits
    assert isinstance(source, Passphrase) and source.forgotten
    with pytest.raises(KeySourceError, match="forgotten"):
        Store.open(store_path, source, config=FAST)


def test_the_panel_overwrites_its_spool_key_when_it_closes(store_path: Path) -> None:
    catch_store = CatchStore(store_path, Passphrase(PASSPHRASE), QUICK)
    catch_store.at_start()  # opens the store: takes the spool's key
    taken = catch_store._spool_key.value
    assert taken is not None and len(taken.key) == 32
    catch_store.flagged()  # another open: the same key, held once
    assert catch_store._spool_key.value is taken and len(taken.key) == 32
    catch_store.close()  # CatchController.stop does this
    assert catch_store._spool_key.value is None
    assert taken.key == bytearray(), "the spool's key is still in its buffer"
    assert taken.open() is None  # forgotten: never a wrong key handed to SQLCipher


_TAKES = """
import os, sys
from pathlib import Path
from sync.store.env_secrets import take_secret
held = take_secret(os.environ, "JAGA_STORE_PASSPHRASE")
print(bytes(held).decode(), "JAGA_STORE_PASSPHRASE" in os.environ,
      sys.argv[1].encode() in Path("/proc/self/environ").read_bytes())
"""


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_a_secret_taken_from_the_environment_is_overwritten_where_the_process_got_it() -> None:
    """The block at the top of the first stack that ``/proc/PID/environ`` shows."""
    secret = "a-passphrase-only-the-child-knows"
    child = subprocess.run(
        [sys.executable, "-c", _TAKES, secret], capture_output=True, text=True, check=True,
        cwd=REPO_ROOT, env={**os.environ, PASSPHRASE_ENV: secret},
    )  # fmt: skip
    assert child.stdout.split() == [secret, "False", "False"], child.stdout


def test_a_secret_taken_from_a_mapping_leaves_other_names_alone() -> None:
    env = {PASSPHRASE_ENV: "pass phrase", "HOME": "/home/ana"}
    assert take_secret(env, PASSPHRASE_ENV) == bytearray(b"pass phrase")
    assert env == {"HOME": "/home/ana"} and take_secret(env, PASSPHRASE_ENV) is None
