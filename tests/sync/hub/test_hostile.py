"""Hostile input: oversized, malformed or odd bodies get a 4xx with a reason, never a 5xx,
and nothing is stored."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from sync.hub.api.middleware import body_limit
from sync.hub.models import AppliedEntry, Change, FishObservation, Person
from sync.protocol import (
    BODY_DAMAGED,
    BODY_SHA256_HEADER,
    MAX_JSON_BODY_BYTES,
    PROTOCOL_VERSION,
)
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api


def _counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (AppliedEntry, Change, FishObservation, Person))


def _push_body(api: Api, **entry_changes: Any) -> dict[str, Any]:
    body = e.batch(api.device_id, [e.entry("fish_observation", "upsert", e.observation())])
    data = body.model_dump(mode="json")
    data["entries"][0].update(entry_changes)
    return data


BAD_BODIES: dict[str, Any] = {
    "not json": "{not json",
    "json array": "[]",
    "empty": "",
    "deep nesting": '{"a":' * 5000 + "1" + "}" * 5000,
    "nan": '{"device_id": "00000000-0000-4000-8000-000000000000", "entries": [], "x": NaN}',
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_malformed_json_is_400(api: Api, name: str) -> None:
    before = _counts()
    response = api.post(api.site_path("push"), BAD_BODIES[name])
    assert response.status_code == 400, response.content
    assert response.json()["reason"]
    assert _counts() == before


def test_a_body_that_is_not_what_its_sha256_says_is_damage_not_invalid(api: Api) -> None:
    """A device says its body's sha256: a body damaged on the way is refused as damaged (the
    device sends it again) and never as invalid (which splits a push and quarantines)."""
    sent = json.dumps(_push_body(api)).encode()
    digest = {BODY_SHA256_HEADER: hashlib.sha256(sent).hexdigest(), **api.auth()}
    damaged = sent[:200] + b"\x00}{\xff" + sent[204:]
    before = _counts()
    for body in (damaged, sent[:100], b""):
        response = api.post(api.site_path("push"), body, headers=digest)
        assert (response.status_code, response.json()["error"]) == (400, BODY_DAMAGED), body
    assert _counts() == before
    whole = api.post(api.site_path("push"), sent, headers=digest)
    assert whole.status_code == 200 and whole.json()["rejected"] == [], whole.content
    untold = api.post(api.site_path("push"), damaged)  # a device before the header
    assert untold.json()["error"] == "invalid_body"


def test_every_json_answer_says_its_sha256(api: Api) -> None:
    """So a device can tell an answer changed on the way from the hub's word."""
    answers = [
        api.post(api.site_path("push"), _push_body(api)),
        api.get(api.site_path("changes"), {"cursor": "0", "limit": "5"}),
        api.post(api.site_path("push"), "{not json"),  # a refusal too
    ]
    for answer in answers:
        said = answer[BODY_SHA256_HEADER]
        assert said == hashlib.sha256(answer.content).hexdigest(), answer.content


def test_schema_violations_are_400_and_store_nothing(api: Api) -> None:
    before = _counts()
    variants = [
        _push_body(api, sequence=-1),
        _push_body(api, sequence=2**63),
        _push_body(api, idempotency_key="not-a-uuid"),
        _push_body(api, occurred_at="2026-03-01T08:00:00"),  # no timezone
        _push_body(api, occurred_at=1_700_000_000),  # a number is not a time
        _push_body(api, extra_field=1),
        _push_body(api, entity="x" * 65),
        _push_body(api, payload={"notes": "x" * 70_000}),
        _push_body(api, payload=[1, 2]),
        _push_body(api) | {"entries": [_push_body(api)["entries"][0]] * 501},
    ]
    for body in variants:
        response = api.post(api.site_path("push"), body)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error"] == "invalid_body"
    assert _counts() == before


def test_nul_and_non_finite_values_inside_payloads_store_nothing(api: Api) -> None:
    """Each is refused: the whole batch (400) or the entry (rejected), never stored."""
    before = _counts()
    sneaky = [
        e.observation(notes="a\x00b"),
        e.observation(length_cm=float("inf")),
        e.observation(count=10**30),
        e.person(api.site) | {"site": "Not A Slug"},
        e.template(e.uid(), [0.0] * 128),
    ]
    for payload in sneaky:
        entity = (
            "person"
            if "display_name" in payload
            else ("face_template" if "template_uid" in payload else "fish_observation")
        )
        body = _push_body(api, entity=entity, payload=payload)
        body["entries"][0]["entity_uid"] = next(iter(payload.values()))
        response = api.post(api.site_path("push"), json.dumps(body, allow_nan=True))
        assert response.status_code in (200, 400), response.content
        if response.status_code == 200:
            assert response.json()["acknowledged"] == [], payload
            assert response.json()["rejected"][0]["reason"], payload
    assert _counts() == before


