"""Access events are append-only, and ``jaga audit verify`` checks each against its entry.

The attendance export and the sync read ``access_events``, not the chain: a printed photo
recorded as ``spoof_detected`` and rewritten through SQL as ``verified`` for an enrolled
person must be refused by the store, and caught by the verify once the guards are dropped.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlcipher3

from main import main
from sync.store import AccessEvent, Passphrase, Store
from sync.store.retention import DEFAULT_KEEP_DAYS
from sync.store.schema.migrations import LATEST_VERSION, MIGRATIONS, schema_version
from tests.sync.conftest import FAST, FakeClock, enrol
from tests.sync.test_store_retention import DEVICE, anchor, decide, events, push, sequences

PASSPHRASE = "correct horse battery staple"
GUARDS = ("access_events_no_update", "access_events_no_delete", "access_events_append_only")


def spoof(store: Store, clock: FakeClock) -> str:
    """A printed photo held up to the kiosk: recorded as a spoof, no one recognised."""
    clock.advance(seconds=30)
    event = AccessEvent(clock.now(), "gate", "kiosk-1", "spoof_detected", None, None, 0.03)
    return store.access.record(event).event_uid


def unguarded(store: Store, sql: str, *parameters: object) -> None:
    """What someone holding the key could do: drop the guards, then write the table."""
    connection = store.database.connection
    for name in GUARDS:
        connection.execute(f"DROP TRIGGER IF EXISTS {name}")
    connection.execute(sql, parameters)


def verify(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    code = main(["audit", "verify", "--db", str(db_path)])
    return code, capsys.readouterr().out


def test_sql_cannot_edit_an_access_event(store: Store, clock: FakeClock) -> None:
    person = enrol(store, clock, "B-1", seed=1)
    uid = spoof(store, clock)
    connection = store.database.connection
    with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
        connection.execute(
            "UPDATE access_events SET decision = 'verified', person_uid = ? WHERE event_uid = ?",
            (person, uid),
        )
    assert [e.decision for e in store.access.between("0000", "9999")] == ["spoof_detected"]


def test_sql_cannot_replace_or_delete_an_access_event_the_hub_does_not_hold(
    store: Store, clock: FakeClock
) -> None:
    uid = spoof(store, clock)
    connection = store.database.connection
    row = connection.execute("SELECT * FROM access_events WHERE event_uid = ?", (uid,)).fetchone()
    with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
        connection.execute(
            "INSERT OR REPLACE INTO access_events (event_uid, occurred_at, site, device,"
            " decision, created_at) VALUES (?, ?, 'gate', 'kiosk-1', 'verified', ?)",
            (uid, row[2], row[9]),
        )
    with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
        connection.execute("DELETE FROM access_events WHERE event_uid = ?", (uid,))
    push(store)  # the hub holds it now: retention may delete it, so SQL may too
    connection.execute("DELETE FROM access_events WHERE event_uid = ?", (uid,))
    assert events(store) == set()


def test_the_sync_stamps_of_an_event_still_change(store: Store, clock: FakeClock) -> None:
    uid = spoof(store, clock)
    push(store)  # stamps held_since
    store.database.connection.execute(
        "UPDATE access_events SET for_hub = 'old-hub', held_since = NULL WHERE event_uid = ?",
        (uid,),
    )
    assert store.database.query("SELECT for_hub FROM access_events") == [("old-hub",)]


def test_an_edited_access_event_is_caught_by_audit_verify(
    store: Store,
    clock: FakeClock,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    person = enrol(store, clock, "B-1", seed=1)
    uid = spoof(store, clock)
    assert verify(db_path, monkeypatch, capsys)[0] == 0
    unguarded(
        store,
        "UPDATE access_events SET decision = 'verified', person_uid = ?, similarity = 0.95,"
        " liveness = 0.97 WHERE event_uid = ?",
        person,
        uid,
    )
    assert not store.audit.verify().ok
    code, out = verify(db_path, monkeypatch, capsys)
    assert code == 1, out
    assert f"access event {uid}" in out
    assert "decision 'verified' (entry 3: 'spoof_detected')" in out
    assert f"person_uid '{person}' (entry 3: None)" in out
    assert "liveness 0.97 (entry 3: 0.03)" in out
    assert "audit chain ok" not in out
    out_csv = db_path.parent / "events.csv"
    assert (
        main(["store", "export", "access-events", "--out", str(out_csv), "--db", str(db_path)]) == 0
    )
    assert "WARNING: 1 access event in the store not as the audit chain" in capsys.readouterr().err
    assert f'"verified","{person}"' in out_csv.read_text()  # written as the table holds it


def test_an_event_added_outside_jaga_is_caught(
    store: Store,
    clock: FakeClock,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    person = enrol(store, clock, "B-1", seed=1)
    spoof(store, clock)
    unguarded(
        store,
        "INSERT INTO access_events (event_uid, occurred_at, site, device, decision, person_uid,"
        " created_at) VALUES ('forged', '2026-03-01T09:00:00.000000Z', 'gate', 'kiosk-1',"
        " 'verified', ?, '2026-03-01T09:00:00.000000Z')",
        person,
    )
    code, out = verify(db_path, monkeypatch, capsys)
    assert code == 1, out
    assert "access event forged has no access.decision audit entry" in out


def test_retention_of_events_and_entries_is_no_false_alarm(
    store: Store,
    clock: FakeClock,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    synced = [decide(store, clock) for _ in range(3)]  # entries 2-4
    push(store)
    quarantined = decide(store, clock)  # entry 5: the hub refused it, so it stays
    key = store.outbox.queued()[-1].idempotency_key
    store.outbox.mark_sent([key])
    store.outbox.mark_rejected(key, "refused")
    kept_entry = decide(store, clock)  # entry 6: acknowledged, its entry past the anchor
    push(store)
    anchor(store, 5)
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    recent = spoof(store, clock)

    report = store.retention.apply(DEVICE)

    assert (report.access_events, report.audit_entries) == (4, 5)
    assert events(store) == {quarantined, recent}  # quarantined outlives its entry
    assert sequences(store)[0] == 6  # kept_entry's: its event is gone
    assert kept_entry in store.audit.entries()[0].details_json
    assert not {*synced, kept_entry} & events(store)
    assert store.audit.verify().ok
    code, out = verify(db_path, monkeypatch, capsys)
    assert code == 0, out
    unguarded(store, "UPDATE access_events SET decision = 'verified' WHERE event_uid = ?", recent)
    code, out = verify(db_path, monkeypatch, capsys)
    assert code == 1 and f"access event {recent}" in out


def test_a_v17_store_upgrades_with_its_events_kept_and_guarded(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with Store.create(
        db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:17]
    ) as old:
        held, waiting = spoof(old, clock), spoof(old, clock)
        push(old, acknowledge=1)
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION == 20
        assert events(store) == {held, waiting}
        assert store.audit.verify().ok
        connection = store.database.connection
        with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
            connection.execute("UPDATE access_events SET decision = 'verified'")
        with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
            connection.execute("DELETE FROM access_events WHERE event_uid = ?", (waiting,))
        connection.execute("DELETE FROM access_events WHERE event_uid = ?", (held,))
        assert events(store) == {waiting}
