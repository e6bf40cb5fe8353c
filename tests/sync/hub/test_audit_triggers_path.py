"""The anchored checkpoint's triggers (0030, 0035) read the audit tables from the schema the
hub migrated into, whatever the session's ``search_path``: a hub whose tables live in a
schema named after its role (PostgreSQL 15's advice, ``"$user", public``), restored by the
superuser, and a temporary table named as one of them, which PostgreSQL would otherwise
search first."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections

from sync.store import Store
from tests.sync.conftest import FakeClock
from tests.sync.hub.chainkit import checkpointed_chain
from tests.sync.hub.hubfixtures import SERVER
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_audit_anchor import decide, links, send
from tests.sync.hub.test_audit_retention import (
    _checkpoint,
    _pg,
    _purge_later,
    _restored_into_new_database,
)

ALIAS = "role_schema"
FUNCTIONS = "SELECT proname, proconfig FROM pg_proc WHERE proname IN" + (
    " ('hub_audit_checkpoint_forward', 'hub_audit_entry_prefix_only') ORDER BY proname"
)


@pytest.fixture
def role_schema(hub_database: str) -> Iterator[tuple[str, str]]:
    """The alias of a new database on the session's server whose hub role keeps its tables
    in a schema of its own name (the default ``search_path``, ``"$user", public``, finds
    it first), and that role's name."""
    role = f"jaga_{uuid.uuid4().hex[:8]}"
    name = f"role_schema_{uuid.uuid4().hex[:8]}"
    SERVER.create_database(name)
    with psycopg.connect(SERVER.url(name), autocommit=True) as server:
        server.execute(f"CREATE ROLE {role} LOGIN")
        server.execute(f"CREATE SCHEMA {role} AUTHORIZATION {role}")
        server.execute("CREATE EXTENSION IF NOT EXISTS vector")
    config = {**copy.deepcopy(connections.settings[DEFAULT_DB_ALIAS]), "NAME": name}
    settings.DATABASES[ALIAS] = connections.settings[ALIAS] = {**config, "USER": role}
    try:
        yield ALIAS, role
    finally:
        connections[ALIAS].close()
        del connections[ALIAS]
        for databases in (settings.DATABASES, connections.settings):
            databases.pop(ALIAS, None)


def _configs(alias: str) -> list[tuple[str, list[str] | None]]:
    with connections[alias].cursor() as cursor:
        cursor.execute(FUNCTIONS)
        return list(cursor.fetchall())


def test_a_hub_in_its_roles_schema_restored_data_only_is_refused_in_words(
    role_schema: tuple[str, str], tmp_path: Path
) -> None:
    """The functions run on the schema the tables resolved to when the hub migrated, not on
    ``"$user"``, which inside a restore means the superuser restoring: the data-only pass
    gets the refusal that names the restore to use, not "relation does not exist"; the
    whole dump restores. Migrating back to 0034 resets the path, forward sets it again."""
    alias, role = role_schema
    call_command("migrate", database=alias, interactive=False, verbosity=0)
    checkpointed_chain(alias)
    connections[alias].close()
    dump = tmp_path / "hub.dump"
    name = connections.settings[alias]["NAME"]
    done = _pg("pg_dump", "-Fc", "-f", str(dump), "-d", SERVER.url(name))
    assert done.returncode == 0, done.stderr
    _, refused = _restored_into_new_database(
        dump, ("--schema-only",), ("--data-only", "--single-transaction")
    )
    assert "a data-only restore" in refused, refused
    _, failed = _restored_into_new_database(dump, ("--single-transaction",))
    assert failed == "", failed
    fixed = [f"search_path={role}, pg_temp"]
    expected = [("hub_audit_checkpoint_forward", fixed), ("hub_audit_entry_prefix_only", fixed)]
    assert _configs(alias) == expected
    call_command("migrate", "hub", "0034_decision_purge_held_chains", database=alias,
                 interactive=False, verbosity=0)  # fmt: skip
    assert [config for _, config in _configs(alias)] == [None, None]
    call_command("migrate", database=alias, interactive=False, verbosity=0)
    assert _configs(alias) == expected


def test_a_temporary_table_cannot_stand_in_for_the_checkpoint(
    api: Api, store: Store, clock: FakeClock, hub_database: str
) -> None:
    """A session's temporary table named as the checkpoints' claims one far ahead: the
    trigger still reads the real checkpoint, and refuses the entries past it."""
    decide(store, clock, 4)
    assert send(api, links(store)).status_code == 200
    _purge_later()
    checkpoint = _checkpoint(api)
    with psycopg.connect(hub_database) as session:
        session.execute(
            "CREATE TEMP TABLE hub_anchoredcheckpoint (device_id bigint, segment integer,"
            " sequence bigint)"
        )
        session.execute(
            "INSERT INTO hub_anchoredcheckpoint VALUES (%s, 0, 1000000)",
            [checkpoint.device_id],
        )
        try:
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                session.execute(
                    "DELETE FROM public.hub_anchoredauditentry WHERE device_id = %s",
                    [checkpoint.device_id],
                )
        finally:
            session.rollback()
