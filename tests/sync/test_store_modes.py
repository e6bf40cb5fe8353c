"""The store's files are its owner's only: 0600 files and 0700 new folders, whatever the umask.

Encrypted or not, a copy of the store lets another local user guess at its passphrase
offline; the usual umask (022) would make every file world-readable.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sync.errors import WrongKeyError
from sync.store import Passphrase, Store
from tests.sync.conftest import FAST, REPO_ROOT, FakeClock, enrol

PASSPHRASE = "a long kiosk passphrase"
FAST_KDF = ("--scrypt-log2n", "10")


def jaga_022(*argv: str | Path) -> None:
    """Run ``jaga`` in its own process under the common umask 022."""
    result = subprocess.run(
        [sys.executable, "main.py", *map(str, argv)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"JAGA_STORE_PASSPHRASE": PASSPHRASE, "PATH": "/usr/bin:/bin"},
        umask=0o022,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def modes(folder: Path) -> dict[str, int]:
    """Every file's and folder's mode but the in-use locks', which hold nothing and are left
    readable by all on purpose (``sync.filelock.HeldLock``)."""
    return {
        str(p.relative_to(folder)): p.stat().st_mode & 0o777
        for p in folder.rglob("*")
        if not p.name.endswith(".in-use")
    }


def modes_after_an_enrolment(db: Path, clock: FakeClock, external_id: str) -> dict[str, int]:
    """The modes in the store's folder while it is open after an enrolment, its write-ahead
    log and shared memory still there."""
    with Store.open(db, Passphrase(PASSPHRASE), clock=clock, config=FAST) as store:
        enrol(store, clock, external_id, seed=int(external_id[2:]))
        return modes(db.parent)


def test_store_backup_and_restore_are_their_owners_only_under_umask_022(tmp_path: Path) -> None:
    db = tmp_path / "device" / "data" / "jaga.db"
    jaga_022("store", "init", "--db", db, *FAST_KDF)
    jaga_022("store", "backup", "--db", db, tmp_path / "backup.db")
    jaga_022("store", "restore", "--db", db, "--force", tmp_path / "backup.db")
    jaga_022("store", "restore", "--db", tmp_path / "new" / "jaga.db", tmp_path / "backup.db")
    found = modes(tmp_path)
    folders = {"device", "device/data", "new"}
    assert {name: found[name] for name in folders} == dict.fromkeys(folders, 0o700)
    files = {name: mode for name, mode in found.items() if name not in folders}
    assert "device/data/jaga.db" in files and "new/jaga.db.kdf.json" in files
    assert files == dict.fromkeys(files, 0o600)


def test_the_write_ahead_log_and_shared_memory_are_their_owners_only(
    tmp_path: Path, clock: FakeClock
) -> None:
    db = tmp_path / "jaga.db"
    jaga_022("store", "init", "--db", db, *FAST_KDF)
    found = modes_after_an_enrolment(db, clock, "B-1")
    assert {"jaga.db-wal", "jaga.db-shm"} <= found.keys()
    assert found == dict.fromkeys(found, 0o600)


def test_a_store_made_before_is_narrowed_to_its_owner_when_it_next_opens(
    tmp_path: Path, clock: FakeClock
) -> None:
    db = tmp_path / "jaga.db"
    jaga_022("store", "init", "--db", db, *FAST_KDF)
    with Store.open(db, Passphrase(PASSPHRASE), clock=clock, config=FAST) as store:
        enrol(store, clock, "B-1", seed=1)
        for path in tmp_path.iterdir():  # as a version before 0600 left them
            if not path.name.endswith(".in-use"):
                path.chmod(0o644)
    assert set(modes(tmp_path).values()) == {0o644}
    found = modes_after_an_enrolment(db, clock, "B-2")
    assert {"jaga.db", "jaga.db.kdf.json", "jaga.db-wal", "jaga.db-shm"} <= found.keys()
    assert found == dict.fromkeys(found, 0o600)


def test_a_wrong_passphrase_changes_no_mode(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "jaga.db"
    jaga_022("store", "init", "--db", db, *FAST_KDF)
    for path in tmp_path.iterdir():
        path.chmod(0o644)
    with pytest.raises(WrongKeyError):
        Store.open(db, Passphrase("not the passphrase"), clock=clock, config=FAST)
    assert set(modes(tmp_path).values()) == {0o644}
