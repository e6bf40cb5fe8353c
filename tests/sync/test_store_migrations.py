"""Schemas 2 and 3: a real version-1 (or 2) store file opens migrated, its rows kept, with the sync
client's tables (empty, or kept as an older client made them) and the fish reviewer columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.client.state import ensure_schema, put_values, read_cursor, read_values
from sync.errors import SchemaVersionError
from sync.store import AccessEvent, Passphrase, Store
from sync.store.schema.migrations import LATEST_VERSION, MIGRATIONS, schema_version
from tests.sync.conftest import FAST, FakeClock, enrol

V1 = MIGRATIONS[:1]
BADGE = "B-1"
OBSERVATION_UID = "0b7f3c52-51c4-4e7e-9d7e-2f4f1c6b0a11"
# The tables as the sync client of schema 1 created them for itself on first use.
V1_CLIENT_TABLES = (
    """CREATE TABLE IF NOT EXISTS sync_state (
        name       TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS sync_uploads (
        photo_uid  TEXT PRIMARY KEY,
        outcome    TEXT NOT NULL CHECK (outcome IN ('done', 'skipped', 'failed')),
        detail     TEXT NOT NULL,
        at         TEXT NOT NULL
    )""",
)


def v1_store(db_path: Path, passphrase: Passphrase, clock: FakeClock) -> Store:
    """A store as Jaga with schema 1 made it: a person, a catch, an access event, an outbox."""
    store = Store.create(db_path, passphrase, clock=clock, config=FAST, migrations=V1)
    assert schema_version(store.database.connection) == 1
    person = enrol(store, clock, BADGE, seed=1)
    store.access.record(AccessEvent(clock.now(), "north-gate", "kiosk-1", "verified", person, 0.8))
    with store.database.write() as connection:  # the schema-1 columns, as its code wrote them
        connection.execute(
            "INSERT INTO fish_observations (observation_uid, observed_at, predictions,"
            " confirmed_species, needs_review, count, officer, notes, created_at, updated_at)"
            " VALUES (?, ?, ?, NULL, 1, 2, 'officer-7', 'v1 catch', ?, ?)",
            (OBSERVATION_UID, "2026-03-01T07:00:00.000000Z", '[["Gadus morhua", 0.6]]',
             "2026-03-01T07:00:00.000000Z", "2026-03-01T07:00:00.000000Z"),
        )  # fmt: skip
    return store


def tables(store: Store) -> set[str]:
    rows = store.database.query("SELECT name FROM sqlite_schema WHERE type = 'table'")
    return {str(row[0]) for row in rows}


def test_a_v1_store_opens_at_v2_with_its_rows_and_the_new_tables(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with v1_store(db_path, passphrase, clock) as old:
        assert not {"sync_state", "sync_uploads"} & tables(old)
        person = old.database.query("SELECT person_uid FROM people")[0][0]
        # Raw SQL: this code's Outbox reads the schema-3 column a v1 store does not have.
        outbox_before = old.database.query(
            "SELECT idempotency_key, payload FROM outbox ORDER BY sequence"
        )
        audit_before = old.audit.head()
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION
        assert {"sync_state", "sync_uploads"} <= tables(store)
        assert read_values(store.database) == {}
        assert store.people.get(person).external_id == BADGE
        assert store.access.count() == 1
        catch = store.observations.get(OBSERVATION_UID)
        assert (catch.notes, catch.count, catch.needs_review) == ("v1 catch", 2, True)
        assert (catch.reviewed_by, catch.reviewed_at) == (None, None)
        assert [(e.idempotency_key, e.payload_json) for e in store.outbox.entries()] == [
            tuple(row) for row in outbox_before
        ]
        assert {e.refusals for e in store.outbox.entries()} == {0}  # schema 3
        assert store.audit.head() == audit_before
        assert store.integrity().ok, store.integrity().problems
        ensure_schema(store.database)  # the client accepts it as it is
        put_values(store.database, {"pull_cursor.north-gate": "7"}, clock.now())
        assert read_cursor(store.database, "north-gate") == 7
        reviewed = store.observations.confirm(OBSERVATION_UID, "Gadus morhua", officer="o-2")
        assert reviewed.reviewed_by == "o-2"


def test_a_v1_store_that_had_synced_keeps_its_registration_cursor_and_uploads(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with v1_store(db_path, passphrase, clock) as old:
        with old.database.write() as connection:
            for statement in V1_CLIENT_TABLES:
                connection.execute(statement)
        put_values(
            old.database,
            {"device_token": "jaga_secret-token", "pull_cursor.north-gate": "42"},
            clock.now(),
        )
        with old.database.write() as connection:
            connection.execute(
                "INSERT INTO sync_uploads VALUES ('p-1', 'done', '', '2026-03-01T08:00:00.000000Z')"
            )
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION
        assert read_values(store.database)["device_token"] == "jaga_secret-token"
        assert read_cursor(store.database, "north-gate") == 42
        assert store.database.query("SELECT photo_uid, outcome FROM sync_uploads") == [
            ("p-1", "done")
        ]


def test_the_client_refuses_a_store_below_v2_with_a_clear_error(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    v1_store(db_path, passphrase, clock).close()
    refusal = pytest.raises(SchemaVersionError, match="schema version 1; syncing needs version 3")
    with Store.open(db_path, passphrase, config=FAST, migrations=V1) as old, refusal:
        ensure_schema(old.database)
    with Store.open(db_path, passphrase, config=FAST) as store:
        ensure_schema(store.database)
        assert schema_version(store.database.connection) == LATEST_VERSION


def test_a_new_store_is_made_at_v2(db_path: Path, passphrase: Passphrase) -> None:
    with Store.create(db_path, passphrase, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION
        assert {"sync_state", "sync_uploads"} <= tables(store)
        assert json.loads(store.audit.entries()[0].details_json)["schema_version"] == LATEST_VERSION


def test_a_v2_store_opens_at_v3_and_its_queued_entries_start_with_no_refusals(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with Store.create(db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:2]):
        pass
    with Store.open(db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:2]) as v2:
        enrol(v2, clock, BADGE, seed=1)  # read back below by key: this code selects refusals
        rows = v2.database.query("SELECT idempotency_key FROM outbox WHERE state = 'queued'")
        queued_before = sorted(str(row[0]) for row in rows)
        assert queued_before
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == 3
        queued = store.outbox.queued()
        assert sorted(e.idempotency_key for e in queued) == queued_before
        assert {e.refusals for e in queued} == {0}
        ensure_schema(store.database)
