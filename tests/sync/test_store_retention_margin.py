"""Retention's margin and checks: a decision goes only once the hub has held it for the whole
window; a checkpoint is retention's only if its runs recorded it; a recorded head it deleted
cannot be checked here, which is not a break; runs go in small batches
(``sync.store.retention``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from main import main
from sync.client.audit import BREAK_NAME, Anchored, anchored_name
from sync.client.state import put_values
from sync.store import Passphrase, Store
from sync.store import retention as retention_module
from sync.store.cli_audit import OUT_OF_REACH
from sync.store.retention import DEFAULT_KEEP_DAYS
from sync.store.schema.migrations import MIGRATIONS
from tests.sync.conftest import FAST, FakeClock
from tests.sync.test_store_audit import fill_chain
from tests.sync.test_store_retention import DEVICE, anchor, decide, events, push, sequences

PASSPHRASE_ENV = ("JAGA_STORE_PASSPHRASE", "correct horse battery staple")


def test_decisions_delivered_after_months_offline_stay_for_the_window_after(
    store: Store, clock: FakeClock
) -> None:
    """A kiosk back after 100 days offline: the sync that delivers its decisions must not
    delete them, or a hub restored from last night's backup has them nowhere."""
    made = {decide(store, clock) for _ in range(5)}
    clock.advance(days=100)  # offline all this time; now it syncs
    push(store)
    anchor(store, store.audit.head()[0])

    report = store.retention.apply(DEVICE)

    assert (report.access_events, report.audit_entries) == (0, 0)
    assert events(store) == made and sequences(store)[0] == 1
    clock.advance(days=DEFAULT_KEEP_DAYS - 1)  # the hub has held them not quite the window
    assert store.retention.apply(DEVICE).access_events == 0
    clock.advance(days=2)
    report = store.retention.apply(DEVICE)
    assert report.access_events == 5 and report.audit_entries > 0
    assert store.audit.verify().ok


def test_a_hub_that_went_back_holds_the_entries_again_from_when_it_says_so(
    store: Store, clock: FakeClock
) -> None:
    """The hub was restored from a backup and now holds less: the receipts past what it
    holds now are dropped, and the entries count as held from when it anchors them again."""
    fill_chain(store, clock)  # 1..7
    anchor(store, 7)
    store.retention.apply(DEVICE)  # the sync that got the receipt notes it
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    anchor(store, 3)  # the restored hub holds 1..3 only, from now
    assert store.retention.apply(DEVICE).audit_entries == 0
    anchor(store, 7)  # within a day of the last receipt: counted from a day after it
    clock.advance(days=DEFAULT_KEEP_DAYS + 2)
    assert store.retention.apply(DEVICE).audit_entries == 6


