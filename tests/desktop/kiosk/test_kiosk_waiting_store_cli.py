"""The kiosk's decisions waiting beside the store (``<store>.kiosk-waiting``, under its key)
and the ``jaga store`` and ``jaga audit`` commands, through the CLI's entry function on a
real store: ``info`` and ``backup`` say how many wait (in neither the store nor its backups),
``audit verify`` warns that they are outside the chain, and ``rekey`` and a ``restore``
under another key move them with the store, for the kiosk's next start to record. The
journal is written as the kiosk writes it (``DecisionJournal``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from desktop.kiosk.journal import DecisionJournal, journal_path
from desktop.kiosk.writer import EventWriter
from main import main
from sync.store import AccessEvent, Passphrase, Store
from sync.store.key_sources import NEW_PASSPHRASE_ENV, PASSPHRASE_ENV, REPLACED_PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.sync.conftest import FAST

ROTATED = "a passphrase rotated since the backup"


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    monkeypatch.delenv(NEW_PASSPHRASE_ENV, raising=False)
    monkeypatch.delenv(REPLACED_PASSPHRASE_ENV, raising=False)


def left_waiting(path: Path, passphrase: str = PASSPHRASE) -> AccessEvent:
    """A refusal a kiosk killed while the store was busy left in its journal."""
    event = AccessEvent(datetime.now(UTC), "gate", "k1", "spoof_detected", None, None, 0.1)
    with Store.open(path, Passphrase(passphrase), config=FAST) as store:
        journal = DecisionJournal(store)
        journal.keep([event])
        journal.close()
    return event


def kiosk_starts(path: Path, passphrase: str = PASSPHRASE) -> list[str]:
    """The kiosk's next start: what it finds waiting is written to the store."""
    with Store.open(path, Passphrase(passphrase), config=FAST) as store:
        writer = EventWriter(store)
        written = [event.event_uid for event in writer.flush(now=True)]
        writer.close()
    return written


def recorded(path: Path, passphrase: str = PASSPHRASE) -> list[str]:
    with Store.open(path, Passphrase(passphrase), config=FAST) as store:
        return [e.event_uid for e in store.access.between("0000", "9999")]


def test_store_info_says_how_many_kiosk_decisions_wait(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["store", "info", "--db", str(store_path)]) == 0
    assert "kiosk        no decision waiting for the store" in capsys.readouterr().out
    left_waiting(store_path)
    assert main(["store", "info", "--db", str(store_path)]) == 0
    said = capsys.readouterr().out
    assert (
        f"kiosk        1 decision waiting in {journal_path(store_path).name}, not in the"
        " store yet" in said
    ), said


