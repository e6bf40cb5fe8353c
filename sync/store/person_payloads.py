"""A person and a face template as they travel: the outbox's payloads for them.

Apart from ``sync.store.people`` because more than enrolment builds them: a resend to a
restored hub (``sync.store.resend``) and the count of what a restore would lose
(``sync.store.unsynced``) need the same shapes, the ones ``sync.protocol.entities`` holds
the hub's schemas for.
"""

from __future__ import annotations

import base64
from typing import Any

from sync.store.clock import format_timestamp
from sync.store.records import ModelRef, Person


def template_payload(
    template_uid: str,
    person_uid: str,
    *,
    model: ModelRef,
    blob: bytes,
    quality: float,
    source: str,
) -> dict[str, Any]:
    """A face template as it travels; ``blob``: its vector, float32 little-endian."""
    return {
        "template_uid": template_uid,
        "person_uid": person_uid,
        "model_id": model.model_id,
        "model_version": model.model_version,
        "dim": len(blob) // 4,
        "vector_f32le_b64": base64.b64encode(blob).decode("ascii"),
        "quality": quality,
        "source": source,
    }


def person_payload(person: Person) -> dict[str, Any]:
    consent = person.consent
    return {
        "person_uid": person.person_uid,
        "external_id": person.external_id,
        "display_name": person.display_name,
        "site": person.site,
        "consent": {
            "text_version": consent.text_version,
            "given_at": format_timestamp(consent.given_at),
            "operator": consent.operator,
            "retain_until": format_timestamp(consent.retain_until),
        },
    }
