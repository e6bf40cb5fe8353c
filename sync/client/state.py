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

from sync import plural
from sync.client.config import Registration
from sync.client.site_state import cursor_name, forget_sites
from sync.errors import SchemaVersionError
from sync.store.catch_hub import stamp_with_id
from sync.store.clock import format_timestamp
from sync.store.database import Database
from sync.store.hub_keys import same_hub
from sync.store.outbox_hub import hold_for_hub
from sync.store.state_rows import (
    FACE_IMAGES_NAME,
    HUB_ID_NAME,
    REGISTRATION_NAMES,
    get_value,
    put_value,
)

# The store schema the client needs: 2 has sync_state and sync_uploads, 3 the outbox's
# refusals, 4, 5, 8, 9 and 11 the fish observations' pack_version, crop, status, crop_known
# and recorded_here (pulled changes write them), 10 the pulled changes set aside
# (deferred_changes), 15 the outbox entries held for another hub (``outbox.for_hub``), 16 the
# access decisions recorded for another hub (``access_events.for_hub``), 17 the catches
# (``fish_observations.for_hub``).
CLIENT_TABLES_VERSION = 17
SPECIES_PACK_NAME = "species_pack.latest"
# The version of a pack the hub announced, then stopped naming (``sync.client.packs``).
WITHDRAWN_PACK_NAME = "species_pack.withdrawn"


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


def put_values(database: Database, values: Mapping[str, str], now: datetime) -> None:
    with database.write() as connection:
        for name, value in values.items():
            put_value(connection, name, value, now)


def save_registration(
    database: Database, registration: Registration, now: datetime, *, send_face_images: bool
) -> None:
    """Keep what registration returned; a new registration replaces the old one whole
    (``write_registration``, then the purge it owes)."""
    with database.write() as connection:
        dropped = write_registration(
            connection, registration, now, send_face_images=send_face_images
        )
    if dropped:
        database.purge(wait=True)


def write_registration(
    connection: Any, registration: Registration, now: datetime, *, send_face_images: bool
) -> int:
    """Inside the caller's write transaction: keep the registration; returns how many pulled
    changes set aside it deleted (a purge is then owed: the caller runs it after commit).

    What was pulled of any other site than the one registered goes, the changes set aside
    included (``sync.client.site_state.forget_sites``): they are tried again only with that
    site's pulls, which this device no longer makes, and a device registered back to the
    site later pulls it from the start instead of never applying them. Registered with
    another hub, every site's goes: its site of the same slug is another site; so do the
    old hub's notes of its species pack, and any registration forgets the audit chain's
    problem, the old device's (``sync.client.hub_notes``). The old hub's outbox entries
    still unsent are held for it, never pushed to another (``sync.store.outbox_hub``).
    Hubs are told apart by their ids, or by address when either is unknown (``same_hub``).
    """
    old_hub, old_id = get_value(connection, "hub_url"), get_value(connection, HUB_ID_NAME)
    new_id = None if registration.hub_id is None else str(registration.hub_id)
    another_hub = old_hub is not None and not same_hub(
        old_hub, old_id, registration.hub_url, new_id
    )
    values = {
        "hub_url": registration.hub_url,
        "site": registration.site,
        "device_id": str(registration.device_id),
        "device_token": registration.token,
        FACE_IMAGES_NAME: "1" if send_face_images else "0",
    }
    for name, value in values.items():
        put_value(connection, name, value, now)
    keep_hub_id(connection, new_id, now)
    # Not at the top: it reads names of modules that import this one.
    from sync.client.hub_notes import forget_hub_notes

    forget_hub_notes(connection, another_hub=another_hub)
    if old_hub is not None:
        hold_for_hub(connection, old_hub, old_id, registration.hub_url, new_id)
    return forget_sites(connection, keep=None if another_hub else registration.site)


def keep_hub_id(connection: Any, hub_id: str | None, now: datetime) -> None:
    """Inside the caller's write transaction: keep ``hub_id`` as the registered hub's id;
    None forgets the one kept (the hub names none: another hub's would be wrong). Its
    catches stamped with its address (while its id was unknown) are stamped with the id:
    the hub at a new address is still that hub (``sync.store.catch_hub``)."""
    if hub_id is None:
        connection.execute("DELETE FROM sync_state WHERE name = ?", (HUB_ID_NAME,))
    elif get_value(connection, HUB_ID_NAME) != hub_id:
        put_value(connection, HUB_ID_NAME, hub_id, now)
        if (hub_url := get_value(connection, "hub_url")) is not None:
            stamp_with_id(connection, hub_url, hub_id)


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
class Unfinished:
    """What a sync that reached its per-sync limits (``Tuning.max_*_per_sync``) left for
    the next one: outbox entries still queued, whether the hub holds more changes after the
    cursor, photos still to upload, audit entries the hub does not hold yet. The sync did
    not fail, but the device is not caught up.
    """

    queued: int
    changes: bool
    uploads: int
    audit: int = 0

    def words(self) -> str:
        parts = [f"{plural.entries(self.queued)} still queued"]
        if self.changes:
            parts.append("more changes on the hub")
        parts.append(f"{plural.counted(self.uploads, 'photo')} still to upload")
        if self.audit:
            parts.append(f"{plural.audit_entries(self.audit)} still to anchor")
        return ", ".join(parts)

    def stored(self) -> str:
        return json.dumps(
            {
                "queued": self.queued,
                "changes": self.changes,
                "uploads": self.uploads,
                "audit": self.audit,
            }
        )

    @classmethod
    def from_stored(cls, text: str) -> Unfinished | None:
        """The value ``stored`` kept; None for an empty (or unreadable) one."""
        if not text:
            return None
        try:
            value = json.loads(text)
            return cls(
                int(value["queued"]),
                bool(value["changes"]),
                int(value["uploads"]),
                int(value.get("audit", 0)),  # not kept before audit chains were anchored
            )
        except (ValueError, TypeError, KeyError):
            return None


