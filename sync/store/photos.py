"""Photos as encrypted blobs, with the configured size limit enforced before any write."""

from __future__ import annotations

from typing import Any

from sync.errors import RecordNotFoundError, RecordTooLargeError
from sync.store.clock import Clock, format_timestamp, parse_timestamp
from sync.store.database import Database, StoreConfig
from sync.store.records import Photo


def check_blob_size(config: StoreConfig, what: str, size: int) -> None:
    """Refuse a blob over ``max_blob_bytes`` before it reaches SQL (nothing half-written)."""
    if size > config.max_blob_bytes:
        raise RecordTooLargeError(
            f"{what} is {size} bytes; the store accepts at most {config.max_blob_bytes}"
        )


def insert_photo(
    connection: Any, config: StoreConfig, clock: Clock, photo: Photo, person_id: int | None
) -> int:
    """Insert inside the caller's transaction; returns the local photo id."""
    check_blob_size(config, f"photo {photo.photo_uid}", len(photo.data))
    cursor = connection.execute(
        "INSERT INTO photos (photo_uid, person_id, media_type, sha256, byte_size, data, taken_at,"
        " created_at) VALUES (?,?,?,?,?,?,?,?)",
        (
            photo.photo_uid,
            person_id,
            photo.media_type,
            photo.sha256,
            len(photo.data),
            photo.data,
            format_timestamp(photo.taken_at),
            format_timestamp(clock.now()),
        ),
    )
    return int(cursor.lastrowid)


def load_photo(database: Database, photo_uid: str) -> Photo:
    rows = database.query(
        "SELECT data, media_type, taken_at FROM photos WHERE photo_uid = ?", (photo_uid,)
    )
    if not rows:
        raise RecordNotFoundError(f"no photo {photo_uid}")
    data, media_type, taken_at = rows[0]
    return Photo(
        data=bytes(data),
        media_type=media_type,
        taken_at=parse_timestamp(taken_at),
        photo_uid=photo_uid,
    )


def photo_payload(photo: Photo, person_uid: str | None) -> dict[str, Any]:
    """Photo metadata only: the bytes travel by the resumable upload, not in the outbox."""
    return {
        "photo_uid": photo.photo_uid,
        "person_uid": person_uid,
        "media_type": photo.media_type,
        "sha256": photo.sha256,
        "byte_size": len(photo.data),
        "taken_at": format_timestamp(photo.taken_at),
    }
