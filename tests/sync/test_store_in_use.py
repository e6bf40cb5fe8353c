"""A restore or key change never runs under a store another process has open, and what a
killed restore or backup leaves beside the store is found and cleared."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.errors import StoreCorruptError, StoreError, StoreIOError
from sync.store import KeyFile, Passphrase, Store, backup, create_key_file, restore
from sync.store.database import Database
from sync.store.store_info import describe
from tests.sync.conftest import FAST, REPO_ROOT, FakeClock, enrol, worker
from tests.sync.test_store_cli import FAST_KDF, PASSPHRASE, jaga
from tests.sync.test_store_keys import folder_state


@contextlib.contextmanager
def holder(db: Path, key_file: KeyFile) -> Iterator[subprocess.Popen[str]]:
    """Another process with the store open, as the kiosk app keeps it; it writes one record
    and exits when its stdin closes (or the test kills it)."""
    process = subprocess.Popen(
        worker("open", str(db), str(key_file.path)),
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "open"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=60)


def finish(process: subprocess.Popen[str]) -> str:
    """Let the holder write its record and exit; what it said."""
    out, _ = process.communicate("", timeout=60)
    assert process.returncode == 0
    return out.strip()


@pytest.fixture
def keyed(tmp_path: Path, key_file: KeyFile, clock: FakeClock) -> Path:
    """A store (key file) with one person, and its backup at tmp_path/b.db."""
    db = tmp_path / "store" / "jaga.db"
    with Store.create(db, key_file, clock=clock, config=FAST) as store:
        enrol(store, clock, "BEFORE", seed=1)
        backup(store, tmp_path / "b.db", operator="admin")
        enrol(store, clock, "AFTER-BACKUP", seed=2)
    return db


def test_a_restore_under_a_store_another_process_has_open_is_refused_and_changes_nothing(
    keyed: Path, key_file: KeyFile
) -> None:
    """Else the running app goes on writing to the file moved aside: what it records after
    the restore (access events, erasures) never reaches the restored store or the hub."""
    copy = keyed.parent.parent / "b.db"
    with holder(keyed, key_file) as app:
        before = folder_state(keyed.parent)
        with pytest.raises(StoreError, match=r"stop the app \(jaga-kiosk.service\), jaga-sync"):
            restore(copy, keyed, key_file, operator="admin", force=True, config=FAST)
        assert folder_state(keyed.parent) == before
        assert finish(app) == "wrote"  # the app's write reached the one store there is
    with Store.open(keyed, key_file, config=FAST) as still:
        assert still.observations.count() == 1
        assert still.people.count() == 2
    # once the app is gone, the restore goes ahead
    assert restore(
        copy, keyed, key_file, operator="admin", force=True, discard_unsynced=True, config=FAST
    ).replaced
    with Store.open(keyed, key_file, config=FAST) as restored:
        assert restored.people.count() == 1


def test_a_key_change_under_a_store_another_process_has_open_is_refused_and_changes_nothing(
    keyed: Path, key_file: KeyFile, tmp_path: Path
) -> None:
    new = create_key_file(tmp_path / "new.key")
    with holder(keyed, key_file) as app, Store.open(keyed, key_file, config=FAST) as store:
        before = folder_state(keyed.parent)
        with pytest.raises(StoreError, match=r"stop the app \(jaga-kiosk.service\), jaga-sync"):
            store.change_key(new, operator="admin")
        assert folder_state(keyed.parent) == before
        assert finish(app) == "wrote"  # its connection still reads the file
        store.change_key(new, operator="admin")  # alone now
    with Store.open(keyed, new, config=FAST) as rekeyed:
        assert rekeyed.observations.count() == 1


def test_the_commands_say_what_to_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "jaga.db"
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("JAGA_STORE_PATH", str(db))
    monkeypatch.setenv("JAGA_STORE_NEW_PASSPHRASE", "another passphrase")
    assert jaga("store", "init", *FAST_KDF) == 0
    key_file = create_key_file(tmp_path / "app.key")  # the holder opens with a key file
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        store.change_key(key_file, operator="admin")
    with_key = ("--key-file", str(key_file.path))
    assert jaga("store", "backup", *with_key, str(tmp_path / "b.db")) == 0
    capsys.readouterr()
    restore_it = (
        "store",
        "restore",
        *with_key,
        str(tmp_path / "b.db"),
        "--force",
        "--discard-unsynced",
    )
    rekey = ("store", "rekey", *with_key, *FAST_KDF)
    with holder(db, key_file) as app:
        for command in (restore_it, rekey):
            assert jaga(*command) == 1
            assert "stop the app (jaga-kiosk.service), jaga-sync" in capsys.readouterr().err
        finish(app)
    assert jaga(*restore_it) == 0
    assert jaga(*rekey) == 0


def test_rekey_refuses_before_it_asks_for_the_new_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An operator at a prompt typed the new passphrase twice, then was refused."""
    db = tmp_path / "jaga.db"
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("JAGA_STORE_PATH", str(db))
    assert jaga("store", "init", *FAST_KDF) == 0
    key_file = create_key_file(tmp_path / "app.key")
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        store.change_key(key_file, operator="admin")
    monkeypatch.delenv("JAGA_STORE_NEW_PASSPHRASE", raising=False)  # it would be asked for
    with holder(db, key_file) as app:
        assert jaga("store", "rekey", "--key-file", str(key_file.path), *FAST_KDF) == 1
        err = capsys.readouterr().err
        finish(app)
    assert "stop the app" in err and "no key" not in err, err


