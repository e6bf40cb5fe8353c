"""Free text on the wire (a catch's notes, a refusal's reason): no bidirectional embedding,
override or isolate, which shows it in another order than stored in the hub's admin and
review queue ("Trojan Source"); the marks, line breaks and tabs a note holds stay."""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from sync.hub.models import AppliedEntry, FishObservation
from sync.protocol import PayloadError, PersonTombstone, Rejection, parse_payload
from sync.protocol.audit_messages import GENESIS_HASH, AuditLink, audit_entry_hash
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

# The embeddings and overrides (U+202A-U+202E) and the isolates (U+2066-U+2069).
REORDERING = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]


@pytest.mark.parametrize("control", REORDERING)
def test_notes_holding_a_reordering_control_are_refused(control: str) -> None:
    notes = f"caught near the {control}reef"
    with pytest.raises(
        PayloadError,
        match="notes.*embedding, override or isolate " + re.escape(f"({control!a})"),
    ):
        parse_payload("fish_observation", "upsert", e.observation(notes=notes))


@pytest.mark.parametrize("control", REORDERING)
def test_a_refusals_reason_holding_a_reordering_control_is_refused(control: str) -> None:
    with pytest.raises(ValidationError, match="bidirectional"):
        Rejection(key=uuid4(), reason=f"refused {control}here")


def test_notes_keep_marks_line_breaks_tabs_and_other_scripts() -> None:
    notes = [
        "line one\nline two\r\nline three",
        "length\t42 cm",
        "\u05d3\u05d2 \u200e42\u200e cm",  # Hebrew with a left-to-right mark around a number
        "\u0633\u0645\u0643\u0629\u061c 3",  # Arabic with its letter mark
        "\u200fRLM first",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, a zero-width non-joiner
    ]
    for note in notes:
        parsed = parse_payload("fish_observation", "upsert", e.observation(notes=note))
        assert parsed.model_dump(mode="json")["notes"] == note


def test_an_erasure_reason_and_an_audit_entry_travel_as_recorded() -> None:
    """An erasure applies everywhere whatever its reason says, and an audit entry is hashed
    into a chain as it was written: refused, the person would stay on the hub, or the chain
    could never reach it again. Each is shown escaped, not refused."""
    reason = "asked \u202eby letter"
    tombstone = parse_payload("person", "tombstone", e.tombstone(str(e.uid())) | {"reason": reason})
    assert isinstance(tombstone, PersonTombstone) and tombstone.reason == reason
    fields: list[Any] = [1, "2026-03-01T08:00:00.000000Z", "op \u2066x", "store.created"]
    fields += ["file \u202e.gpj", "{}", GENESIS_HASH]
    link = AuditLink(
        sequence=fields[0], at=fields[1], actor=fields[2], action=fields[3], subject=fields[4],
        details=fields[5], prev_hash=fields[6], entry_hash=audit_entry_hash(fields),
    )  # fmt: skip
    assert (link.actor, link.subject) == (fields[2], fields[4])


def test_an_older_devices_catch_with_such_notes_is_rejected_alone(api: Api) -> None:
    """No protocol bump: the hub refuses that one entry for good, naming the character
    escaped, and applies the rest of the batch."""
    overridden = e.entry("fish_observation", "upsert", e.observation(notes="near \u202efeer"))
    good = e.entry("fish_observation", "upsert", e.observation(notes="line\none\ttab \u200e"))
    result = api.push(overridden, good)
    assert result["acknowledged"] == [str(good.idempotency_key)]
    (rejected,) = result["rejected"]
    assert rejected["key"] == str(overridden.idempotency_key)
    assert rejected["retryable"] is False
    assert "notes" in rejected["reason"] and "'\\u202e'" in rejected["reason"]
    assert not AppliedEntry.objects.filter(key=overridden.idempotency_key).exists()
    assert not FishObservation.objects.filter(uid=overridden.entity_uid).exists()
    assert FishObservation.objects.get(uid=good.entity_uid).notes == "line\none\ttab \u200e"
