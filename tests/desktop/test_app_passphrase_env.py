"""The app takes the store's passphrase out of its environment once it has read it.

Review (s32, spool's own key): a scan of the Catch panel's memory found the passphrase in
the environment as well as in the panel. The settings keep their copy (every part of the
app opens the store with it); ``os.environ`` no longer holds it, so a process the app
starts does not inherit it, and a crash report or a library that dumps the environment
does not show it; since s34 its copies there (``/proc/PID/environ``'s among them) are
overwritten as it is taken, and what the app holds is one buffer
(``test_catch_closed_memory``).
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
from sync.client.config import TOKEN_ENV
from sync.store import Passphrase
from sync.store.key_sources import PASSPHRASE_ENV, PASSPHRASE_VARIABLES
from tests.desktop.conftest import PASSPHRASE
from tests.sync.conftest import FAST


def test_the_passphrase_leaves_the_environment_once_the_app_has_read_it(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PASSPHRASE_VARIABLES:
        monkeypatch.setenv(name, PASSPHRASE)
    args = main.build_parser().parse_args(["app", "--db", str(store_path)])
    settings = settings_from_args(args, os.environ)
    left = [name for name in PASSPHRASE_VARIABLES if name in os.environ]
    assert not left, f"the passphrase is still in os.environ: {left}"
    child = subprocess.run(
        [sys.executable, "-c", f"import os; print({PASSPHRASE_ENV!r} in os.environ)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert child.stdout.strip() == "False", "a process the app starts inherits the passphrase"
    assert key_source(settings) == Passphrase(PASSPHRASE)  # the settings still have it
    catch_store = CatchStore.of(settings)
    assert catch_store is not None
    CatchStore(catch_store.path, catch_store.source, FAST).at_start()  # and open the store


def test_an_environment_without_a_passphrase_is_left_as_it_was(tmp_path: Path) -> None:
    env = {"JAGA_HUB_URL": "http://hub.test", "HOME": str(tmp_path)}
    args = main.build_parser().parse_args(["app", "--db", str(tmp_path / "s.db")])
    settings = settings_from_args(args, env)
    assert env == {"JAGA_HUB_URL": "http://hub.test", "HOME": str(tmp_path)}
    assert settings.env == env and key_source(settings) is None


def test_the_sync_token_leaves_the_environment_once_the_app_has_read_it(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review (s34): the hub's token stayed in ``os.environ``, for every child to inherit."""
    monkeypatch.setenv(TOKEN_ENV, "jaga_token")
    args = main.build_parser().parse_args(["app", "--db", str(store_path)])
    settings = settings_from_args(args, os.environ)
    assert TOKEN_ENV not in os.environ, "the sync token is still in os.environ"
    assert settings.env[TOKEN_ENV] == "jaga_token"  # what the app's sync reads
