"""Named values of the store's ``sync_state`` table (schema 2 on), read and written inside
the caller's transaction: the sync's cursors and registration, the edit clock's hub time,
the retention notes, a full pull's progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sync.store.clock import format_timestamp

# The registration ``sync.client.state.save_registration`` keeps, and the face images policy
# it came with: what makes the store this device to the hub (``sync.store.registration``).
REGISTRATION_NAMES = ("hub_url", "site", "device_id", "device_token")
FACE_IMAGES_NAME = "policy.send_face_images"
# The id the hub named itself by (``HUB_ID_HEADER``), kept with the registration; absent when
# the hub gave none (an older hub, a registration saved before). Not among the names above:
# a pull learns it, which is no new registration (``SyncClient.registration_changed``).
HUB_ID_NAME = "hub_id"


def get_value(connection: Any, name: str) -> str | None:
    row = connection.execute("SELECT value FROM sync_state WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def put_value(connection: Any, name: str, value: str, now: datetime) -> None:
    """Set one value inside the caller's write transaction."""
    connection.execute(
        "INSERT INTO sync_state (name, value, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
        " updated_at = excluded.updated_at",
        (name, value, format_timestamp(now)),
    )
