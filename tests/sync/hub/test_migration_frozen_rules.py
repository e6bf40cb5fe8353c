"""0018 (each species pack's schema, read from its archive's manifest) and 0043 (the hub's id,
derived from when its database was made) do what they did when they were written, whatever
the live code they were written from (``sync.species_packs.archive_schema``,
``sync.hub.identity.derived_id``) does later: each holds its own copy of that code, so a hub
migrated from nothing after the live code changes runs the migration every other hub ran.

Each migration is run as a hub upgrading runs it (``migrate`` from the state before it, on a
database of its own on the session's PostgreSQL) with the live rule changed, and its copy is
held to the live rule as it is today, for what the migration reads."""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from sync import species_pack_members, species_packs
from sync.hub import identity
from tests.sync.hub.migrated import migrated_to
from tests.sync.hub.test_migrations import upgraded
from tests.sync.hub.test_pack_schema import pack_of_schema

__all__ = ["upgraded"]  # the fixture, used by name

PACK_SCHEMA = ("hub", "0018_species_pack_schema")
BEFORE_PACK_SCHEMA = ("hub", "0017_person_retain_until")
HUB_IDENTITY = ("hub", "0043_hub_identity")
BEFORE_HUB_IDENTITY = ("hub", "0042_decision_purge_held_counted")


def _migrate(alias: str, target: tuple[str, ...]) -> None:
    call_command("migrate", *target, database=alias, interactive=False, verbosity=0)


def _older_hub(alias: str, before: tuple[str, str]) -> Any:
    """``alias`` migrated to ``before`` (auth's whole first: its permission names are only
    wide enough after its own later migrations); the models of that state."""
    migrated_to(alias, ("auth",), before)
    return MigrationLoader(connections[alias]).project_state(before).apps


# --- 0018: a pack's schema, read from its manifest --------------------------------------


