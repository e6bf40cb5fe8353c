"""An open refused because the file does not decrypt with its key touches nothing.

The hazard is SQLite's checkpoint on close: a writable connection that found a write-ahead
log folds it into the database file and deletes the -wal and -shm when it closes, whether or
not the key it was given decrypts anything. A writer killed with SIGKILL leaves its commits
in the -wal only, so a refused open that ran that checkpoint would rewrite the store.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sync.errors import NotAStoreError, WrongKeyError
from sync.store import Passphrase, Store
from sync.store import keys as store_keys
from tests.sync.conftest import FAST, REPO_ROOT
from tests.sync.test_store_keys import folder_state

SECRET = "one passphrase for both stores"
PASSPHRASE = Passphrase(SECRET)

# Commits 20 enrolments, says so, and waits to be killed with them in its -wal.
WRITER = """
import sys
from pathlib import Path
from sync.store import Passphrase, Store
from tests.sync.conftest import FAST, FakeClock, enrol
store = Store.open(Path(sys.argv[1]), Passphrase(sys.argv[2]), config=FAST)
clock = FakeClock()
for i in range(20):
    enrol(store, clock, f"B{i}", i)
print("committed", flush=True)
sys.stdin.readline()
"""


def _killed_writer_leaves_a_wal(db: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), SECRET],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    try:
        assert writer.stdout.readline().strip() == "committed"
    finally:
        os.kill(writer.pid, signal.SIGKILL)  # a power cut: the commits are in the -wal only
        writer.wait()
    wal = db.with_name(db.name + "-wal")
    assert wal.stat().st_size > 0 and db.with_name(db.name + "-shm").exists()


@pytest.fixture
def store_left_by_a_killed_writer(tmp_path: Path) -> Path:
    db = tmp_path / "store" / "jaga.db"
    db.parent.mkdir()
    Store.create(db, PASSPHRASE, config=FAST).close()
    _killed_writer_leaves_a_wal(db)
    return db


def _other_stores_header(tmp_path: Path) -> Path:
    """The header of another store made with the same passphrase (its own salt, its own key)."""
    other = tmp_path / "other" / "x.db"
    other.parent.mkdir()
    Store.create(other, PASSPHRASE, config=FAST).close()
    return store_keys.header_path(other)


def test_an_open_refused_for_a_foreign_header_leaves_db_wal_and_shm_byte_identical(
    store_left_by_a_killed_writer: Path, tmp_path: Path
) -> None:
    db = store_left_by_a_killed_writer
    own_header = store_keys.header_path(db).read_bytes()
    shutil.copy(_other_stores_header(tmp_path), store_keys.header_path(db))
    before = folder_state(db.parent)
    assert {"jaga.db", "jaga.db-wal", "jaga.db-shm"} <= set(before)
    with pytest.raises(NotAStoreError, match="does not decrypt with it"):
        Store.open(db, PASSPHRASE, config=FAST)
    assert folder_state(db.parent) == before
    # And nothing was lost: with its own header back, every commit in the -wal is there.
    store_keys.header_path(db).write_bytes(own_header)
    with Store.open(db, PASSPHRASE, config=FAST) as store:
        assert store.integrity().ok
        assert len(store.database.query("SELECT 1 FROM people")) == 20


def test_an_interrupted_key_change_refused_with_the_old_key_leaves_the_files_as_they_were(
    store_left_by_a_killed_writer: Path,
) -> None:
    # The header lists a pending key the file does not have: opening with that passphrase is
    # refused ("interrupted before it re-encrypted") after a try of the file that must not
    # checkpoint the -wal into it.
    db = store_left_by_a_killed_writer
    new = Passphrase("the new passphrase")
    slot, _ = store_keys.new_slot(new, scrypt_n=FAST.scrypt_n)
    header = store_keys.read_header(db)
    store_keys.write_header(db, store_keys.with_pending(header, slot))
    before = folder_state(db.parent)
    with pytest.raises(WrongKeyError, match="interrupted before"):
        Store.open(db, new, config=FAST)
    assert folder_state(db.parent) == before
