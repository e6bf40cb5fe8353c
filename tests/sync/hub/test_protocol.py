"""The wire schemas on their own: strict, bounded, and the same shapes the store enqueues."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from sync.protocol import (
    MAX_BATCH_ENTRIES,
    FaceTemplateUpsert,
    PayloadError,
    PullResult,
    PushBatch,
    parse_payload,
)
from tests.sync.hub import entries as e

DEVICE = "6f1c1b4e-0000-4000-8000-000000000001"


def test_a_batch_round_trips_through_json() -> None:
    batch = e.batch(DEVICE, [e.entry("fish_observation", "upsert", e.observation())])
    again = PushBatch.model_validate_json(batch.model_dump_json())
    assert again == batch
    assert again.entries[0].model_dump(mode="json")["occurred_at"] == "2026-03-01T08:00:00.000000Z"


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"protocol_version": "1"},
        {"device_id": 12345},
        {"entries": [{}] * (MAX_BATCH_ENTRIES + 1)},
    ],
)
def test_batches_are_strict(change: dict[str, object]) -> None:
    body = {"device_id": DEVICE, "entries": []} | change
    with pytest.raises(ValidationError):
        PushBatch.model_validate_json(json.dumps(body))


def test_payloads_are_checked_per_entity_with_a_short_reason() -> None:
    with pytest.raises(PayloadError, match="unknown entity/operation person/delete"):
        parse_payload("person", "delete", {})
    with pytest.raises(PayloadError, match="count") as error:
        parse_payload("fish_observation", "upsert", e.observation(count=0) | {"x\x00": 1})
    assert "\x00" not in str(error.value)
    assert "x?" in str(error.value)  # the sender's field name, cleaned
    good = parse_payload("person", "upsert", e.person("north-gate"))
    assert good.model_dump(mode="json") == e.person("north-gate") | {
        "person_uid": good.model_dump(mode="json")["person_uid"]
    }


def test_template_vectors_are_decoded_and_checked() -> None:
    payload = e.template(e.uid(), [0.25] * 128)
    assert FaceTemplateUpsert.model_validate(payload).vector() == [0.25] * 128
    for bad in (
        {"dim": 127},
        {"vector_f32le_b64": "!!"},
        {"vector_f32le_b64": e.vector_b64([float("nan")] * 128)},
        {"vector_f32le_b64": e.vector_b64([0.0] * 128)},
    ):
        with pytest.raises(ValidationError):
            FaceTemplateUpsert.model_validate(payload | bad)


def test_pull_results_serialise_cursor_and_flags() -> None:
    result = PullResult(changes=[], next_cursor=7, has_more=False)
    assert json.loads(result.model_dump_json()) == {
        "changes": [],
        "next_cursor": 7,
        "has_more": False,
    }