def test_oversized_bodies_are_413_before_they_are_read(api: Api) -> None:
    before = _counts()
    huge = b"{" + b" " * (4 * 1024 * 1024 + 10) + b"}"
    response = api.post(api.site_path("push"), huge)
    assert response.status_code == 413
    assert "at most" in response.json()["reason"]
    response = api.post("/api/v1/devices/register", b"{" + b" " * 70_000 + b"}")
    assert response.status_code == 413
    assert _counts() == before


def test_wrong_content_type_method_and_path_are_4xx_json(api: Api) -> None:
    checks = [
        (
            api.post(
                api.site_path("push"), "a=1", content_type="application/x-www-form-urlencoded"
            ),
            415,
        ),
        (api.client.delete(api.site_path("push"), headers=api.auth()), 405),
        (api.get("/api/v1/nowhere"), 404),
        (api.get("/api/v1/sites/UPPER CASE/changes"), 404),
        (api.post("/api/v1/devices/register", {"code": "../../etc"}), 400),
        (
            api.client.post(
                api.site_path("push"),
                "{}",
                content_type="application/json",
                headers=api.auth(),
                HTTP_CONTENT_LENGTH="x",
            ),
            400,
        ),
    ]
    for response, status in checks:
        assert response.status_code == status, response.content
        assert response.json()["reason"]


def test_the_search_endpoint_checks_its_probe(api: Api) -> None:
    path = api.site_path("search")
    probe = {"model_id": "dlib-resnet-128", "model_version": "1", "vector": [0.1] * 128}
    assert api.post(path, probe | {"vector": [0.1] * 127}).status_code == 400
    assert api.post(path, probe | {"k": 10_000}).status_code == 400
    response = api.post(path, probe | {"all_sites": True})
    assert response.status_code == 403
    assert response.json()["error"] == "search_not_allowed"


def test_a_number_or_a_path_with_a_final_line_break_is_not_taken(api: Api) -> None:
    """The checks' patterns end in ``$``, which ``re.match`` also finds before a final
    newline: ``cursor=5%0A`` was read as 5, and a push path ending in one got a push's
    body limit."""
    asked = f"?protocol_version={PROTOCOL_VERSION}&cursor=5%0A"
    response = api.get(api.site_path("changes") + asked)
    assert response.status_code == 400, response.content
    assert "cursor must be a non-negative integer" in response.json()["reason"]
    assert body_limit("/api/v1/sites/s/push\n") == MAX_JSON_BODY_BYTES
    assert body_limit("/api/v1/sites/s/push") != MAX_JSON_BODY_BYTES


def test_a_pack_version_no_pack_could_have_is_404_not_a_500(api: Api) -> None:
    """A NUL in the version (``%00`` in the path, which any server decodes) reached
    PostgreSQL, which refuses it in text: a 500 "the hub failed"."""
    for version in ("a%00b", "%00", "x" * 129):
        response = api.get(f"/api/v1/species-packs/{version}/file")
        assert response.status_code == 404, (version, response.content)
        assert response.json()["error"] == "no_species_pack"


def test_a_content_length_of_other_digits_is_400_not_a_500(api: Api) -> None:
    """``"²".isdigit()`` is true, but ``int("²")`` fails: a Content-Length of it (Latin-1
    0xB2, which Django's own server passes on) crashed the guard, a 500 with no JSON."""
    response = api.client.post(
        api.site_path("push"),
        "{}",
        content_type="application/json",
        headers=api.auth(),
        CONTENT_LENGTH="\xb2",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "bad_content_length"


class _CutShort:
    """A request body whose connection drops mid-way (a boat leaving coverage)."""

    def read(self, *_: Any) -> bytes:
        raise OSError("connection reset by peer")

    readline = read


def test_a_body_cut_short_by_the_network_is_400_not_a_hub_bug(api: Api) -> None:
    """The read's ``UnreadablePostError`` reached the guard's catch-all: a 500 logged as "hub
    bug on ..." with a traceback, for every device that lost its link mid-push."""
    cut = {"wsgi.input": _CutShort()}
    chunk = api.site_path("uploads/00000000-0000-4000-8000-000000000000") + "?offset=0"
    json_type = "application/json"
    responses = [
        api.client.post(api.site_path("push"), "{}", json_type, headers=api.auth(), **cut),
        api.client.put(
            chunk, b"x", "application/octet-stream",
            headers=api.auth() | {"X-Chunk-SHA256": "0" * 64}, **cut,
        ),
        api.client.post("/api/v1/devices/register", "{}", json_type, **cut),
    ]  # fmt: skip
    for response in responses:
        assert response.status_code == 400, response.content
        assert response.json()["error"] == "unreadable_body"


def test_a_query_of_too_many_fields_is_400_not_a_hub_bug(api: Api) -> None:
    """Django refuses more than DATA_UPLOAD_MAX_NUMBER_FIELDS parameters with a
    ``SuspiciousOperation``, which the guard's catch-all answered 500 "hub bug"."""
    many = "&".join(f"f{n}=1" for n in range(1500))
    response = api.get(api.site_path("changes") + f"?protocol_version={PROTOCOL_VERSION}&{many}")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "bad_request"
