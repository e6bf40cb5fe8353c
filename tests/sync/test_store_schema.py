"""The schema is versioned and migrated forward, one atomic step at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sync.errors import SchemaVersionError
from sync.store import Passphrase, Store
from sync.store.schema.migrations import (
    APPLICATION_ID,
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    run_script,
    schema_version,
    statements,
)
from tests.sync.conftest import FAST, FakeClock, enrol


def test_a_new_store_is_at_the_latest_version_with_our_application_id(store: Store) -> None:
    connection = store.database.connection
    assert schema_version(connection) == LATEST_VERSION
    assert connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_the_store_runs_in_wal_mode_with_full_sync_and_secure_delete(store: Store) -> None:
    connection = store.database.connection
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert connection.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_an_older_store_is_migrated_forward_keeping_its_rows(
    store: Store, db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    person_uid = enrol(store, clock, "B-1", seed=1)
    store.close()
    add_column = Migration(
        LATEST_VERSION + 1,
        "people get a preferred language",
        run_script("ALTER TABLE people ADD COLUMN language TEXT NOT NULL DEFAULT 'en';"),
    )
    with Store.open(db_path, passphrase, config=FAST, migrations=(*MIGRATIONS, add_column)) as s:
        assert schema_version(s.database.connection) == LATEST_VERSION + 1
        assert s.database.query("SELECT language FROM people") == [("en",)]
        assert s.people.get(person_uid).external_id == "B-1"


def test_a_failing_migration_leaves_the_store_at_the_old_version(
    store: Store, db_path: Path, passphrase: Passphrase
) -> None:
    store.close()

    def half_then_fail(connection: Any) -> None:
        connection.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("migration bug")

    broken = Migration(LATEST_VERSION + 1, "fails midway", half_then_fail)
    with pytest.raises(RuntimeError, match="migration bug"):
        Store.open(db_path, passphrase, config=FAST, migrations=(*MIGRATIONS, broken))
    with Store.open(db_path, passphrase, config=FAST) as reopened:
        assert schema_version(reopened.database.connection) == LATEST_VERSION
        tables = reopened.database.query("SELECT name FROM sqlite_schema WHERE name='half_done'")
        assert tables == []


def test_a_store_from_a_newer_jaga_is_refused(
    store: Store, db_path: Path, passphrase: Passphrase
) -> None:
    store.database.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    store.close()
    with pytest.raises(SchemaVersionError, match="newer than this Jaga"):
        Store.open(db_path, passphrase, config=FAST)


def test_trigger_bodies_are_kept_whole_when_splitting_statements() -> None:
    script = "CREATE TABLE t (x);\nCREATE TRIGGER g BEFORE DELETE ON t\nBEGIN SELECT 1; END;\n"
    assert statements(script) == [
        "CREATE TABLE t (x);",
        "CREATE TRIGGER g BEFORE DELETE ON t\nBEGIN SELECT 1; END;",
    ]
