"""The client's own rows in the device store: registration, pull cursor, uploads, last result.

They live in two tables of the store's schema, ``sync_state`` (named values) and
``sync_uploads`` (one outcome per photo), which the store's migration 2
(``sync.store.schema.v2``) creates; ``Store.open`` applies it to an older store, keeping the
rows a client of schema 1 had already made for itself.

Everything here lives inside the encrypted database, the device token included: it is as
protected as the gallery it gives access to, and it never sits in a plain config file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.client.config import Registration
from sync.errors import SchemaVersionError
from sync.store.clock import format_timestamp
from sync.store.database import Database

# The store schema the client needs: 2 has sync_state and sync_uploads, 3 the outbox's
# refusals, 4 and 5 the fish observations' pack_version and crop (pulled changes write them).
CLIENT_TABLES_VERSION = 5
REGISTRATION_NAMES = ("hub_url", "site", "device_id", "device_token")
FACE_IMAGES_NAME = "policy.send_face_images"
SPECIES_PACK_NAME = "species_pack.latest"


def ensure_schema(database: Database) -> None:
    """Check that the store has the client's tables; ``SchemaVersionError`` if it does not.

    It creates nothing: the tables belong to the store's schema now, and every store opened
    through ``Store.open`` or made by ``Store.create`` already has them. This catches a
    database reached some other way (or opened with an older migration list) with a clear
    error at the start instead of "no such table" in the middle of a sync.
    """
    version = int(database.query("PRAGMA user_version")[0][0])
    if version < CLIENT_TABLES_VERSION:
        raise SchemaVersionError(
            f"{database.path} has store schema version {version}; syncing needs version "
            f"{CLIENT_TABLES_VERSION} or later: open it with Store.open, which migrates it"
        )


def cursor_name(site: str) -> str:
    # Per site: a device moved to another site must not skip that site's history.
    return f"pull_cursor.{site}"


def read_values(database: Database) -> dict[str, str]:
    rows = database.query("SELECT name, value FROM sync_state")
    return {str(name): str(value) for name, value in rows}


def registration_values(database: Database) -> dict[str, str]:
    """What ``save_registration`` keeps: a new registration changes at least the token."""
    names = (*REGISTRATION_NAMES, FACE_IMAGES_NAME)
    return {name: value for name, value in read_values(database).items() if name in names}


def read_cursor(database: Database, site: str) -> int:
    rows = database.query("SELECT value FROM sync_state WHERE name = ?", (cursor_name(site),))
    return int(rows[0][0]) if rows else 0


def put_value(connection: Any, name: str, value: str, now: datetime) -> None:
    """Set one value inside the caller's write transaction."""
    connection.execute(
        "INSERT INTO sync_state (name, value, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
        " updated_at = excluded.updated_at",
        (name, value, format_timestamp(now)),
    )


def put_values(database: Database, values: Mapping[str, str], now: datetime) -> None:
    with database.write() as connection:
        for name, value in values.items():
            put_value(connection, name, value, now)


def save_registration(
    database: Database, registration: Registration, now: datetime, *, send_face_images: bool
) -> None:
    """Keep what registration returned; a new registration replaces the old one whole."""
    values = {
        "hub_url": registration.hub_url,
        "site": registration.site,
        "device_id": str(registration.device_id),
        "device_token": registration.token,
        FACE_IMAGES_NAME: "1" if send_face_images else "0",
    }
    put_values(database, values, now)


def record_upload(
    connection: Any, photo_uid: str, outcome: str, detail: str, now: datetime
) -> None:
    connection.execute(
        "INSERT INTO sync_uploads (photo_uid, outcome, detail, at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (photo_uid) DO UPDATE SET outcome = excluded.outcome,"
        " detail = excluded.detail, at = excluded.at",
        (photo_uid, outcome, detail[:1000], format_timestamp(now)),
    )


@dataclass(frozen=True)
class LastResult:
    """How the last sync of this store ended (for ``jaga sync status`` and the app).

    ``stopped_queued`` is set when a stop (the app closing) ended the last sync before it
    finished: the outbox entries it left queued. Such a sync neither succeeded nor failed,
    so it moves neither ``succeeded_at`` nor ``error``. Stores written before it was kept
    have no ``last.stopped`` value and read as not stopped, as they were meant.
    """

    attempted_at: str | None
    succeeded_at: str | None
    error: str | None
    stopped_queued: int | None = None

    @property
    def stopped(self) -> bool:
        return self.stopped_queued is not None

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> LastResult:
        error = values.get("last.error") or None
        stopped = values.get("last.stopped") or ""
        queued = int(stopped) if stopped.isascii() and stopped.isdigit() else None
        return cls(values.get("last.attempted_at"), values.get("last.succeeded_at"), error, queued)

    def outcome(self) -> str:
        """The last sync's outcome in words ("" before the first sync)."""
        if self.error:
            return f"failed: {self.error}"
        if self.stopped_queued is not None:
            return f"stopped before it finished: {self.stopped_queued} entries still queued"
        return "ok" if self.attempted_at else ""


def record_result(
    database: Database, now: datetime, error: str | None, *, stopped_queued: int | None = None
) -> None:
    """Keep how a sync ended: ``error``, else stopped early (``stopped_queued`` entries left
    queued), else success, the only outcome that moves ``last.succeeded_at``."""
    stamp = format_timestamp(now)
    stopped = "" if error is not None or stopped_queued is None else str(stopped_queued)
    values = {"last.attempted_at": stamp, "last.error": error or "", "last.stopped": stopped}
    if error is None and stopped_queued is None:
        values["last.succeeded_at"] = stamp
    put_values(database, values, now)


def record_species_pack(connection: Any, announcement: Mapping[str, Any], now: datetime) -> None:
    put_value(connection, SPECIES_PACK_NAME, json.dumps(dict(announcement), sort_keys=True), now)