def test_a_prefix_deleted_by_plain_sql_is_reported_not_called_retention(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fill_chain(store, FakeClock())  # 1..7, minutes old, never anchored
    rows = {e.sequence: e.entry_hash for e in store.audit.entries()}
    connection = store.database.connection
    connection.execute(
        "UPDATE audit_checkpoint SET sequence = 6, entry_hash = ?, at = 'whenever'", (rows[6],)
    )
    connection.execute("DELETE FROM audit_log WHERE sequence <= 6")

    report = store.audit.verify()

    assert not report.ok and report.first_bad_sequence == 1
    assert "entries 1-6 are not on this device" in (report.problem or "")
    assert not store.integrity().ok
    monkeypatch.setenv(*PASSPHRASE_ENV)
    assert main(["audit", "verify", "--db", str(db_path)]) == 1
    out = capsys.readouterr().out
    assert "BROKEN at entry 1" in out and "deleted by retention" not in out


def test_a_checkpoint_past_the_hubs_receipt_is_reported(store: Store, clock: FakeClock) -> None:
    """A real retention run recorded the checkpoint, but someone moved it further by SQL."""
    fill_chain(store, clock)
    for _ in range(3):
        decide(store, clock)  # 8..10
    anchor(store, 4)
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    assert store.retention.apply(DEVICE).audit_entries == 4
    assert store.audit.verify().ok
    rows = {e.sequence: e.entry_hash for e in store.audit.entries()}
    connection = store.database.connection
    connection.execute("UPDATE audit_checkpoint SET sequence = 8, entry_hash = ?", (rows[8],))
    connection.execute("DELETE FROM audit_log WHERE sequence <= 8")
    report = store.audit.verify()
    assert not report.ok and "entries 1-8 are not on this device" in (report.problem or "")


def test_a_recorded_head_retention_deleted_cannot_be_checked_here_which_is_not_broken(
    store: Store,
    clock: FakeClock,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill_chain(store, clock)
    recorded = store.audit.head()  # recorded off the device, as the README advises
    for _ in range(3):
        decide(store, clock)
    anchor(store, 10)
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    decide(store, clock)
    store.retention.apply(DEVICE)
    monkeypatch.setenv(*PASSPHRASE_ENV)

    head = f"{recorded[0]}:{recorded[1]}"
    rc = main(["audit", "verify", "--db", str(db_path), "--head", head])

    out = capsys.readouterr().out
    assert rc == OUT_OF_REACH != 1
    assert "cannot be checked here, check it on the hub" in out and "BROKEN" not in out


def test_a_run_goes_in_small_batches_each_recorded_and_stops_at_its_time_limit(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention_module, "BATCH", 2)
    monkeypatch.setattr(retention_module, "RUN_SECONDS", 0.0)  # one batch of each kind a run
    monkeypatch.setattr(retention_module, "PAUSE_SECONDS", 0.0)
    fill_chain(store, clock)  # 1..7, five decisions
    push(store)
    anchor(store, 7)
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)

    first = store.retention.apply(DEVICE)

    assert (first.access_events, first.audit_entries, first.complete) == (2, 2, False)
    applied = [e for e in store.audit.entries() if e.action == "retention.applied"]
    assert [e.details_json for e in applied] == [
        '{"access_events":2,"audit_checkpoint":2,"audit_entries":2,"keep_days":90}'
    ]
    runs = [store.retention.apply(DEVICE) for _ in range(3)]  # unfinished: no day's wait
    assert [r.access_events for r in runs] == [2, 1, 0]
    assert runs[-1].complete and store.audit.checkpoint().sequence == 7  # what the hub held
    assert store.audit.verify().ok


def test_an_upgrade_counts_events_the_hub_already_holds_as_held_from_then(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with Store.create(
        db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:11]
    ) as v11:
        held = decide(v11, clock)
        # Not ``Outbox.queued``: a store of schema 11 has no ``for_hub`` to filter.
        rows = v11.database.query("SELECT idempotency_key FROM outbox WHERE state = 'queued'")
        keys = [str(key) for (key,) in rows]
        v11.outbox.mark_sent(keys)
        v11.outbox.mark_acknowledged(keys)  # as a release before 12 kept it
        queued = decide(v11, clock)
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        stamps = dict(store.database.query("SELECT event_uid, held_since FROM access_events"))
    assert stamps[held] is not None and stamps[queued] is None


def test_a_run_that_deletes_only_events_does_not_vouch_for_a_checkpoint_moved_by_sql(
    store: Store, clock: FakeClock
) -> None:
    fill_chain(store, clock)  # 1..7
    push(store)
    anchor(store, 7)  # a receipt past the checkpoint below...
    put_values(store.database, {BREAK_NAME: "1"}, clock.now())  # ...but no entry deleted
    rows = {e.sequence: e.entry_hash for e in store.audit.entries()}
    connection = store.database.connection
    connection.execute("UPDATE audit_checkpoint SET sequence = 3, entry_hash = ?", (rows[3],))
    connection.execute("DELETE FROM audit_log WHERE sequence <= 3")
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    assert store.retention.apply(DEVICE).access_events == 5
    report = store.audit.verify()
    assert not report.ok and "no retention run here records" in (report.problem or "")


def test_a_hub_gone_back_past_the_checkpoint_does_not_make_verify_call_it_removed(
    store: Store, clock: FakeClock
) -> None:
    fill_chain(store, clock)
    anchor(store, 7)
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    assert store.retention.apply(DEVICE).audit_entries == 6
    back = {anchored_name(DEVICE): Anchored(2, "0" * 64).stored()}  # a restored hub's word
    put_values(store.database, back, clock.now())
    clock.advance(days=1)
    store.retention.apply(DEVICE)
    assert store.audit.verify().ok


def test_a_receipt_noted_with_the_clock_years_ahead_does_not_stop_audit_retention(
    store: Store, clock: FakeClock
) -> None:
    """One sync with the clock ten years ahead (a bad RTC) noted a receipt dated then; once
    the clock was right, every later receipt fell 'within a day' of it and was never noted,
    so no audit entry was deleted again for ten years (found by review, round 2)."""
    fill_chain(store, clock)
    anchor(store, 7)
    clock.advance(days=3650)
    decide(store, clock)
    push(store)
    anchor(store, store.audit.head()[0])
    store.retention.apply(DEVICE)
    clock.advance(days=-3650)
    for _ in range(200):  # a kiosk that syncs daily, its clock right again
        clock.advance(days=1)
        decide(store, clock)
        push(store)
        anchor(store, store.audit.head()[0])
        store.retention.apply(DEVICE)
    assert store.audit.checkpoint().sequence > 7
    assert len(sequences(store)) < 200  # the older half went, as without the jump
