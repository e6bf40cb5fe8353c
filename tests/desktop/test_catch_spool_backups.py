"""``jaga store backup`` and ``restore`` and the catches the Catch panel keeps for Retry
beside the store (refused by it, so in neither the store nor its backups): a backup says
plainly that it leaves them out, and a restore keeps them for the restored store, opening
with its key even when the replaced store's key was another; a Retry records each once.

Review 15 (spool, 2): both ignored the spool, and after a restore under another key the
kept catches opened only with the replaced store's passphrase.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import sync.cli
from desktop.catch_store import CatchStore
from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV, REPLACED_PASSPHRASE_ENV
from sync.store.pending_catches import spool_path
from sync.store.spool_kdf import spool_key_from
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.rekey_worker import NEW_PASSPHRASE
from tests.desktop.test_catch_spool_crash import QUICK, counts
from tests.desktop.test_catch_spool_keys import keep_one


def jaga(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="jaga")
    sync.cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def test_a_backup_says_it_leaves_out_the_catches_kept_for_retry(
    store_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    keep_one(store_path, tmp_path)
    assert jaga("store", "backup", "--db", str(store_path), str(tmp_path / "backup.db")) == 0
    said = capsys.readouterr().out
    assert "NOT IN THIS BACKUP: 1 catch the Catch panel keeps for Retry" in said, said
    assert spool_path(store_path).name in said


def test_store_info_counts_the_catches_kept_for_retry(
    store_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """They are the officer's catches, not yet in the store: `store info` says how many."""
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    assert jaga("store", "info", "--db", str(store_path)) == 0
    assert "for Retry    none" in capsys.readouterr().out
    keep_one(store_path, tmp_path)
    assert jaga("store", "info", "--db", str(store_path)) == 0
    said = capsys.readouterr().out
    assert "for Retry    1 catch the Catch panel keeps, not in the store yet" in said, said


def test_a_restore_keeps_the_catches_kept_for_retry_under_the_restored_key(
    store_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The key changed since the backup: the kept catch moves to the backup's key."""
    backup = tmp_path / "backup.db"
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    assert jaga("store", "backup", "--db", str(store_path), str(backup)) == 0
    with Store.open(store_path, Passphrase(PASSPHRASE), config=QUICK) as store:
        store.change_key(Passphrase(NEW_PASSPHRASE), operator="test")
    catch = keep_one(store_path, tmp_path, NEW_PASSPHRASE)
    monkeypatch.setenv(REPLACED_PASSPHRASE_ENV, NEW_PASSPHRASE)
    assert jaga("store", "restore", "--db", str(store_path), str(backup), "--force") == 0
    restored = CatchStore(store_path, Passphrase(PASSPHRASE), QUICK)
    (kept,) = restored.pending()  # with the restored store's passphrase
    assert kept.uid == catch.uid
    said = capsys.readouterr().out
    assert "kept 1 catch the Catch panel keeps for Retry" in said, said
    restored.record(kept)
    assert counts(store_path) == (1, 1) and restored.pending() == []
    name = spool_path(store_path).name
    beside = sorted(p.name for p in store_path.parent.iterdir() if name in p.name)
    assert beside == [name, f"{name}.kdf.json"]


def test_store_info_on_a_spool_killed_before_its_table_counts_none(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``open_spool`` makes the file under the spool's key, then its table: a kill between
    left a spool that opens but holds no table, so no catch. `store info` said so with a raw
    sqlcipher3 OperationalError (review r2 device, 7); the Catch panel makes the table."""
    from sync.store.database import Database

    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    with Store.open(store_path, Passphrase(PASSPHRASE)) as store:
        key, config = spool_key_from(store.key), store.database.config
    Database.open(spool_path(store_path), key, config, create=True).close()
    assert jaga("store", "info", "--db", str(store_path)) == 0
    assert "for Retry    none" in capsys.readouterr().out
