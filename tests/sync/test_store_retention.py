"""Retention on the device: old decisions the hub holds are deleted, the rest kept, and the
audit chain still verifies from its checkpoint (``sync.store.retention``)."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest
import sqlcipher3

from main import main
from sync.client.apply import apply_page
from sync.client.audit import BREAK_NAME, Anchored, anchored_at_name, anchored_name
from sync.client.state import put_values
from sync.protocol import RETENTION_REASON, Change
from sync.store import AccessEvent, OutboxState, Passphrase, Store, Verdict, backup, restore
from sync.store.clock import format_timestamp
from sync.store.resend import queue_again
from sync.store.retention import DEFAULT_KEEP_DAYS, REASON_NOT_KEPT
from sync.store.schema.migrations import MIGRATIONS
from sync.store.store_info import describe
from tests.sync.conftest import FAST, FakeClock, enrol
from tests.sync.pages import pages_holding
from tests.sync.test_store_audit import fill_chain, tamper

DEVICE = "7f6c4a1e-0000-4000-8000-000000000001"


def decide(store: Store, clock: FakeClock) -> str:
    clock.advance(seconds=30)
    event = AccessEvent(clock.now(), "gate", "kiosk-1", "not_matched", None, 0.2)
    return store.access.record(event).event_uid


def push(store: Store, *, acknowledge: int | None = None) -> None:
    """Send every queued entry; the hub acknowledges the first ``acknowledge`` (all: None),
    and the rest wait to be sent again."""
    # Read here, not with ``Outbox.queued``: a store of schema 13 has no ``for_hub`` to filter.
    rows = store.database.query(
        "SELECT idempotency_key FROM outbox WHERE state = 'queued' ORDER BY sequence"
    )
    keys = [str(key) for (key,) in rows]
    store.outbox.mark_sent(keys)
    acknowledged = keys if acknowledge is None else keys[:acknowledge]
    store.outbox.settle(
        Verdict(acknowledged=tuple(acknowledged), requeued=tuple(keys[len(acknowledged) :]))
    )


def anchor(store: Store, through: int) -> None:
    """What a sync keeps once the hub holds the chain up to entry ``through``."""
    digest = next(e.entry_hash for e in store.audit.entries(0, 10_000) if e.sequence == through)
    values = {
        anchored_name(DEVICE): Anchored(through, digest).stored(),
        anchored_at_name(DEVICE): format_timestamp(store.clock.now()),
    }
    put_values(store.database, values, store.clock.now())


def events(store: Store) -> set[str]:
    return {row[0] for row in store.database.query("SELECT event_uid FROM access_events")}


def sequences(store: Store) -> list[int]:
    return [e.sequence for e in store.audit.entries(0, 10_000)]


def test_old_acknowledged_events_go_and_unacknowledged_ones_stay(
    store: Store, clock: FakeClock
) -> None:
    synced = {decide(store, clock) for _ in range(3)}
    push(store)
    unsynced = [decide(store, clock) for _ in range(2)]
    push(store, acknowledge=0)  # sent, no answer: queued again
    quarantined = decide(store, clock)
    key = store.outbox.queued()[-1].idempotency_key
    store.outbox.mark_sent([key])
    store.outbox.mark_rejected(key, "refused")
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    recent = decide(store, clock)

    report = store.retention.apply(DEVICE)

    assert report.access_events == 3
    assert events(store) == {*unsynced, quarantined, recent}
    assert not events(store) & synced
    push(store)  # the two retried are acknowledged now, 91 days after they were made
    clock.advance(days=1)
    assert store.retention.apply(DEVICE).access_events == 0  # the hub has held them a day
    clock.advance(days=DEFAULT_KEEP_DAYS)
    assert store.retention.apply(DEVICE).access_events == 3  # and now for the whole window
    assert events(store) == {quarantined}  # the two retried, and recent, pushed with them


def test_a_device_that_never_synced_keeps_everything(store: Store, clock: FakeClock) -> None:
    kept = {decide(store, clock) for _ in range(3)}
    chain = sequences(store)
    clock.advance(days=400)
    report = store.retention.apply(None)
    assert (report.access_events, report.audit_entries) == (0, 0)
    assert events(store) == kept
    assert sequences(store) == chain


def test_keep_days_zero_keeps_for_ever(store: Store, clock: FakeClock) -> None:
    store.retention.set_keep_days(0, operator="cli:ops")
    assert store.audit.entries()[-1].action == "retention.set"
    kept = {decide(store, clock)}
    push(store)
    anchor(store, sequences(store)[-1])
    clock.advance(days=4000)
    assert store.retention.apply(DEVICE, force=True).access_events == 0
    assert events(store) == kept and sequences(store)[0] == 1


def test_an_audit_prefix_the_hub_holds_goes_and_the_chain_verifies_from_it(
    store: Store, clock: FakeClock
) -> None:
    fill_chain(store, clock)  # created, enrolled, five decisions: entries 1..7
    anchor(store, 6)  # the hub holds 1..6
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    decide(store, clock)  # entry 8, within the window
    head = store.audit.head()

    report = store.retention.apply(DEVICE)

    assert report.audit_entries == 6
    checkpoint = store.audit.checkpoint()
    assert checkpoint.sequence == 6
    assert sequences(store) == [7, 8, 9]  # 9: retention.applied
    assert store.audit.entries()[-1].action == "retention.applied"
    assert store.audit.entries()[0].prev_hash == checkpoint.entry_hash
    verified = store.audit.verify()
    assert verified.ok and verified.entries == 3
    assert store.audit.verify(head).ok  # a head recorded before is still found
    assert store.audit.verify((6, checkpoint.entry_hash)).ok  # at the checkpoint: its hash
    older = store.audit.verify((3, "0" * 64))  # deleted: only the hub can check it now
    assert older.ok and "before the checkpoint" in (older.out_of_reach or "")
    assert store.integrity().ok


def test_the_head_and_entries_not_held_or_in_the_window_stay(
    store: Store, clock: FakeClock
) -> None:
    fill_chain(store, clock)  # 1..7
    anchor(store, 7)  # the hub holds all, the head too
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    assert store.retention.apply(DEVICE).audit_entries == 6
    assert sequences(store)[0] == 7  # the head is always kept
    for _ in range(3):
        decide(store, clock)  # entries 9..11, within the window
    anchor(store, 11)
    clock.advance(days=1)
    assert store.retention.apply(DEVICE).audit_entries == 1  # 7; 8, retention.applied, is new
    assert sequences(store)[0] == 8
    assert store.audit.verify().ok


def test_no_audit_entry_goes_while_the_hub_reports_a_break(store: Store, clock: FakeClock) -> None:
    fill_chain(store, clock)
    anchor(store, 6)
    put_values(store.database, {BREAK_NAME: "1"}, clock.now())
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    assert store.retention.apply(DEVICE).audit_entries == 0
    assert sequences(store)[0] == 1


def test_an_entry_tampered_with_after_the_checkpoint_is_still_found(
    store: Store, clock: FakeClock
) -> None:
    fill_chain(store, clock)
    anchor(store, 4)
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    store.retention.apply(DEVICE)
    assert sequences(store)[0] == 5
    tamper(
        store,
        "UPDATE audit_log SET details = replace(details, 'not_matched', 'verified')"
        " WHERE sequence = 6",
    )
    report = store.audit.verify()
    assert report.first_bad_sequence == 6 and "edited" in (report.problem or "")
    store.database.connection.execute("DELETE FROM audit_log WHERE sequence = 5")
    report = store.audit.verify()
    assert report.first_bad_sequence == 5 and "missing" in (report.problem or "")


def test_the_triggers_refuse_anything_but_deleting_up_to_the_checkpoint(
    store: Store, clock: FakeClock
) -> None:
    fill_chain(store, clock)
    connection = store.database.connection

    def refused(sql: str, *parameters: object) -> None:
        with pytest.raises(sqlcipher3.IntegrityError, match="audit"):
            connection.execute(sql, parameters)

    refused("DELETE FROM audit_log WHERE sequence = 1")  # nothing deleted by retention yet
    rows = {e.sequence: e.entry_hash for e in store.audit.entries()}
    move = "UPDATE audit_checkpoint SET sequence = ?, entry_hash = ?"
    refused(move, 3, "f" * 64)  # not the entry's hash
    refused(move, 7, rows[7])  # the head
    refused("INSERT OR REPLACE INTO audit_checkpoint VALUES (1, 3, ?, NULL)", rows[3])
    refused("DELETE FROM audit_checkpoint")
    anchor(store, 5)
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    store.retention.apply(DEVICE)
    refused("DELETE FROM audit_log WHERE sequence = 7")  # after the checkpoint: not a prefix
    refused("DELETE FROM audit_log")
    refused(move, 4, rows[4])  # back: deleted, and behind it
    assert sequences(store)[:2] == [6, 7]
    assert store.audit.verify().ok


def test_store_info_shows_what_is_kept_and_since_when(store: Store, clock: FakeClock) -> None:
    fill_chain(store, clock)
    push(store)
    anchor(store, 5)
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    decide(store, clock)
    store.retention.apply(DEVICE)
    lines, ok = describe(store)
    text = "\n".join(lines)
    assert ok
    assert f"retention    {DEFAULT_KEEP_DAYS} days (the default; " in text
    assert "access       1 event, since 2026-05-31" in text
    assert "audit        4 entries kept, from entry 6 (1-5 not on this device" in text
    assert "integrity    ok (quick_check + audit chain)" in text


def test_jaga_store_retention_sets_the_window_and_audit_verify_says_where_it_starts(
    store: Store,
    clock: FakeClock,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill_chain(store, clock)
    anchor(store, 5)
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    store.retention.apply(DEVICE)
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", "correct horse battery staple")
    assert main(["store", "retention", "--days", "30", "--db", str(db_path)]) == 0
    assert "kept 30 days" in capsys.readouterr().out
    assert store.retention.keep_days() == 30
    assert store.audit.entries()[-1].action == "retention.set"
    assert main(["audit", "verify", "--db", str(db_path)]) == 0
    assert "from entry 6 (1-5 deleted by retention" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["store", "retention", "--days", "-1", "--db", str(db_path)])


def test_a_v11_store_upgrades_with_its_whole_chain_and_the_same_guard(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with Store.create(
        db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:11]
    ) as v11:
        fill_chain(v11, clock)
        assert v11.audit.verify().ok and v11.audit.checkpoint().sequence == 0
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert store.audit.checkpoint().sequence == 0
        assert store.audit.verify().entries == 7
        with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
            store.database.connection.execute("DELETE FROM audit_log WHERE sequence = 1")
        anchor(store, 3)
        clock.advance(days=DEFAULT_KEEP_DAYS + 1)
        assert store.retention.apply(DEVICE).audit_entries == 3
        assert store.audit.verify().ok


# What an operator may type as an erasure's reason: personal data the ledger must not keep.
TYPED_REASON = "John Smith asked by email j@x"


def _erase_pulled_and_prune(
    store: Store, clock: FakeClock, erased_uid: str, reason: str = "erased at another gate"
) -> None:
    """A pulled erasure of ``erased_uid``; then retention deletes its audit entry."""
    tombstone = {"person_uid": erased_uid, "erased_at": format_timestamp(clock.now())}
    change = Change(
        cursor=7,
        entity="person",
        entity_uid=UUID(erased_uid),
        operation="tombstone",
        payload={**tombstone, "reason": reason},
        changed_at=clock.now(),
    )
    assert apply_page(store, "north-gate", [change], 7).erased == 1
    push(store)
    anchor(store, store.audit.head()[0])
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    decide(store, clock)
    push(store)
    assert store.retention.apply(DEVICE).audit_entries > 0
    erased_entries = store.database.query(
        "SELECT count(*) FROM audit_log WHERE action = 'person.erased'"
    )
    assert erased_entries[0][0] == 0  # the entry itself is gone: the record must not be


def test_an_erasure_pulled_before_the_checkpoint_is_still_carried_over_a_restore(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """A restore of a backup taken before a pulled erasure erases the person again, read
    from the audit trail: retention must not take that record with the entry it deletes."""
    erased_uid = enrol(store, clock, "GONE", seed=1)
    backup(store, tmp_path / "b.db", operator="admin")
    _erase_pulled_and_prune(store, clock, erased_uid)
    store.close()

    restore(tmp_path / "b.db", db_path, passphrase, operator="admin", force=True, config=FAST)

    with Store.open(db_path, passphrase, config=FAST) as restored:
        assert restored.people.count() == 0
        assert erased_uid not in {p.person_uid for p, _ in restored.people.listing()}


def test_a_hub_restored_is_told_again_of_a_pulled_erasure_retention_deleted_the_entry_of(
    store: Store, clock: FakeClock
) -> None:
    erased_uid = enrol(store, clock, "GONE", seed=1)
    _erase_pulled_and_prune(store, clock, erased_uid)
    with store.database.write() as connection:
        requeued = queue_again(connection, store.outbox, store.clock, "north-gate")
    assert requeued.erasures == 1
    tombstone = store.outbox.tombstones()[0]
    assert tombstone.entity_uid == erased_uid
    assert tombstone.payload()["reason"] == REASON_NOT_KEPT  # the ledger keeps none


def ledger(store: Store) -> tuple[list[str], list[tuple[object, ...]]]:
    """The erasure ledger's columns and rows."""
    cursor = store.database.connection.execute("SELECT * FROM erasure_ledger")
    return [column[0] for column in cursor.description], cursor.fetchall()


