"""The journal of decisions waiting for the store (``desktop.kiosk.journal``): written once
however a kill fell, private and encrypted, and said when it cannot keep them. A real store;
the events are made here (``test_kiosk_killed_waiting`` kills a real kiosk)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from desktop.kiosk.journal import DecisionJournal, journal_path
from desktop.kiosk.writer import EventWriter
from sync.errors import StoreFullError
from sync.store import AccessEvent, Passphrase, Store
from sync.store.retention import DEFAULT_KEEP_DAYS
from sync.store.store_info import describe
from tests.desktop.kiosk.test_kiosk_rules import QUICK, UID, held_by_another
from tests.sync.conftest import FakeClock, enrol

PASSPHRASE = Passphrase("a kiosk passphrase")  # test_kiosk_rules' store
DEVICE = "7f6c4a1e-0000-4000-8000-000000000001"


def event(decision: str = "verified") -> AccessEvent:
    person = UID if decision == "verified" else None
    return AccessEvent(datetime.now(UTC), "gate", "k1", decision, person, 0.9, 0.8)


def store_uids(store: Store) -> list[str]:
    return [
        row[0] for row in store.database.query("SELECT event_uid FROM access_events ORDER BY id")
    ]


def test_a_decision_written_just_before_a_kill_is_not_written_again(tmp_path: Path) -> None:
    """Killed after the store's commit and before its entry left the journal: the next start
    finds both, and the store keeps one."""
    with Store.create(tmp_path / "k.db", PASSPHRASE, config=QUICK) as store:
        before, after = event(), event("spoof_detected")
        journal = DecisionJournal(store)
        journal.keep([before, after])
        journal.close()
        store.access.record(before)  # the commit the kill came after
        writer = EventWriter(store)  # the next start
        assert writer.waiting == 2
        assert [e.event_uid for e in writer.flush()] == [before.event_uid, after.event_uid]
        assert store_uids(store) == [before.event_uid, after.event_uid]
        assert writer.problem is None and writer.waiting == 0
        writer.close()
        assert EventWriter(store).waiting == 0  # the journal was emptied
        assert store.audit.verify().ok


def test_the_journal_is_private_and_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    with Store.create(path, PASSPHRASE, config=QUICK) as store:
        writer = EventWriter(store)
        with held_by_another(path):
            writer.queue([event()])
            assert writer.flush() == () and writer.waiting == 1
        kept = journal_path(path)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        writer.close()  # its log folded into the file
        assert UID.encode() not in kept.read_bytes()


def test_a_decision_the_journal_cannot_keep_is_said_to_be_in_memory_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "k.db"
    with Store.create(path, PASSPHRASE, config=QUICK) as store:
        writer = EventWriter(store)

        def full(journal: object, events: object) -> None:
            raise StoreFullError("no space left for the journal")

        monkeypatch.setattr(DecisionJournal, "keep", full)
        with held_by_another(path):
            writer.queue([event("not_matched")])
            writer.flush()
        assert writer.problem is not None
        assert writer.problem.startswith("1 decision not yet written")
        assert writer.problem.endswith("1 in memory only: no space left for the journal")
        monkeypatch.undo()
        writer.flush(now=True)  # the store is free again
        assert writer.problem is None and store.access.count() == 1


def test_a_key_change_moves_the_decisions_the_kiosk_left_waiting(tmp_path: Path) -> None:
    """The kiosk was killed with a decision waiting; ``jaga store rekey`` before its next start
    re-encrypts the journal with the store: the next start, under the new key, records it."""
    path = tmp_path / "k.db"
    with Store.create(path, PASSPHRASE, config=QUICK) as store:
        journal = DecisionJournal(store)
        journal.keep([event("spoof_detected")])
        journal.close()
        store.change_key(Passphrase("another passphrase"), operator="tester")
    with Store.open(path, Passphrase("another passphrase"), config=QUICK) as store:
        writer = EventWriter(store)  # the kiosk's next start
        assert [e.decision for e in writer.flush()] == ["spoof_detected"]
        writer.close()
    assert not list(tmp_path.glob("*.unreadable-*"))


def test_a_journal_under_another_key_is_set_aside_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A journal this store's key does not open (a restore under another key since): the
    kiosk starts, the file is kept for whoever has that key, and the log says so."""
    with Store.create(
        tmp_path / "other.db", Passphrase("another passphrase"), config=QUICK
    ) as other:
        journal = DecisionJournal(other)
        journal.keep([event()])
        journal.close()
    path = tmp_path / "k.db"
    journal_path(tmp_path / "other.db").rename(journal_path(path))
    with Store.create(path, PASSPHRASE, config=QUICK) as store:
        assert EventWriter(store).waiting == 0
    (aside,) = tmp_path.glob("k.db.kiosk-waiting.unreadable-*")
    assert aside.stat().st_size > 0 and not journal_path(path).exists()
    assert "its decisions are not recorded" in caplog.text
    caplog.clear()  # an error the test expects