def test_audit_verify_warns_that_kiosk_decisions_wait_outside_the_chain(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    left_waiting(store_path)
    assert main(["audit", "verify", "--db", str(store_path)]) == 0  # the chain is whole
    said = capsys.readouterr().out
    assert "audit chain ok" in said
    assert "WARNING: outside the audit chain: 1 kiosk decision waiting in" in said, said


def test_a_backup_says_it_leaves_out_the_kiosk_decisions_waiting(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    left_waiting(store_path)
    assert main(["store", "backup", "--db", str(store_path), str(tmp_path / "b.db")]) == 0
    said = capsys.readouterr().out
    assert "NOT IN THIS BACKUP: 1 kiosk decision waiting in" in said, said


def test_an_export_of_access_events_says_which_decisions_it_lacks(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    left_waiting(store_path)
    out = str(tmp_path / "events.csv")
    assert main(["store", "export", "access-events", "--out", out, "--db", str(store_path)]) == 0
    err = capsys.readouterr().err
    assert "WARNING: not in this export: 1 kiosk decision waiting in" in err, err


def test_rekey_on_the_command_line_moves_the_kiosk_decisions_waiting(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The journal is re-encrypted with the store (under the new key's journal key): the
    kiosk's next start, with the new passphrase, records what waits, and sets nothing aside."""
    event = left_waiting(store_path)
    monkeypatch.setenv(NEW_PASSPHRASE_ENV, ROTATED)
    assert main(["store", "rekey", "--db", str(store_path), "--scrypt-log2n", "10"]) == 0
    capsys.readouterr()
    assert main(["store", "info", "--db", str(store_path)]) == 1  # the old passphrase
    capsys.readouterr()
    monkeypatch.setenv(PASSPHRASE_ENV, ROTATED)
    assert main(["store", "info", "--db", str(store_path)]) == 0
    said = capsys.readouterr().out
    assert "kiosk        1 decision waiting in" in said, said
    assert kiosk_starts(store_path, ROTATED) == [event.event_uid]
    assert recorded(store_path, ROTATED) == [event.event_uid]
    assert not list(store_path.parent.glob("*.unreadable-*"))


def test_a_restore_under_another_key_moves_the_kiosk_decisions_waiting(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The store's key changed since the backup, then a kiosk was killed with a decision
    waiting: the restore re-encrypts the journal with the restored store, whose kiosk
    records the decision at its next start, and says so."""
    backup = tmp_path / "backup.db"
    assert main(["store", "backup", "--db", str(store_path), str(backup)]) == 0
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        store.change_key(Passphrase(ROTATED), operator="admin")
    event = left_waiting(store_path, ROTATED)
    monkeypatch.setenv(REPLACED_PASSPHRASE_ENV, ROTATED)
    capsys.readouterr()
    assert main(["store", "restore", "--db", str(store_path), str(backup), "--force"]) == 0
    said = capsys.readouterr().out
    assert "1 kiosk decision waiting in" in said and "the kiosk records" in said, said
    assert kiosk_starts(store_path) == [event.event_uid]
    assert recorded(store_path) == [event.event_uid]
    assert not list(tmp_path.rglob("*.unreadable-*"))


def test_a_restore_under_the_same_key_leaves_the_decisions_to_the_restored_store(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under the same key the journal opens for the restored store: the kiosk's next start
    records them there, and the restore says so."""
    backup = tmp_path / "backup.db"
    assert main(["store", "backup", "--db", str(store_path), str(backup)]) == 0
    event = left_waiting(store_path)
    capsys.readouterr()
    assert main(["store", "restore", "--db", str(store_path), str(backup), "--force"]) == 0
    said = capsys.readouterr().out
    assert "1 kiosk decision waiting in" in said and "the kiosk records" in said, said
    assert kiosk_starts(store_path) == [event.event_uid]
    assert recorded(store_path) == [event.event_uid]


def test_a_restore_not_reading_the_replaced_store_warns_of_decisions_it_cannot_read(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--no-carry-erasures`` (the replaced store unreadable): its key is not known, so the
    decisions under it are not counted, but the restore says they will not be recorded."""
    backup = tmp_path / "backup.db"
    assert main(["store", "backup", "--db", str(store_path), str(backup)]) == 0
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        store.change_key(Passphrase(ROTATED), operator="admin")
    left_waiting(store_path, ROTATED)
    restore = ["store", "restore", "--db", str(store_path), str(backup), "--force"]
    assert main([*restore, "--no-carry-erasures"]) == 0
    said = capsys.readouterr().out
    assert f"WARNING: the kiosk decisions kept in {journal_path(store_path).name} are not" in said


def test_store_info_names_a_journal_the_kiosk_set_aside(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A journal under a key the store no longer has is set aside, unrecorded, and said only
    in the kiosk's log: `store info` names it, as it names the other files left beside it."""
    other = tmp_path / "other.db"
    Store.create(other, Passphrase(ROTATED), config=FAST).close()
    left_waiting(other, ROTATED)
    journal_path(other).rename(journal_path(store_path))
    assert kiosk_starts(store_path) == []  # set aside
    caplog.clear()  # the error the kiosk logs, which this test expects
    assert main(["store", "info", "--db", str(store_path)]) == 0
    said = capsys.readouterr().out
    assert f"leftover     {journal_path(store_path).name}.unreadable-" in said, said
    assert "never recorded" in said
    assert "deleted by decision retention after" in said, said  # when, not only that


def test_discard_unsynced_says_and_leaves_the_kiosk_decisions_waiting_to_be_recorded(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--discard-unsynced`` loses the changes the replaced store holds, not the kiosk's
    decisions waiting beside it under the same key: they are in no store yet, and the
    kiosk's next start records them into the restored one (an audit trail with no hole is
    the safer side). Its help says so, as the restore's output does."""
    with pytest.raises(SystemExit):
        main(["store", "restore", "--help"])
    helped = " ".join(capsys.readouterr().out.split())
    discard = helped[helped.index("--discard-unsynced") :]
    assert "kiosk-waiting" in discard and "recorded into the restored store" in discard, discard
    backup = tmp_path / "backup.db"
    assert main(["store", "backup", "--db", str(store_path), str(backup)]) == 0
    event = left_waiting(store_path)
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        store.access.record(  # a change since the backup, never synced: discarded
            AccessEvent(datetime.now(UTC), "gate", "k1", "not_matched", None, 0.2, 0.9)
        )
    restore = ["store", "restore", "--db", str(store_path), str(backup), "--force"]
    assert main([*restore, "--discard-unsynced"]) == 0
    said = capsys.readouterr().out
    assert "discarded 1 change" in said and "1 kiosk decision waiting in" in said, said
    assert kiosk_starts(store_path) == [event.event_uid]
    assert recorded(store_path) == [event.event_uid]


def test_sync_now_records_what_a_kiosk_no_longer_running_left_waiting(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A kiosk retired with a decision waiting is never started again: ``jaga sync now`` (the
    ``jaga-sync`` timer, on a device never registered too) records it into the store, where
    it syncs and goes by retention like any other, and empties the journal."""
    event = left_waiting(store_path)
    assert main(["sync", "now", "--db", str(store_path)]) == 1  # not registered
    capsys.readouterr()
    assert recorded(store_path) == [event.event_uid]
    assert kiosk_starts(store_path) == []  # nothing left waiting


def test_sync_now_leaves_a_running_kiosks_waiting_decisions_to_it(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A kiosk running holds its journal: what waits there is its own to write (the store
    was busy a moment ago), and ``jaga sync now`` leaves it."""
    event = left_waiting(store_path)
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        running = DecisionJournal(store)  # the kiosk's, held from its start to its stop
        assert [e.event_uid for e in running.kept()] == [event.event_uid]
        assert main(["sync", "now", "--db", str(store_path)]) == 1
        capsys.readouterr()
        assert recorded(store_path) == []
        running.close()
    assert kiosk_starts(store_path) == [event.event_uid]


def test_a_registered_devices_sync_records_them_before_its_push(
    registered_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Registered, the sync records them first, so that its push carries them: here the hub
    is not reached, and they are in the store, queued for the next sync, all the same."""
    event = left_waiting(registered_store)
    assert main(["sync", "now", "--db", str(registered_store), "--retries", "1"]) != 0
    capsys.readouterr()
    assert recorded(registered_store) == [event.event_uid]
    with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
        queued = store.database.query(
            "SELECT 1 FROM outbox WHERE entity = 'access_event' AND entity_uid = ?",
            (event.event_uid,),
        )
    assert queued


def test_sync_now_sets_aside_a_retired_kiosks_journal_under_another_key(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A kiosk retired with a decision waiting, and the store restored under another key
    since (told not to read the store it replaced): no kiosk start comes to set the journal
    aside. ``jaga sync now`` does, once no kiosk holds it, so that ``store info`` names it
    and decision retention deletes it after the window; meanwhile the old key opens it, and
    its decision is recorded once, into the store of that key, never into this one."""
    other = tmp_path / "other.db"
    Store.create(other, Passphrase(ROTATED), config=FAST).close()
    event = left_waiting(other, ROTATED)
    journal_path(other).rename(journal_path(store_path))
    for _ in range(2):  # the timer runs again: nothing more happens
        assert main(["sync", "now", "--db", str(store_path)]) == 1  # not registered
        caplog.clear()  # the error sync now logs, which this test expects
    capsys.readouterr()
    assert not journal_path(store_path).exists(), "left where no kiosk start will come"
    (aside,) = [p for p in store_path.parent.glob("jaga.db.kiosk-waiting.unreadable-*")
                if not p.name.endswith(("-wal", "-shm"))]  # fmt: skip
    assert main(["store", "info", "--db", str(store_path)]) == 0
    said = capsys.readouterr().out
    assert f"leftover     {aside.name}" in said and "deleted by decision retention after" in said
    assert recorded(store_path) == []
    aside.rename(journal_path(other))  # whoever has the old key puts it back beside its store
    assert kiosk_starts(other, ROTATED) == [event.event_uid]
    assert recorded(other, ROTATED) == [event.event_uid]
