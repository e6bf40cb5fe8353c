"""The kiosk's journal of waiting decisions (``<store>.kiosk-waiting``) is under a key
derived from the store's (HKDF-SHA256, ``info`` ``jaga kiosk journal v2``), never under the
store's raw key, and the journal holds that key alone. A journal an earlier release kept
under the store's raw key is read in full after the upgrade and re-encrypted at the kiosk's
first start, losing nothing even killed midway (real processes, SIGKILL); ``jaga store
rekey`` and a restore under another key move it with the store. Real store files, real
SQLCipher."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from desktop.kiosk.journal import DecisionJournal, journal_path
from desktop.kiosk.writer import EventWriter
from sync.errors import WrongKeyError
from sync.store import AccessEvent, Passphrase, Store
from sync.store.access import COLUMNS, access_row
from sync.store.backups import backup, restore
from sync.store.database import Database
from sync.store.kiosk_waiting import record_left_waiting, waiting_count, waiting_table
from sync.store.spool_kdf import journal_key_from, spool_key_from
from tests.desktop.conftest import PASSPHRASE as APP
from tests.desktop.kiosk.test_kiosk_rules import QUICK
from tests.desktop.rekey_worker import NEW_PASSPHRASE as NEW_APP
from tests.sync.conftest import REPO_ROOT

PASSPHRASE = "a kiosk passphrase"
ROTATED = "a kiosk passphrase rotated"


def events(count: int) -> list[AccessEvent]:
    start = datetime(2026, 12, 3, 10, tzinfo=UTC)
    return [
        AccessEvent(start + timedelta(seconds=n), "gate", "k1", "spoof_detected", None, None, 0.1)
        for n in range(count)
    ]


def make_store(tmp_path: Path) -> Path:
    path = tmp_path / "kiosk.db"
    Store.create(path, Passphrase(PASSPHRASE), config=QUICK).close()
    return path


def store_key(path: Path, passphrase: str = PASSPHRASE) -> bytes:
    with Store.open(path, Passphrase(passphrase), config=QUICK) as store:
        return store.key


def uids_under(path: Path, key: bytes) -> list[str]:
    """The journal's uids read with ``key`` alone; WrongKeyError if it does not open it."""
    journal = Database.open(journal_path(path), key, QUICK, create=False)
    try:
        rows = journal.query("SELECT event_uid FROM waiting ORDER BY rowid")
        return [str(row[0]) for row in rows]
    finally:
        journal.close()


def kept_by_the_kiosk(path: Path, waiting: list[AccessEvent], passphrase: str = PASSPHRASE) -> None:
    with Store.open(path, Passphrase(passphrase), config=QUICK) as store:
        journal = DecisionJournal(store)
        journal.keep(waiting)
        journal.close()


def earlier_release_journal(path: Path, waiting: list[AccessEvent]) -> list[str]:
    """A journal as the release before the derived key wrote it (``DecisionJournal._open``
    then): under the store's raw key. Its uids, in order."""
    key = store_key(path)
    journal = Database.open(journal_path(path), key, QUICK, create=True)
    try:
        with journal.write() as connection:
            waiting_table(connection)
            marks = ",".join("?" * len(COLUMNS.split(",")))
            rows = [access_row(event) for event in waiting]
            connection.executemany(f"INSERT INTO waiting ({COLUMNS}) VALUES ({marks})", rows)
    finally:
        journal.close()
    uids = [event.event_uid for event in waiting]
    assert uids_under(path, key) == uids  # the test's premise
    return uids


def kiosk_starts(path: Path, passphrase: str = PASSPHRASE) -> list[str]:
    """The kiosk's next start: what it finds waiting is written to the store."""
    with Store.open(path, Passphrase(passphrase), config=QUICK) as store:
        writer = EventWriter(store)
        written = [event.event_uid for event in writer.flush(now=True)]
        writer.close()
    return written


def recorded(path: Path, passphrase: str = PASSPHRASE) -> list[str]:
    with Store.open(path, Passphrase(passphrase), config=QUICK) as store:
        return [event.event_uid for event in store.access.between("0000", "9999")]


def assert_under_the_journal_key_only(path: Path, uids: list[str], passphrase: str) -> None:
    key = store_key(path, passphrase)
    with pytest.raises(WrongKeyError):
        uids_under(path, key)
    assert uids_under(path, journal_key_from(key)) == uids