def test_0018_reads_each_packs_schema_by_its_own_copy_not_the_live_reader(
    upgraded: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Change the live reader (here the manifest is read from another file) and a hub that
    runs 0018 after the change still gives a pack the schema every hub gave it before."""
    apps = _older_hub(upgraded, BEFORE_PACK_SCHEMA)
    data = pack_of_schema(tmp_path / "sized", 2)
    packs = apps.get_model("hub", "SpeciesPack").objects.using(upgraded)
    packs.create(version="sized", sha256="0" * 64, byte_size=len(data), data=data)
    monkeypatch.setattr(species_packs, "MANIFEST", "pack.json")
    assert species_packs.archive_schema(data) == 1  # the live rule reads another file now
    _migrate(upgraded, PACK_SCHEMA)
    with connections[upgraded].cursor() as cursor:
        cursor.execute("SELECT schema FROM hub_speciespack WHERE version = 'sized'")
        (schema,) = cursor.fetchone()
    assert schema == 2, f"0018 follows the live reader: the pack was given schema {schema}"


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def _manifest(body: Any) -> bytes:
    return _zip({"manifest.json": json.dumps(body).encode(), "species.json": b"{}"})


def _damaged_manifest() -> bytes:
    """An archive whose deflated manifest's bytes were changed after it was written."""
    data = bytearray(_zip({"manifest.json": json.dumps({"schema": 2, "pad": "x" * 400}).encode()}))
    start = 30 + len("manifest.json")  # past the first member's local header
    data[start + 5 : start + 15] = bytes(10)
    return bytes(data)


def _archives_0018_reads(tmp_path: Path) -> dict[str, bytes]:
    """What a hub holds in ``SpeciesPack.data``: archives as the hub publishes them, and
    anything older hubs took unchecked."""
    return {
        "published, schema 2": pack_of_schema(tmp_path / "two", 2),
        "published, schema 3": pack_of_schema(tmp_path / "three", 3, seed=1),
        "no schema": _manifest({"format": 1}),
        **{f"schema {body!r}": _manifest({"schema": body})
           for body in (1, 2, 7, 0, -1, True, False, "2", 2.0, None, [2], {"n": 2})},
        "a manifest not an object": _manifest([{"schema": 2}]),
        "a manifest not JSON": _zip({"manifest.json": b"schema: 2"}),
        "a manifest not UTF-8": _zip({"manifest.json": b'{"schema": 2, "n": "\xff"}'}),
        "no manifest": _zip({"species.json": b"{}"}),
        "a manifest in a folder only": _zip({"pack/manifest.json": b'{"schema": 2}'}),
        "stored, not deflated": _zip({"manifest.json": b'{"schema": 3}'}, zipfile.ZIP_STORED),
        "a damaged manifest": _damaged_manifest(),
        "not an archive": b"pack bytes",
        "nothing": b"",
    }  # fmt: skip


def test_0018s_copy_reads_what_the_live_reader_reads_today(tmp_path: Path) -> None:
    """0018's copy is the live reader as it was written, for every archive a hub may hold.
    Should this fail because the live reader changed, 0018 stays as it is: a new migration
    reads the packs again if a hub needs them read by the new rule."""
    migration = importlib.import_module(f"sync.hub.migrations.{PACK_SCHEMA[1]}")
    archives = _archives_0018_reads(tmp_path)
    frozen = {name: migration.archive_schema(data) for name, data in archives.items()}
    live = {name: species_packs.archive_schema(data) for name, data in archives.items()}
    assert frozen == live
    assert set(frozen.values()) == {1, 2, 3, 7}  # the cases read a schema, and fall back to 1
    assert migration.MANIFEST == species_packs.MANIFEST
    # An archive past the limit is read as 1; one that large is not made here.
    assert migration.MAX_ARCHIVE_BYTES == species_pack_members.MAX_ARCHIVE_BYTES


# --- 0043: the hub's id, from when its database was made --------------------------------


def test_0043_derives_the_id_by_its_own_copy_not_the_live_rule(
    upgraded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Change the live rule (here its uuid5 namespace) and a hub that runs 0043 after the
    change, restored from a backup made before the id existed, is still given the id it had:
    to its devices it is the same hub."""
    _older_hub(upgraded, BEFORE_HUB_IDENTITY)
    had = identity.derived_id(connections[upgraded])  # the id the rule gives it today
    monkeypatch.setattr(identity, "_NAMESPACE", UUID("00000000-0000-4000-8000-000000000043"))
    assert identity.derived_id(connections[upgraded]) != had  # the live rule changed
    _migrate(upgraded, HUB_IDENTITY)
    with connections[upgraded].cursor() as cursor:
        cursor.execute("SELECT uid FROM hub_hubidentity")
        (given,) = cursor.fetchone()
    assert given == had, f"0043 follows the live rule: the hub was given {given}, not {had}"


def test_0043s_copy_derives_the_id_the_live_rule_derives_today(upgraded: str) -> None:
    """0043's copy is the live rule as it was written, for what it reads: the ``applied`` time
    of the hub's first migration as the migration's connection (Django's) reads it back, with
    microseconds, recorded in any time zone; or none. The live rule derives the id of a hub
    whose row is missing, so it must stay the copy's: should this fail, change the live rule
    back, not 0043."""
    migration = importlib.import_module(f"sync.hub.migrations.{HUB_IDENTITY[1]}")
    connection = connections[upgraded]
    recorder = MigrationRecorder(connection)
    recorder.ensure_schema()  # django_migrations, without migrating anything
    none = (migration.derived_id(connection), identity.derived_id(connection))
    assert [made.version for made in none] == [4, 4] and len(set(none)) == 2  # random each
    summer_time = timezone(timedelta(hours=2))
    for applied in (
        datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 29, 4, 0, 0, tzinfo=summer_time),
        datetime(2026, 12, 1, 6, 7, 2, 123456, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
    ):
        recorder.Migration.objects.using(upgraded).update_or_create(
            app="hub", name="0001_initial", defaults={"applied": applied}
        )
        frozen, live = migration.derived_id(connection), identity.derived_id(connection)
        assert frozen == live, applied
        assert live.version == 5  # derived, not random
    assert migration.NAMESPACE == identity._NAMESPACE
