"""The wire schemas on their own: strict, bounded, and the same shapes the store enqueues."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from sync.protocol import (
    ACCEPTED_PROTOCOL_VERSIONS,
    ADDED_FIELDS,
    MAX_BATCH_ENTRIES,
    PROTOCOL_VERSION,
    FaceTemplateUpsert,
    FishObservationUpsert,
    PayloadError,
    PullResult,
    PushBatch,
    PushResult,
    Rejection,
    format_timestamp,
    parse_payload,
    payload_for_protocol,
)
from tests.sync.hub import entries as e
from tests.sync.protocol_v2 import parse_as_v2
from tests.sync.protocol_v3 import parse_as_v3

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
    person = e.person("north-gate")
    assert parse_payload("person", "upsert", person).model_dump(mode="json") == person


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
        "species_pack": None,  # left out for a device that does not send PACK_SCHEMA_HEADER
        "log_epoch": None,  # left out for a device that does not send LOG_EPOCH_HEADER
    }


def test_protocol_7_is_what_a_batch_declares_and_a_hub_also_serves_2_to_6() -> None:
    assert PROTOCOL_VERSION == 7
    assert e.batch(DEVICE, []).model_dump(mode="json")["protocol_version"] == 7
    assert sorted(ACCEPTED_PROTOCOL_VERSIONS) == [2, 3, 4, 5, 6, 7]


def test_a_rejection_says_whether_to_send_the_entry_again() -> None:
    key = "6f1c1b4e-0000-4000-8000-0000000000aa"
    answer = PushResult(
        acknowledged=[], rejected=[Rejection(key=UUID(key), reason="busy; retry", retryable=True)]
    )
    body = json.loads(answer.model_dump_json())
    assert body["rejected"] == [{"key": key, "reason": "busy; retry", "retryable": True}]
    assert PushResult.model_validate(body) == answer
    # Said nothing about retrying: the entry is quarantined (visible), never retried forever.
    silent = PushResult.model_validate(
        {"acknowledged": [], "rejected": [{"key": key, "reason": "x"}]}
    )
    assert silent.rejected[0].retryable is False
    with pytest.raises(ValidationError):  # strict: "true" is not a verdict
        Rejection.model_validate({"key": key, "reason": "x", "retryable": "true"})


def test_an_observation_names_its_reviewer_with_the_time_or_neither() -> None:
    protocol_1 = e.observation()  # no reviewer keys: queued before the upgrade, still valid
    assert FishObservationUpsert.model_validate(protocol_1).reviewed_by is None
    reviewed = protocol_1 | {"reviewed_by": "officer-9", "reviewed_at": "2026-03-01T09:00:00Z"}
    wire = parse_payload("fish_observation", "upsert", reviewed).model_dump(mode="json")
    assert (wire["reviewed_by"], wire["reviewed_at"]) == (
        "officer-9",
        "2026-03-01T09:00:00.000000Z",
    )
    for bad in (
        {"reviewed_by": "officer-9"},
        {"reviewed_at": "2026-03-01T09:00:00Z"},
        {"reviewed_by": "", "reviewed_at": "2026-03-01T09:00:00Z"},
        {"reviewed_by": "x" * 201, "reviewed_at": "2026-03-01T09:00:00Z"},
        {"reviewed_by": "officer-9", "reviewed_at": "2026-03-01T09:00:00"},  # no timezone
    ):
        with pytest.raises(PayloadError, match="reviewed"):
            parse_payload("fish_observation", "upsert", protocol_1 | bad)


def test_an_observation_may_name_its_species_pack_and_absent_is_not_none() -> None:
    protocol_2 = e.observation()  # no pack_version key: a protocol-2 device's, or queued before
    absent = FishObservationUpsert.model_validate(protocol_2)
    assert absent.pack_version is None and "pack_version" not in absent.model_fields_set
    unknown = FishObservationUpsert.model_validate(protocol_2 | {"pack_version": None})
    assert "pack_version" in unknown.model_fields_set  # sent, and says "no pack"
    named = parse_payload("fish_observation", "upsert", protocol_2 | {"pack_version": "f4k-7"})
    assert named.model_dump(mode="json")["pack_version"] == "f4k-7"
    for bad in ("", "x" * 201, "f4k\x00", 7):
        with pytest.raises(PayloadError, match="pack_version"):
            parse_payload("fish_observation", "upsert", protocol_2 | {"pack_version": bad})


def test_an_observation_may_name_the_fishs_box_and_absent_is_not_none() -> None:
    protocol_2 = e.observation()
    absent = FishObservationUpsert.model_validate(protocol_2)
    assert absent.crop is None and "crop" not in absent.model_fields_set
    whole = FishObservationUpsert.model_validate(protocol_2 | {"crop": None})
    assert "crop" in whole.model_fields_set  # sent, and says "the whole photo"
    boxed = parse_payload("fish_observation", "upsert", protocol_2 | {"crop": [0, 5, 40, 30]})
    assert boxed.model_dump(mode="json")["crop"] == [0, 5, 40, 30]
    edge = [100_000, 100_000, 100_000, 100_000]
    assert parse_payload("fish_observation", "upsert", protocol_2 | {"crop": edge})
    for bad in (
        [-1, 0, 10, 10],  # a corner outside the photo
        [0, 0, 0, 10],  # an empty box
        [0, 0, 10, 100_001],  # beyond any camera
        [0, 0, 10.0, 10],  # pixels are whole
        [0, 0, "10", 10],
        [0, 0, True, 10],
        [0, 0, 10],  # three numbers
        {"x": 0, "y": 0, "width": 10, "height": 10},
    ):
        with pytest.raises(PayloadError, match="crop"):
            parse_payload("fish_observation", "upsert", protocol_2 | {"crop": bad})


def test_an_observation_may_carry_the_packs_verdict_and_absent_is_not_none() -> None:
    protocol_3 = e.observation()
    absent = FishObservationUpsert.model_validate(protocol_3)
    assert absent.status is None and "status" not in absent.model_fields_set
    for status in ("identified", "unknown", "no_fish"):
        parsed = parse_payload("fish_observation", "upsert", protocol_3 | {"status": status})
        assert parsed.model_dump(mode="json")["status"] == status
    blank = {"status": "no_fish", "status_reason": "image is blank (one flat colour)"}
    assert parse_payload("fish_observation", "upsert", protocol_3 | blank)
    for bad in (
        {"status": "maybe"},
        {"status": "UNKNOWN"},
        {"status": 1},
        {"status": "unknown", "status_reason": "blank"},  # a reason is why there is no fish
        {"status_reason": "blank"},
        {"status": "no_fish", "status_reason": ""},
        {"status": "no_fish", "status_reason": "x" * 201},
    ):
        with pytest.raises(PayloadError, match="status"):
            parse_payload("fish_observation", "upsert", protocol_3 | bad)


def test_a_payload_for_an_older_protocol_leaves_out_only_what_later_ones_added() -> None:
    added = {"pack_version": 3, "crop": 3, "status": 4, "status_reason": 4, "recorded_here": 6}
    assert ADDED_FIELDS[("fish_observation", "upsert")] == added
    assert ADDED_FIELDS[("photo", "upsert")] == {"withheld": 5} and len(ADDED_FIELDS) == 3
    assert ADDED_FIELDS[("access_event", "upsert")] == {"clock_suspect": 7}
    kept = e.photo(b"face", person_uid=str(uuid4())) | {"withheld": True}
    assert "withheld" not in payload_for_protocol(4, "photo", "upsert", kept)
    verdict = {"status": "no_fish", "status_reason": "blank"}
    current = e.observation(pack_version="f4k-7", crop=[0, 5, 40, 30], **verdict)
    older = payload_for_protocol(2, "fish_observation", "upsert", current)
    assert older == {k: v for k, v in current.items() if k not in added}
    assert parse_as_v2("fish_observation", "upsert", older).model_dump()["notes"] == ""
    with pytest.raises(ValidationError, match="pack_version"):  # what a v2 device would say
        parse_as_v2("fish_observation", "upsert", current)
    with pytest.raises(ValidationError, match="crop"):
        parse_as_v2("fish_observation", "upsert", e.observation(crop=None))
    for_v3 = payload_for_protocol(3, "fish_observation", "upsert", current)
    assert for_v3 == {k: v for k, v in current.items() if k not in verdict}
    assert parse_as_v3("fish_observation", "upsert", for_v3).model_dump()["pack_version"]
    with pytest.raises(ValidationError, match="status"):  # what a v3 device would say
        parse_as_v3("fish_observation", "upsert", e.observation(status=None))
    assert payload_for_protocol(4, "fish_observation", "upsert", current) is current
    person = e.person("north-gate") | {"pack_version": "not a person field"}
    assert payload_for_protocol(2, "person", "upsert", person) is person  # only listed fields


@pytest.mark.parametrize(
    ("observed_at", "refused"),
    [
        ("0999-01-01T00:00:00Z", True),  # as text, '999-…' would sort after '2026-…'
        ("0001-01-01T00:00:00+14:00", True),  # before year 1 in UTC: formatting it overflowed
        ("9999-12-31T23:00:00-02:00", True),  # after 9999 in UTC
        ("1970-01-01T00:00:00Z", False),  # a device whose clock was reset is still believed
    ],
)
def test_a_time_must_have_a_four_digit_year_in_utc(observed_at: str, refused: bool) -> None:
    payload = e.observation() | {"observed_at": observed_at}
    if refused:
        with pytest.raises(PayloadError, match="years 1000-9999"):
            parse_payload("fish_observation", "upsert", payload)
    else:
        parsed = parse_payload("fish_observation", "upsert", payload)
        assert parsed.model_dump(mode="json")["observed_at"] == "1970-01-01T00:00:00.000000Z"


def test_a_media_type_fits_the_hubs_column() -> None:
    photo = e.photo(b"x")
    parse_payload("photo", "upsert", photo | {"media_type": "image/" + "a" * 60})
    with pytest.raises(PayloadError, match="media_type"):
        parse_payload("photo", "upsert", photo | {"media_type": "a" * 40 + "/" + "b" * 60})


# A bidirectional override, isolate or mark shows a name in another order than it is stored
# (the review queue, a CSV); a control character (a bell, an escape, a line feed) is no part
# of a name and can act on the terminal that shows it.
HIDDEN = ["\u202e", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c", "\x07", "\x1b", "\n", "\x85"]


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("field", ["confirmed_species", "vessel", "trip", "haul", "officer",
                                   "reviewed_by", "predictions"])  # fmt: skip
def test_a_name_holding_a_hidden_character_is_refused(field: str, hidden: str) -> None:
    name = f"Gadus{hidden} morhua"
    value: object = [[name, 0.5]] if field == "predictions" else name
    fields: dict[str, Any] = {field: value}
    if field == "reviewed_by":
        fields["reviewed_at"] = format_timestamp(e.T0)
    with pytest.raises(
        PayloadError, match=rf"{field}.*control character or bidirectional override"
    ):
        parse_payload("fish_observation", "upsert", e.observation(**fields))


def test_a_persons_name_holding_a_bidirectional_override_is_refused() -> None:
    person = e.person("harbour") | {"display_name": "Ana \u202eziuR"}
    with pytest.raises(PayloadError, match="display_name"):
        parse_payload("person", "upsert", person)
    operator = e.person("harbour")
    operator["consent"] |= {"operator": "desk\u2066"}
    with pytest.raises(PayloadError, match="operator"):
        parse_payload("person", "upsert", operator)


def test_a_badge_is_left_to_the_badges_own_rule() -> None:
    """A new badge with a control character is refused by ``sync.badges`` (at enrolment, and
    by the hub, naming why); one the hub held before it judged badges still travels."""
    held = e.person("harbour", badge="B-\u202e1")
    assert parse_payload("person", "upsert", held).model_dump()["external_id"] == "B-\u202e1"


def test_names_in_other_scripts_and_joiners_are_kept() -> None:
    """Only what hides or reorders is refused: Arabic, Hebrew, accents, a Persian
    zero-width non-joiner and an emoji's joiner are parts of names."""
    names = [
        "\u0628\u064e\u0644\u064e\u0637",  # Arabic
        "\u05d3\u05d2",  # Hebrew
        "Ca\u0301rdenas",  # a combining accent
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, a ZWNJ
        "\U0001f41f\u200d",  # an emoji's joiner
    ]
    for name in names:
        parsed = parse_payload("fish_observation", "upsert", e.observation(vessel=name))
        assert parsed.model_dump(mode="json")["vessel"] == name