def test_the_journal_is_not_under_the_stores_raw_key(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    waiting = events(2)
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as store:
        raw = store.key
        journal = DecisionJournal(store)
        journal.keep(waiting)
        held = [value for value in vars(journal).values() if isinstance(value, bytes)]
        journal.close()
    try:
        opened_with_raw = uids_under(path, raw)
    except WrongKeyError:
        opened_with_raw = []
    assert not opened_with_raw, "the store's raw key opens the kiosk's journal"
    key = journal_key_from(raw)
    # Neither the store's key nor its own: that is derived for the open, then overwritten
    # (SQLCipher keeps its copy: test_kiosk_journal_key_memory).
    assert held == [], "the journal holds a key (the store's?) once its file is open"
    assert key not in (raw, spool_key_from(raw))  # its own key: not the spool's either
    with pytest.raises(WrongKeyError):  # it opens the journal, never the store
        Database.open(path, key, QUICK, create=False).close()
    assert uids_under(path, key) == [event.event_uid for event in waiting]
    assert waiting_count(path, raw, QUICK) == 2  # counted with the store's key
    assert kiosk_starts(path) == [event.event_uid for event in waiting]


def test_an_earlier_releases_journal_is_read_in_full_after_the_upgrade(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    uids = earlier_release_journal(path, events(3))
    assert waiting_count(path, store_key(path), QUICK) == 3  # counted, left as it is
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as store:
        journal = DecisionJournal(store)
        kept = [event.event_uid for event in journal.kept()]
        journal.close()
    assert kept == uids, "a decision an earlier release kept was not read after the upgrade"
    assert_under_the_journal_key_only(path, uids, PASSPHRASE)
    assert kiosk_starts(path) == uids
    assert recorded(path) == uids


def test_sync_now_records_an_earlier_releases_journal(tmp_path: Path) -> None:
    """A kiosk retired before the upgrade: ``jaga sync now`` reads its raw-key journal."""
    path = make_store(tmp_path)
    uids = earlier_release_journal(path, events(2))
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as store:
        assert record_left_waiting(store) == 2
    assert recorded(path) == uids
    assert not list(tmp_path.glob("*.unreadable-*"))


@pytest.mark.parametrize("step", ["opened", "rekeyed"])
def test_a_re_encryption_killed_midway_loses_no_decision(tmp_path: Path, step: str) -> None:
    """Killed (SIGKILL) with the journal open under the store's raw key, or with its
    re-encryption committed to the write-ahead log only: the next start reads every
    decision, writes each once, and leaves the journal under its own key."""
    path = make_store(tmp_path)
    uids = earlier_release_journal(path, events(3))
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.desktop.kiosk.journal_migrate_worker", str(path),
         PASSPHRASE, step],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert worker.stdout is not None
    try:
        said = worker.stdout.readline().strip()
        worker.kill()
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=60)
    assert said == step, f"the worker never reached {step}: it said {said!r}"
    wal = journal_path(path).with_name(journal_path(path).name + "-wal")
    if step == "rekeyed":  # the kill came after the commit, before the checkpoint
        assert wal.stat().st_size > 0
        with pytest.raises(WrongKeyError):  # committed: the log's pages are the journal key's
            uids_under(path, store_key(path))
    else:  # killed before the re-encryption: still the earlier release's
        assert uids_under(path, store_key(path)) == uids
    assert kiosk_starts(path) == uids, f"a decision was lost: killed at {step}"
    assert recorded(path) == uids
    assert_under_the_journal_key_only(path, [], PASSPHRASE)  # written, so out of it
    assert not list(tmp_path.glob("*.unreadable-*"))


@pytest.mark.parametrize("earlier_release", [False, True])
def test_a_key_change_moves_the_journal_with_its_decisions(
    tmp_path: Path, earlier_release: bool
) -> None:
    path = make_store(tmp_path)
    waiting = events(2)
    uids = [event.event_uid for event in waiting]
    if earlier_release:
        earlier_release_journal(path, waiting)
    else:
        kept_by_the_kiosk(path, waiting)
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as store:
        store.change_key(Passphrase(ROTATED), operator="test")
    assert_under_the_journal_key_only(path, uids, ROTATED)
    assert waiting_count(path, store_key(path, ROTATED), QUICK) == 2
    assert kiosk_starts(path, ROTATED) == uids, "the journal lost its decisions at a rekey"
    assert recorded(path, ROTATED) == uids
    assert not list(tmp_path.glob("*.unreadable-*"))


def test_a_restore_under_another_key_moves_the_journal_with_its_decisions(
    tmp_path: Path,
) -> None:
    """The key changed since the backup and decisions wait under it: the restore keeps
    them, under the journal key of the backup's key, for the kiosk's next start."""
    path = make_store(tmp_path)
    backup_path = tmp_path / "backup.db"
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as store:
        backup(store, backup_path, operator="test")
        store.change_key(Passphrase(ROTATED), operator="test")
    waiting = events(2)
    kept_by_the_kiosk(path, waiting, ROTATED)
    restored = restore(
        backup_path, path, Passphrase(PASSPHRASE), operator="test", force=True,
        replaced_source=Passphrase(ROTATED), config=QUICK,
    )  # fmt: skip
    uids = [event.event_uid for event in waiting]
    assert restored.kiosk_decisions == 2
    assert_under_the_journal_key_only(path, uids, PASSPHRASE)
    assert kiosk_starts(path) == uids
    assert not list(tmp_path.glob("*.unreadable-*"))


@pytest.mark.parametrize(("step", "passphrase"), [("prepared", APP), ("rekeyed", NEW_APP)])
def test_a_key_change_killed_midway_loses_no_decision(
    tmp_path: Path, step: str, passphrase: str
) -> None:
    """``jaga store rekey`` killed (SIGKILL) with the journal's copy under the new key
    written and the store not yet re-encrypted, or with the store re-encrypted and the copy
    not yet in place: the store opens with the key it ended up with, and the kiosk's next
    start with it records every decision, and leaves no copy behind."""
    path = tmp_path / "kiosk.db"
    Store.create(path, Passphrase(APP), config=QUICK).close()
    waiting = events(2)
    kept_by_the_kiosk(path, waiting, APP)
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.desktop.rekey_worker", str(path), step, "journal"],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert worker.stdout is not None
        said = worker.stdout.readline().strip()
    finally:
        worker.kill()  # SIGKILL, at that step
        worker.communicate(timeout=60)
    assert said == step, f"the worker never reached {step}: it said {said!r}"
    uids = [event.event_uid for event in waiting]
    assert waiting_count(path, store_key(path, passphrase), QUICK) == 2
    assert kiosk_starts(path, passphrase) == uids, f"a decision was lost: killed at {step}"
    assert recorded(path, passphrase) == uids
    name = journal_path(path).name
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(name)) == [name]
