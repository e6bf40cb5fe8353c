"""What a command that runs on after opening its store forgets (``jaga kiosk run``,
``desktop.kiosk.forget``): the passphrase it opened it with, every one taken from the
environment, and the hub's token taken with them. The running process itself is scanned by
``tests/desktop/kiosk/test_kiosk_run_memory.py``; these are the two calls' edges."""

from __future__ import annotations

from pathlib import Path

from sync.client.config import TOKEN_ENV, forget_token, take_token
from sync.store import Passphrase, key_sources
from sync.store.key_sources import (
    NEW_PASSPHRASE_ENV,
    PASSPHRASE_ENV,
    environment_passphrase,
    forget_passphrase,
    take_passphrases,
)
from sync.store.keys import KeyFile


def test_forgetting_overwrites_the_passphrase_given_and_every_one_taken() -> None:
    take_passphrases({PASSPHRASE_ENV: "taken one", NEW_PASSPHRASE_ENV: "taken two"})
    given = Passphrase("prompted")
    forget_passphrase(given)
    assert given.forgotten, "the passphrase the store was opened with was not overwritten"
    assert environment_passphrase({}, PASSPHRASE_ENV) is None
    assert key_sources._taken == {}, "a passphrase taken from the environment is still held"


def test_a_key_file_leaves_only_the_taken_passphrases_to_forget(tmp_path: Path) -> None:
    take_passphrases({PASSPHRASE_ENV: "taken one"})
    held = key_sources._taken[PASSPHRASE_ENV]
    forget_passphrase(KeyFile(tmp_path / "store.key"))  # a path: nothing secret in it
    assert held.forgotten and key_sources._taken == {}


def test_forgetting_the_token_takes_it_out_of_the_commands_settings() -> None:
    env = take_token({TOKEN_ENV: "jaga_a-token", "JAGA_SITE": "front-gate"})
    forget_token(env)
    assert TOKEN_ENV not in env
    assert env["JAGA_SITE"] == "front-gate", "the other settings go with it"


def test_a_mapping_take_token_did_not_make_is_left_as_it_is() -> None:
    settings = {TOKEN_ENV: "jaga_the-apps-settings-token"}  # the app's: not this process's copy
    forget_token(settings)
    assert settings == {TOKEN_ENV: "jaga_the-apps-settings-token"}
