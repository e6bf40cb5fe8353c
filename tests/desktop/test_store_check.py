"""The app's store check and settings: the CLI's conventions, and a clear word for each case."""

from __future__ import annotations

from pathlib import Path

import pytest

import main
from desktop.settings import LOCKED_MESSAGE, AppSettings, key_source, settings_from_args
from desktop.store_check import CheckResult, check_store
from sync.store import KeyFile, Passphrase, Store, create_key_file
from sync.store.cli import STORE_PATH_ENV
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.sync.client.fakehub import SITE, registration
from tests.sync.client.units import observations
from tests.sync.conftest import FAST


def settings(path: Path, env: dict[str, str], key_file: Path | None = None) -> AppSettings:
    return AppSettings(path, key_file, env, store_config=FAST)


def test_jaga_app_takes_the_stores_own_options(tmp_path: Path) -> None:
    args = main.build_parser().parse_args(
        ["app", "--db", str(tmp_path / "s.db"), "--key-file", str(tmp_path / "k")]
    )
    made = settings_from_args(args, {PASSPHRASE_ENV: "unused"})
    assert made.store_path == tmp_path / "s.db"
    assert made.key_file == tmp_path / "k"
    assert isinstance(key_source(made), KeyFile)  # the key file wins over the environment
    assert "unused" not in repr(made)  # the environment holds secrets: never in a repr


def test_without_db_the_app_uses_the_clis_store_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORE_PATH_ENV, str(tmp_path / "from-env.db"))
    made = settings_from_args(main.build_parser().parse_args(["app"]), {})
    assert made.store_path == tmp_path / "from-env.db"
    assert made.sync_interval_s == 60.0


@pytest.mark.parametrize("interval", ["0", "-5", "nan", "inf", "soon"])
def test_a_bad_sync_interval_is_a_usage_error(interval: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main.build_parser().parse_args(["app", "--sync-interval", interval])
    assert exit_info.value.code == 2


def test_no_key_is_a_locked_store_not_a_prompt_or_a_crash(store_path: Path) -> None:
    check = check_store(settings(store_path, {}))
    assert check.result is CheckResult.LOCKED
    assert check.message == LOCKED_MESSAGE
    assert PASSPHRASE_ENV in check.message and "--key-file" in check.message


def test_a_wrong_passphrase_is_locked_and_says_so(store_path: Path) -> None:
    check = check_store(settings(store_path, {PASSPHRASE_ENV: "not it"}))
    assert check.result is CheckResult.LOCKED
    assert check.message.startswith("store locked: ")
    assert "passphrase" in check.message


def test_a_missing_store_names_the_command_that_makes_one(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "jaga.db"
    check = check_store(settings(path, {PASSPHRASE_ENV: PASSPHRASE}))
    assert check.result is CheckResult.UNAVAILABLE
    assert f"jaga store init --db {path}" in check.message
    assert not path.exists()  # a check creates nothing


def test_an_unregistered_store_names_the_register_command(store_path: Path) -> None:
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        observations(store, 3)
    check = check_store(settings(store_path, {PASSPHRASE_ENV: PASSPHRASE}))
    assert check.result is CheckResult.NOT_REGISTERED
    assert check.message == f"not registered: run `jaga sync register --hub URL --db {store_path}`"
    assert check.status is not None and dict(check.status.outbox)["queued"] == 3


def test_a_registered_store_is_ready_to_sync(registered_store: Path) -> None:
    check = check_store(settings(registered_store, {PASSPHRASE_ENV: PASSPHRASE}))
    assert check.result is CheckResult.REGISTERED
    assert check.config is not None and check.config.registration == registration()
    assert SITE in check.message and "http://hub.test" in check.message
    assert registration().token not in check.message + repr(check)


def test_a_key_file_opens_a_store_made_with_one(tmp_path: Path) -> None:
    key = tmp_path / "store.key"
    create_key_file(key)
    path = tmp_path / "jaga.db"
    Store.create(path, KeyFile(key), config=FAST).close()
    check = check_store(settings(path, {}, key_file=key))
    assert check.result is CheckResult.NOT_REGISTERED


def test_a_missing_key_file_is_a_locked_store_that_names_it(tmp_path: Path) -> None:
    key, missing = tmp_path / "store.key", tmp_path / "moved.key"
    create_key_file(key)
    path = tmp_path / "jaga.db"
    Store.create(path, KeyFile(key), config=FAST).close()
    check = check_store(settings(path, {}, key_file=missing))
    assert check.result is CheckResult.LOCKED
    assert check.message.startswith("store locked: ") and str(missing) in check.message


def test_a_key_file_for_a_passphrase_store_is_a_locked_store(store_path: Path) -> None:
    key = store_path.parent / "store.key"
    create_key_file(key)
    check = check_store(settings(store_path, {}, key_file=key))
    assert check.result is CheckResult.LOCKED
    assert check.message == "store locked: this store is opened with a passphrase, not a key file"