def test_a_decision_another_kiosk_process_wrote_first_is_not_a_failure(tmp_path: Path) -> None:
    """Two kiosk processes on one store: the second, starting, finds the first's waiting
    decision in the journal and writes it; the first, writing it in turn, goes on."""
    path = tmp_path / "k.db"
    with Store.create(path, PASSPHRASE, config=QUICK) as store:
        first = EventWriter(store)
        with held_by_another(path):
            first.queue([event("spoof_detected")])
            assert first.flush() == ()
        second = EventWriter(store)  # a second kiosk process starting meanwhile
        assert [e.decision for e in second.flush()] == ["spoof_detected"]
        assert [e.decision for e in first.flush(now=True)] == ["spoof_detected"]
        assert first.problem is None and store.access.count() == 1
        first.close()
        second.close()


def test_a_decision_waiting_when_its_person_is_erased_is_written_as_their_others_stand(
    tmp_path: Path,
) -> None:
    """An erasure applied to the store (``jaga store erase``, one pulled by a sync) while a
    decision of that person waits in the journal: the next start writes it as the store
    keeps the person's decisions written before the erasure, their uid alone (an erasure
    leaves access events as they are), dated when it was decided, before the erasure; the
    person stays erased."""
    clock = FakeClock(datetime.now(UTC))
    with Store.create(tmp_path / "k.db", PASSPHRASE, clock=clock, config=QUICK) as store:
        person = enrol(store, clock, "B-001", 1)
        decided = AccessEvent(clock.now(), "gate", "k1", "verified", person, 0.95, 0.8)
        waiting = AccessEvent(clock.now(), "gate", "k1", "verified", person, 0.96, 0.8)
        store.access.record(decided)
        journal = DecisionJournal(store)
        journal.keep([waiting])
        journal.close()  # the kiosk killed with it waiting
        clock.advance(minutes=5)
        assert store.people.erase(person, operator="cli:ops", reason="asked to be forgotten")
        writer = EventWriter(store)  # the kiosk's next start
        assert writer.flush() == (waiting,)
        writer.close()
        kept = store.access.between("0000", "9999")
        assert [(e.event_uid, e.person_uid) for e in kept] == [
            (decided.event_uid, person),
            (waiting.event_uid, person),
        ]
        erased_at = next(e.at for e in store.audit.entries() if e.action == "person.erased")
        assert kept[1].occurred_at < erased_at
        assert store.people.count() == 0 and store.audit.verify().ok