def test_a_holder_killed_with_sigkill_leaves_no_lock_behind(keyed: Path, key_file: KeyFile) -> None:
    with holder(keyed, key_file) as app:
        app.send_signal(signal.SIGKILL)
        app.wait(timeout=60)
    copy = keyed.parent.parent / "b.db"
    assert restore(
        copy, keyed, key_file, operator="admin", force=True, discard_unsynced=True, config=FAST
    ).replaced


def test_an_open_during_a_restore_is_refused_with_what_is_going_on(
    keyed: Path, key_file: KeyFile, tmp_path: Path
) -> None:
    """An app started while a restore runs must not open the store the restore moves aside."""
    from sync.store.in_use import sole_use

    with sole_use(keyed, "restore"), pytest.raises(StoreError, match="being restored"):
        Store.open(keyed, key_file, config=FAST)
    Store.open(keyed, key_file, config=FAST).close()


def test_an_open_store_whose_key_another_program_changed_says_so(
    keyed: Path, key_file: KeyFile, tmp_path: Path
) -> None:
    """Only a program that ignores the in-use lock (a Jaga before it, a SQLCipher shell) can
    still re-key a store under an open one."""
    with Store.open(keyed, key_file, config=FAST) as app:
        other = Database.open(keyed, app.key, FAST, create=False)
        other.rekey(bytes(32))
        other.close()
        with pytest.raises(StoreCorruptError, match="key was changed"):
            app.observations.count()


KILLED_AT_THE_RENAME = """
import os, sys
from pathlib import Path
from sync.store import KeyFile, Store, StoreConfig, backup, restore
db, copy, key = Path(sys.argv[1]), Path(sys.argv[2]), KeyFile(Path(sys.argv[3]))
real_replace = Path.replace
def power_cut(self, destination):
    if self.name.endswith((".restoring", ".partial")):
        os._exit(3)  # no finally, no except: as a power cut
    return real_replace(self, destination)
Path.replace = power_cut
config = StoreConfig(scrypt_n=2**10)
replaced = KeyFile(Path(sys.argv[5])) if len(sys.argv) > 5 else None
if sys.argv[4] == "restore":
    restore(copy, db, key, operator="a", force=True, discard_unsynced=True, config=config,
            replaced_source=replaced)
else:
    with Store.open(db, key, config=config) as store:
        backup(store, copy, operator="a")
"""


