"""``jaga store rekey`` to the key the store already has is refused, one line, exit 1, and
the store is left as it was: the operator meant another key and would believe it changed.
Run as an operator runs it, the real command in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sync.store import Passphrase, Store, create_key_file
from sync.store import keys as store_keys
from tests.sync.conftest import FAST
from tests.sync.test_store_keys import folder_state

REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "the store's passphrase"
FAST_KDF = ("--scrypt-log2n", "10")  # FAST's cost, the cost the store was made with


def jaga(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    variables = {name: value for name, value in os.environ.items()
                 if not name.startswith("JAGA_STORE")} | env  # fmt: skip
    return subprocess.run([sys.executable, "-m", "main", *argv], cwd=REPO, env=variables,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def rekey(db: Path, new: str, *options: str) -> subprocess.CompletedProcess[str]:
    """``jaga store rekey`` from PASSPHRASE to ``new``, both from the environment."""
    return jaga("store", "rekey", "--db", str(db), *options,
                JAGA_STORE_PASSPHRASE=PASSPHRASE, JAGA_STORE_NEW_PASSPHRASE=new)  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "store" / "jaga.db"
    path.parent.mkdir()
    Store.create(path, Passphrase(PASSPHRASE), config=FAST).close()
    Store.open(path, Passphrase(PASSPHRASE), config=FAST).close()  # its first open's writes
    return path


def refused(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    return done.stderr


def test_a_rekey_to_the_same_passphrase_is_refused_and_changes_nothing(db: Path) -> None:
    before = folder_state(db.parent)
    done = rekey(db, PASSPHRASE, *FAST_KDF)
    assert "the new passphrase is the store's passphrase already" in refused(done)
    assert folder_state(db.parent) == before


def test_a_rekey_to_the_same_key_file_under_another_name_is_refused(
    db: Path, tmp_path: Path
) -> None:
    key_file = create_key_file(tmp_path / "app.key")
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        store.change_key(key_file, operator="test")
    copy = tmp_path / "copy.key"
    copy.write_bytes(key_file.path.read_bytes())
    copy.chmod(0o600)
    before = folder_state(db.parent)
    done = jaga("store", "rekey", "--db", str(db), "--key-file", str(key_file.path),
                "--new-key-file", str(copy))  # fmt: skip
    assert "the new key file holds the store's key already" in refused(done)
    assert folder_state(db.parent) == before


def test_the_same_passphrase_at_another_scrypt_cost_is_a_change(db: Path) -> None:
    """The passphrase stays, its derivation does not: the one way to raise the cost."""
    done = rekey(db, PASSPHRASE, "--scrypt-log2n", "11")
    assert done.returncode == 0, done.stderr
    slot = store_keys.read_header(db).current
    assert slot.scrypt is not None and slot.scrypt.n == 2**11


def test_another_passphrase_is_still_taken(db: Path) -> None:
    done = rekey(db, "another one", *FAST_KDF)
    assert done.returncode == 0, done.stderr
    with Store.open(db, Passphrase("another one"), config=FAST) as store:
        assert store.people.count() == 0