def test_a_journal_set_aside_is_deleted_by_retention_once_the_window_has_passed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The kiosk names the file it sets aside with the store's clock, which retention goes
    by: kept the store's window from then, for whoever has the old key, then deleted."""
    with Store.create(tmp_path / "other.db", Passphrase("another"), config=QUICK) as other:
        journal = DecisionJournal(other)
        journal.keep([event()])
        journal.close()
    path = tmp_path / "k.db"
    journal_path(tmp_path / "other.db").rename(journal_path(path))
    clock = FakeClock(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    with Store.create(path, PASSPHRASE, clock=clock, config=QUICK) as store:
        EventWriter(store).close()  # the kiosk's start sets it aside
        caplog.clear()  # the error it logs, which this test expects
        (aside,) = tmp_path.glob("k.db.kiosk-waiting.unreadable-*")
        clock.advance(days=DEFAULT_KEEP_DAYS - 1)
        assert store.retention.apply(DEVICE).kiosk_journals == 0 and aside.exists()
        clock.advance(days=1, seconds=1)
        assert store.retention.apply(DEVICE).kiosk_journals == 1
        assert not list(tmp_path.glob("k.db.kiosk-waiting*"))


def _journal_under_another_key(tmp_path: Path, store_path: Path) -> None:
    """A journal another key wrote, put where the kiosk of ``store_path`` looks for its own."""
    other_path = tmp_path / "other.db"
    for name in tmp_path.glob("other.db*"):
        name.unlink()
    with Store.create(other_path, Passphrase("another"), config=QUICK) as other:
        journal = DecisionJournal(other)
        journal.keep([event()])
        journal.close()
    journal_path(other_path).rename(journal_path(store_path))


@pytest.mark.parametrize("hard_links", [True, False], ids=["links", "no-hard-links"])
def test_two_journals_set_aside_in_the_same_second_are_both_kept_and_both_go(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    hard_links: bool,
) -> None:
    """Two starts in one second (a kiosk restarted at once, two kiosk processes) each find a
    journal under another key: the second set-aside does not replace the first, ``jaga store
    info`` names both, and retention deletes both once the window has passed; on a
    filesystem without hard links (FAT, exFAT) too."""
    if not hard_links:

        def no_link(source: object, target: object) -> None:
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    path = tmp_path / "k.db"
    clock = FakeClock(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    with Store.create(path, PASSPHRASE, clock=clock, config=QUICK) as store:
        for _ in range(2):  # the clock stands still: the same second
            _journal_under_another_key(tmp_path, path)
            EventWriter(store).close()  # the kiosk's start sets it aside
        caplog.clear()  # the errors it logs, which this test expects
        aside = sorted(tmp_path.glob("k.db.kiosk-waiting.unreadable-*"))
        assert len([p for p in aside if not p.name.endswith(("-wal", "-shm"))]) == 2
        info = "\n".join(describe(store)[0])
        assert all(p.name in info for p in aside if not p.name.endswith("-wal"))
        assert "after 2026-05-30 (the first sync then)" in info  # both from their names
        clock.advance(days=DEFAULT_KEEP_DAYS, seconds=1)
        assert store.retention.apply(DEVICE).kiosk_journals == 2
        assert not list(tmp_path.glob("k.db.kiosk-waiting*"))


def test_a_journal_set_aside_on_a_reset_clock_is_kept_the_window_once_the_clock_is_right(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A kiosk whose clock was reset (a flat RTC battery: 2000) sets a journal aside. Named by
    that clock, it was past the window at the first retention once the clock was set right,
    and deleted then: whoever has the old key had no time to open it. Named by the floor under
    the clock (here the release date), it is kept the window from that floor."""
    released = datetime(2026, 11, 1, tzinfo=UTC)
    path = tmp_path / "k.db"
    _journal_under_another_key(tmp_path, path)
    clock = FakeClock(datetime(2000, 1, 1, tzinfo=UTC), released=released)
    with Store.create(path, PASSPHRASE, clock=clock, config=QUICK) as store:
        EventWriter(store).close()  # the kiosk's start sets it aside
        caplog.clear()  # the error it logs, which this test expects
        (aside,) = tmp_path.glob("k.db.kiosk-waiting.unreadable-*")
        clock.moment = released + timedelta(days=1)  # the clock set right
        assert store.retention.apply(DEVICE).kiosk_journals == 0, "deleted with no window"
        assert aside.exists()
        clock.advance(days=DEFAULT_KEEP_DAYS, seconds=1)
        assert store.retention.apply(DEVICE).kiosk_journals == 1
        assert not list(tmp_path.glob("k.db.kiosk-waiting*"))