def killed(what: str, db: Path, copy: Path, key_file: KeyFile, *replaced: KeyFile) -> None:
    keys = [str(key_file.path), what, *(str(k.path) for k in replaced)]
    run = subprocess.run(
        [sys.executable, "-c", KILLED_AT_THE_RENAME, str(db), str(copy), *keys],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 3, run.stderr


def test_a_restore_killed_before_its_rename_is_not_called_a_key_change(
    keyed: Path, key_file: KeyFile, tmp_path: Path
) -> None:
    """The store's key changed since the backup: the restore writes a header with the
    backup's key pending, as a key change does. Killed before its rename, the file is still
    the old store; the message must say a restore was interrupted, not send the operator
    to a "new key" they never had."""
    with Store.open(keyed, key_file, config=FAST) as store:
        backup(store, tmp_path / "before.db", operator="admin")
    newer = create_key_file(tmp_path / "newer.key")
    with Store.open(keyed, key_file, config=FAST) as store:
        store.change_key(newer, operator="admin")
    killed("restore", keyed, tmp_path / "before.db", key_file, newer)
    with pytest.raises(StoreError, match="a restore was interrupted before it replaced"):
        Store.open(keyed, key_file, config=FAST)
    with Store.open(keyed, newer, config=FAST) as store:  # the store it was to replace
        assert store.integrity().ok


def test_a_killed_restores_copy_is_reported_and_cleared_by_the_next_backup(
    keyed: Path, key_file: KeyFile, tmp_path: Path
) -> None:
    """It holds the backup, with whoever was erased since, until the erasures are carried:
    nothing that is not also in the backup or the store, so it can go."""
    killed("restore", keyed, tmp_path / "b.db", key_file)
    leftover = keyed.with_name("jaga.db.restoring")
    assert leftover.exists()
    with Store.open(keyed, key_file, config=FAST) as store:
        lines, ok = describe(store)
        assert ok
        assert any("jaga.db.restoring" in line and "killed restore" in line for line in lines)
        backup(store, tmp_path / "second.db", operator="admin")
    assert not list(keyed.parent.glob("*.restoring*"))


def test_a_killed_restores_copy_is_cleared_by_the_next_restore(
    keyed: Path, key_file: KeyFile, tmp_path: Path
) -> None:
    killed("restore", keyed, tmp_path / "b.db", key_file)
    restore(tmp_path / "b.db", keyed, key_file, operator="admin", force=True,
            discard_unsynced=True, config=FAST)  # fmt: skip
    assert not list(keyed.parent.glob("*.restoring*"))


def test_a_killed_backups_copy_beside_the_store_is_reported(keyed: Path, key_file: KeyFile) -> None:
    """Another backup may be writing it right now: it is named, not removed."""
    killed("backup", keyed, keyed.with_name("nightly.db"), key_file)
    assert keyed.with_name("nightly.db.partial").exists()
    with Store.open(keyed, key_file, config=FAST) as store:
        lines, _ = describe(store)
    assert any("nightly.db.partial" in line and "backup" in line for line in lines)
    assert keyed.with_name("nightly.db.partial").exists()


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EBADF])
def test_a_file_system_that_cannot_lock_is_a_clear_error_and_leaks_nothing(
    keyed: Path, key_file: KeyFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """NFS without its lock manager refuses flock (ENOLCK), and an exclusive one through a
    read-only descriptor (EBADF). There is no such mount here: flock itself is made to fail
    as it would there. The open, the restore and the key change each say what is wrong, as
    a StoreError, and keep no descriptor open."""

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("sync.filelock.fcntl.flock", no_locks)
    descriptors = len(list(Path("/proc/self/fd").iterdir()))
    for _ in range(20):
        with pytest.raises(StoreIOError, match="keep the store on a local disk"):
            Store.open(keyed, key_file, config=FAST)
        with pytest.raises(StoreIOError, match="cannot lock"):
            restore(tmp_path / "b.db", keyed, key_file, operator="admin", force=True, config=FAST)
    assert len(list(Path("/proc/self/fd").iterdir())) == descriptors