def test_the_erasure_ledger_keeps_who_was_erased_and_when_but_not_the_reason_typed(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """The ledger outlives every audit entry: the reason an operator typed (personal data,
    as often as not) stays only in the ``person.erased`` entry, until retention deletes it;
    a restore carries the erasure with a fixed reason."""
    erased_uid = enrol(store, clock, "GONE", seed=1)
    backup(store, tmp_path / "b.db", operator="admin")
    _erase_pulled_and_prune(store, clock, erased_uid, reason=TYPED_REASON)
    columns, rows = ledger(store)
    assert columns == ["sequence", "person_uid", "erased_at"]
    assert [row[1] for row in rows] == [erased_uid]
    store.close()

    restore(tmp_path / "b.db", db_path, passphrase, operator="admin", force=True, config=FAST)

    with Store.open(db_path, passphrase, config=FAST) as restored:
        assert erased_uid not in {p.person_uid for p, _ in restored.people.listing()}
        carried = [e for e in restored.audit.entries() if e.action == "person.erased"]
        assert [json.loads(e.details_json)["reason"] for e in carried] == [REASON_NOT_KEPT]


def test_a_v12_store_upgrades_with_the_reasons_in_its_erasure_ledger_cleared(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with Store.create(
        db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:12]
    ) as v12:
        erased_uid = enrol(v12, clock, "GONE", seed=1)
        assert v12.people.erase(erased_uid, operator="admin", reason=TYPED_REASON)
        with v12.database.write() as connection:  # what schema 12's retention kept
            connection.execute(
                "INSERT INTO erasure_ledger (sequence, person_uid, reason, erased_at)"
                " SELECT sequence, subject, json_extract(details, '$.reason'), at"
                " FROM audit_log WHERE action = 'person.erased'"
            )
        kept = v12.database.query("SELECT sequence, person_uid, erased_at FROM erasure_ledger")
        assert v12.database.query("SELECT reason FROM erasure_ledger") == [(TYPED_REASON,)]
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        columns, rows = ledger(store)
        assert columns == ["sequence", "person_uid", "erased_at"] and rows == kept
        assert store.database.owed_purge_since() is None  # the old rows left the WAL too
        connection = store.database.connection
        for sql in ("UPDATE erasure_ledger SET erased_at = ''", "DELETE FROM erasure_ledger"):
            with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
                connection.execute(sql)
        assert store.audit.verify().ok


def test_the_reason_typed_leaves_the_store_once_the_hub_took_the_erasure_and_retention_ran(
    store: Store, db_path: Path, clock: FakeClock
) -> None:
    """The reason an operator typed is needed until the hub has the erasure: the
    acknowledged tombstone the outbox keeps (read again after a hub restore) then holds
    ``REASON_NOT_KEPT``, and once retention deleted the ``person.erased`` entry, nothing in
    the file or its WAL holds the text."""
    erased_uid = enrol(store, clock, "GONE", seed=1)
    assert store.people.erase(erased_uid, operator="dpo", reason=TYPED_REASON)
    push(store)
    [tombstone] = store.outbox.tombstones()
    assert tombstone.payload() == {
        "person_uid": erased_uid,
        "erased_at": tombstone.payload()["erased_at"],
        "reason": REASON_NOT_KEPT,
    }
    anchor(store, store.audit.head()[0])
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    decide(store, clock)
    push(store)
    assert store.retention.apply(DEVICE).audit_entries > 0
    assert store.database.owed_purge_since() is None
    assert pages_holding(store.key, db_path, b"John Smith") == (0, 0)
    assert store.outbox.counts()[OutboxState.ACKNOWLEDGED] == 1  # still kept, still counted


def test_a_retention_erasure_keeps_its_reason_once_acknowledged(
    store: Store, clock: FakeClock
) -> None:
    """The retention purge's own reason names no one, and tells the pull that the hub kept
    the person after an early erasure here (``sync.client.apply``)."""
    enrol(store, clock, "OLD", seed=1)
    clock.advance(days=366)
    assert len(store.people.purge_expired()) == 1
    push(store)
    assert store.outbox.tombstones()[0].payload()["reason"] == RETENTION_REASON


OUTBOX_ONLY = "Jim Roe asked, as the outbox alone still says"


def test_a_v13_store_upgrades_with_the_reasons_of_its_acknowledged_erasures_cleared(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """Schema 14: the tombstones a release before acknowledged lose the reason typed; one
    still waiting for the hub and a retention erasure's keep theirs."""
    with Store.create(
        db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:13]
    ) as v13:
        sent = enrol(v13, clock, "SENT", seed=1)
        assert v13.people.erase(sent, operator="dpo", reason=TYPED_REASON)
        expired = enrol(v13, clock, "OLD", seed=2)
        with v13.database.write() as connection:  # their consent ended
            connection.execute(
                "UPDATE people SET retain_until = ? WHERE person_uid = ?",
                (format_timestamp(clock.now()), expired),
            )
        assert v13.people.purge_expired() == [expired]
        push(v13)
        waiting = enrol(v13, clock, "WAIT", seed=3)
        assert v13.people.erase(waiting, operator="dpo", reason="Jane Doe's lawyer asked")
        with v13.database.write() as connection:  # what a release before kept
            connection.execute(
                "UPDATE outbox SET payload = json_set(payload, '$.reason', ?) WHERE entity_uid = ?",
                (OUTBOX_ONLY, sent),
            )
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        reasons = {e.entity_uid: e.payload()["reason"] for e in store.outbox.tombstones()}
        assert reasons == {
            sent: REASON_NOT_KEPT,
            expired: RETENTION_REASON,
            waiting: "Jane Doe's lawyer asked",
        }
        assert store.database.owed_purge_since() is None
        assert pages_holding(store.key, db_path, OUTBOX_ONLY.encode()) == (0, 0)