@dataclass(frozen=True)
class LastResult:
    """How the last sync of this store ended (for ``jaga sync status`` and the app).

    ``stopped_queued`` is set when a stop (the app closing) ended the last sync before it
    finished: the outbox entries it left queued. ``unfinished`` is set when it reached its
    per-sync limits with more to do. Neither succeeded nor failed, so neither moves
    ``succeeded_at`` (the last sync that left the device caught up) nor ``error``. Stores
    written before they were kept have no ``last.stopped`` or ``last.unfinished`` value and
    read as finished, as they were meant.

    ``held_back`` is set when a proxy's body-size limit held outbox entries, photos or audit
    entries back (``ProxyBodyLimitError``): what waits, and why. The rest of that sync ran, so
    it is no failure (no ``error``), but it left the device with something waiting that only
    raising that limit lets through, so it is no success either: ``succeeded_at`` stays the
    last sync that held nothing back, and an alert on its age fires (it fired for nothing when
    such a sync moved it, even one that pushed nothing at all). Until that limit is raised,
    every sync holds the same back, and says so; the next sync without it clears it.

    Photos whose upload the hub refused for good (``sync.client.failed_uploads``) do not
    keep a sync from being a success, as entries it quarantined do not: ``jaga sync status``
    shows how many, and since when, beside the last success (``sync.client.status``).
    """

    attempted_at: str | None
    succeeded_at: str | None
    error: str | None
    stopped_queued: int | None = None
    unfinished: Unfinished | None = None
    held_back: str | None = None

    @property
    def stopped(self) -> bool:
        return self.stopped_queued is not None

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> LastResult:
        error = values.get("last.error") or None
        stopped = values.get("last.stopped") or ""
        queued = int(stopped) if stopped.isascii() and stopped.isdigit() else None
        unfinished = Unfinished.from_stored(values.get("last.unfinished") or "")
        attempted, succeeded = values.get("last.attempted_at"), values.get("last.succeeded_at")
        held_back = values.get("last.held_back") or None
        return cls(attempted, succeeded, error, queued, unfinished, held_back)

    def outcome(self) -> str:
        """The last sync's outcome in words ("" before the first sync)."""
        if self.error:
            return f"failed: {self.error}"
        held = f"; held back: {self.held_back}" if self.held_back else ""
        if self.stopped_queued is not None:
            queued = plural.entries(self.stopped_queued)
            return f"stopped before it finished: {queued} still queued{held}"
        if self.unfinished is not None:
            return f"reached this sync's limits: {self.unfinished.words()}{held}"
        if not self.attempted_at:
            return ""
        return f"ran{held}" if held else "ok"


def record_result(
    database: Database,
    now: datetime,
    error: str | None,
    *,
    stopped_queued: int | None = None,
    unfinished: Unfinished | None = None,
    held_back: str | None = None,
) -> None:
    """Keep how a sync ended: ``error``, else stopped early (``stopped_queued`` entries left
    queued), else at its limits with more to do (``unfinished``), else success, the only
    outcome that moves ``last.succeeded_at``. ``held_back`` (what a proxy's body limit held
    back, and why) goes with any but an error, and is no success: a sync that ran but held
    something back leaves ``last.succeeded_at`` where it was."""
    stamp = format_timestamp(now)
    if error is not None:
        stopped_queued = held_back = None
    if error is not None or stopped_queued is not None:
        unfinished = None
    values = {
        "last.attempted_at": stamp,
        "last.error": error or "",
        "last.stopped": "" if stopped_queued is None else str(stopped_queued),
        "last.unfinished": "" if unfinished is None else unfinished.stored(),
        "last.held_back": held_back or "",
    }
    if error is None and stopped_queued is None and unfinished is None and not held_back:
        values["last.succeeded_at"] = stamp
    put_values(database, values, now)


def record_species_pack(connection: Any, announcement: Mapping[str, Any], now: datetime) -> None:
    """Keep ``announcement`` as the pack to install, inside the caller's transaction: a pack
    named again ends the note of one withdrawn."""
    put_value(connection, SPECIES_PACK_NAME, json.dumps(dict(announcement), sort_keys=True), now)
    put_value(connection, WITHDRAWN_PACK_NAME, "", now)
