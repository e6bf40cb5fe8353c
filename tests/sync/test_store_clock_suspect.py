"""An access event's ``clock_suspect`` (schema 19): why the kiosk's clock was judged wrong when
it decided. Kept as the event's other columns are (append-only, checked against its audit
entry by ``jaga audit verify``), exported with it, and absent from an event made with the
clock judged right, whose entry and payload are as they were before the flag."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import sqlcipher3

from main import main
from sync.store import AccessEvent, Passphrase, Store
from sync.store.export import export_access_events
from sync.store.schema.migrations import MIGRATIONS
from tests.sync.conftest import FAST, FakeClock
from tests.sync.test_store_event_audit import spoof, unguarded, verify

WHY = "this device's clock looks wrong: it reads 9800 days behind the release"


def flagged(store: Store, clock: FakeClock) -> str:
    clock.advance(seconds=30)
    event = AccessEvent(clock.now(), "gate", "kiosk-1", "not_matched", None, 0.2, 0.9)
    return store.access.record(AccessEvent(**{**vars(event), "clock_suspect": WHY})).event_uid


def test_the_flag_is_in_the_row_the_entry_and_the_payload_and_only_when_set(
    store: Store, clock: FakeClock
) -> None:
    plain, suspect = spoof(store, clock), flagged(store, clock)
    stored = {e.event_uid: e for e in store.access.between("", "\uffff")}
    assert (stored[plain].clock_suspect, stored[suspect].clock_suspect) == (None, WHY)
    payloads = {e.entity_uid: e.payload() for e in store.outbox.queued()}
    assert "clock_suspect" not in payloads[plain]  # as before the flag: the same content
    assert payloads[suspect]["clock_suspect"] == WHY
    details = [json.loads(e.details_json) for e in store.audit.entries()]
    (entry,) = [d for d in details if d.get("event_uid") == suspect]
    assert entry["clock_suspect"] == WHY
    with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
        store.database.connection.execute("UPDATE access_events SET clock_suspect = NULL")


def test_a_flag_added_or_removed_through_sql_is_reported(
    store: Store,
    clock: FakeClock,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plain, suspect = spoof(store, clock), flagged(store, clock)
    assert verify(db_path, monkeypatch, capsys)[0] == 0
    unguarded(store, "UPDATE access_events SET clock_suspect = 'x' WHERE event_uid = ?", plain)
    unguarded(store, "UPDATE access_events SET clock_suspect = NULL WHERE event_uid = ?", suspect)
    code, out = verify(db_path, monkeypatch, capsys)
    assert code == 1
    assert f"access event {plain} differs from its audit entry: clock_suspect 'x'" in out
    assert f"access event {suspect} differs from its audit entry: clock_suspect None" in out


def test_a_v18_store_upgrades_its_events_unflagged_and_guarded(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with Store.create(
        db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:18]
    ) as old:
        before = spoof(old, clock)
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        after = flagged(store, clock)
        stored = {e.event_uid: e.clock_suspect for e in store.access.between("", "\uffff")}
        assert stored == {before: None, after: WHY}
        assert store.audit.verify().ok
        with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
            store.database.connection.execute("UPDATE access_events SET clock_suspect = 'x'")


def test_the_attendance_export_says_which_times_are_not_to_be_trusted(
    store: Store, clock: FakeClock
) -> None:
    plain, suspect = spoof(store, clock), flagged(store, clock)
    out = io.StringIO()
    assert export_access_events(store.database, out) == 2
    rows = {row["event_uid"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}
    assert (rows[plain]["clock_suspect"], rows[suspect]["clock_suspect"]) == ("", WHY)


def test_audit_show_prints_the_flag_with_the_decision(
    store: Store,
    clock: FakeClock,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plain, suspect = spoof(store, clock), flagged(store, clock)
    verify(db_path, monkeypatch, capsys)  # sets the passphrase, as the other commands read it
    assert main(["audit", "show", "--json", "--db", str(db_path)]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    decisions = {e["details"]["event_uid"]: e["details"] for e in shown
                 if e["action"] == "access.decision"}  # fmt: skip
    assert decisions[suspect]["clock_suspect"] == WHY
    assert "clock_suspect" not in decisions[plain]
    assert main(["audit", "show", "--db", str(db_path)]) == 0
    assert f'"clock_suspect":"{WHY}"' in capsys.readouterr().out
