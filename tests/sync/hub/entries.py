"""Outbox entries as a device's store would push them (``sync.protocol`` objects)."""

from __future__ import annotations

import base64
import hashlib
import struct
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.protocol import OutboxEntry, PushBatch, format_timestamp

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
# Far ahead of any day the tests run on: the hub withholds and purges people past it.
RETAINED_UNTIL = T0 + timedelta(days=100 * 365)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def uid() -> str:
    return str(uuid.uuid4())


def entry(
    entity: str,
    operation: str,
    payload: dict[str, Any],
    *,
    when: datetime = T0,
    entity_uid: str | None = None,
    sequence: int = 1,
) -> OutboxEntry:
    uid_field = {
        "person": "person_uid",
        "face_template": "template_uid",
        "photo": "photo_uid",
        "fish_observation": "observation_uid",
        "access_event": "event_uid",
    }
    return OutboxEntry(
        idempotency_key=uuid.uuid4(),
        sequence=sequence,
        entity=entity,
        entity_uid=uuid.UUID(entity_uid or payload[uid_field[entity]]),
        operation=operation,
        payload=payload,
        occurred_at=when,
    )


def batch(device_id: str, entries: Sequence[OutboxEntry]) -> PushBatch:
    return PushBatch(device_id=uuid.UUID(device_id), entries=list(entries))


def person(
    site: str, person_uid: str | None = None, name: str = "Ana Ruiz", badge: str | None = None
) -> dict[str, Any]:
    """A person upsert; a badge of its own unless given (the hub refuses a second live
    person with a badge of the site)."""
    return {
        "person_uid": person_uid or uid(),
        "external_id": badge or f"B-{uuid.uuid4().hex[:8]}",
        "display_name": name,
        "site": site,
        "consent": {
            "text_version": "kiosk-consent-v3",
            "given_at": format_timestamp(T0),
            "operator": "officer-7",
            "retain_until": format_timestamp(RETAINED_UNTIL),
        },
    }


def tombstone(person_uid: str, when: datetime = T0) -> dict[str, Any]:
    return {"person_uid": person_uid, "erased_at": format_timestamp(when), "reason": "request"}


def vector_b64(values: Sequence[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def template(
    person_uid: str,
    values: Sequence[float],
    template_uid: str | None = None,
    model: str = "dlib-resnet-128",
) -> dict[str, Any]:
    return {
        "template_uid": template_uid or uid(),
        "person_uid": person_uid,
        "model_id": model,
        "model_version": "1",
        "dim": len(values),
        "vector_f32le_b64": vector_b64(values),
        "quality": 0.9,
        "source": "camera",
    }


def observation(observation_uid: str | None = None, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "observation_uid": observation_uid or uid(),
        "observed_at": format_timestamp(T0),
        "predictions": [["Lutjanus campechanus", 0.55], ["Lutjanus synagris", 0.30]],
        "confirmed_species": None,
        "needs_review": True,
        "photo_uid": None,
        "position": [27.5, -90.25],
        "vessel": "Gaviota",
        "trip": "T-12",
        "haul": "3",
        "count": 1,
        "length_cm": 41.5,
        "officer": "officer-7",
        "notes": "",
    }
    payload.update(fields)
    return payload


def access_event(site: str, event_uid: str | None = None, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_uid": event_uid or uid(),
        "occurred_at": format_timestamp(T0),
        "site": site,
        "device": "kiosk-1",
        "decision": "verified",
        "person_uid": None,
        "similarity": 0.81,
        "liveness": 0.97,
    }
    payload.update(fields)
    return payload


def photo(
    data: bytes, person_uid: str | None = None, photo_uid: str | None = None
) -> dict[str, Any]:
    return {
        "photo_uid": photo_uid or uid(),
        "person_uid": person_uid,
        "media_type": "image/jpeg",
        "sha256": hashlib.sha256(data).hexdigest(),
        "byte_size": len(data),
        "taken_at": format_timestamp(T0),
    }
