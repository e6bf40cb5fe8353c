"""The HTTP boundary: every httpx failure and refusal becomes a ``sync.client.errors`` error,
and the token travels only in the Authorization header."""

from __future__ import annotations

import hashlib
from uuid import UUID

import httpx
import pytest

from sync.client import (
    HubAuthError,
    HubRefusedError,
    HubTransport,
    HubUnavailableError,
    ProtocolMismatchError,
    RequestTiming,
    SyncConfig,
    SyncConfigError,
    hub_http_client,
    resolve_config,
)
from sync.client.errors import ProxyBodyLimitError
from sync.protocol import (
    AUTH_ERROR_CODES,
    BODY_SHA256_HEADER,
    MAX_PUSH_BODY_BYTES,
    PushBatch,
    PushResult,
)
from tests.sync.client.fakehub import DEVICE, TOKEN, FakeHub, Fault, registration

EMPTY = PushBatch(device_id=DEVICE, entries=[])


def transport_for(handler: httpx.MockTransport, timings: list[RequestTiming]) -> HubTransport:
    return HubTransport(httpx.Client(transport=handler), registration(), observer=timings.append)


def answering(response: httpx.Response | Exception) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        return response

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (httpx.Response(401, json={"error": "unknown_token", "reason": "r"}), HubAuthError, 401),
        (httpx.Response(403, json={"error": "device_revoked", "reason": "r"}), HubAuthError, 403),
        (httpx.Response(400, json={"error": "unsupported_protocol", "reason": "r"}),
         ProtocolMismatchError, 400),
        (httpx.Response(404, text="<html>not here</html>"), HubRefusedError, 404),
        (httpx.Response(503, json={"error": "database_unavailable", "reason": "r"}),
         HubUnavailableError, None),
        (httpx.Response(502, text="bad gateway"), HubUnavailableError, None),
        (httpx.Response(200, content=b'{"acknowledged": ['), HubUnavailableError, None),
        (httpx.ConnectError("refused"), HubUnavailableError, None),
        (httpx.ReadTimeout("slow"), HubUnavailableError, None),
        (httpx.RemoteProtocolError("peer closed connection"), HubUnavailableError, None),
    ],
)  # fmt: skip
def test_failures_are_translated_at_the_boundary(
    answer: httpx.Response | Exception, error: type[Exception], code: int | None
) -> None:
    timings: list[RequestTiming] = []
    with pytest.raises(error) as raised:
        transport_for(answering(answer), timings).push(EMPTY)
    if code is not None:
        assert isinstance(raised.value, HubRefusedError) and raised.value.status == code
    assert TOKEN not in str(raised.value)
    assert [t.operation for t in timings] == ["push"]


@pytest.mark.parametrize("code", sorted(AUTH_ERROR_CODES))
@pytest.mark.parametrize("status", [401, 403])
def test_only_the_hubs_own_401_or_403_is_an_auth_failure(status: int, code: str) -> None:
    hub = httpx.Response(status, json={"error": code, "reason": "r"})
    with pytest.raises(HubAuthError):
        transport_for(answering(hub), []).push(EMPTY)
    for other in (
        httpx.Response(status, text="<html>Please sign in to the hotel Wi-Fi</html>"),
        httpx.Response(status, json={"error": "forbidden", "reason": "a firewall's JSON"}),
        httpx.Response(status),
    ):
        with pytest.raises(HubUnavailableError) as raised:
            transport_for(answering(other), []).push(EMPTY)
        assert f"{status}" in str(raised.value) and "not the hub" in str(raised.value)


def test_a_bare_413_is_a_proxys_limit_and_the_hubs_own_is_its_refusal() -> None:
    page = httpx.Response(413, text="<html>413 Request Entity Too Large</html>")
    with pytest.raises(ProxyBodyLimitError) as raised:
        transport_for(answering(page), []).push(EMPTY)
    assert raised.value.byte_size == len(EMPTY.model_dump_json().encode())
    assert f"the hub's own {MAX_PUSH_BODY_BYTES} bytes" in str(raised.value)
    hub = httpx.Response(413, json={"error": "too_large", "reason": "at most 4194304 bytes"})
    with pytest.raises(HubRefusedError) as refused:
        transport_for(answering(hub), []).push(EMPTY)
    assert refused.value.code == "too_large"


def test_a_later_hubs_error_body_with_more_fields_is_still_the_hubs() -> None:
    """A later hub may add fields to its error bodies: its refusals must still read as its
    own, not as a middlebox's page (the hub itself keeps building them strictly)."""
    more = {"reason": "r", "expected_offset": None, "hint": "ask the hub's admin"}
    revoked = httpx.Response(403, json={"error": "device_revoked", **more})
    with pytest.raises(HubAuthError):
        transport_for(answering(revoked), []).push(EMPTY)
    too_large = httpx.Response(413, json={"error": "too_large", **more})
    with pytest.raises(HubRefusedError) as refused:
        transport_for(answering(too_large), []).push(EMPTY)
    assert refused.value.code == "too_large"
    with pytest.raises(HubUnavailableError):  # a body that is not one still is not
        transport_for(answering(httpx.Response(403, json={"hint": "x"})), []).push(EMPTY)


def test_the_hubs_send_it_again_is_an_outage_not_a_refusal() -> None:
    """The hub's 400 ``unreadable_body`` (a body cut short on the way) and ``body_damaged``
    (bytes changed on the way) say nothing of the records: retried, never split or
    quarantined as the hub's verdict."""
    for code in ("unreadable_body", "body_damaged"):
        cut = httpx.Response(400, json={"error": code, "reason": "send it again"})
        with pytest.raises(HubUnavailableError) as raised:
            transport_for(answering(cut), []).push(EMPTY)
        assert not isinstance(raised.value, HubRefusedError), code


def test_an_answer_that_is_not_the_body_its_sha256_names_is_not_used() -> None:
    """Changed on the way yet valid JSON: without the check it would be the hub's word."""
    body = b'{"acknowledged": [], "rejected": []}'
    said = {BODY_SHA256_HEADER: hashlib.sha256(body).hexdigest()}
    assert transport_for(answering(httpx.Response(200, content=body, headers=said)), []).push(
        EMPTY
    ) == PushResult(acknowledged=[], rejected=[])
    changed = body.replace(b"[]}", b"[] }")
    with pytest.raises(HubUnavailableError, match="damaged on the way"):
        transport_for(answering(httpx.Response(200, content=changed, headers=said)), []).push(EMPTY)
    untold = httpx.Response(200, content=changed)  # a hub before the header
    assert transport_for(answering(untold), []).push(EMPTY).rejected == []


def test_retry_after_is_passed_on() -> None:
    busy = httpx.Response(503, json={"error": "x", "reason": "y"}, headers={"Retry-After": "7"})
    with pytest.raises(HubUnavailableError) as raised:
        transport_for(answering(busy), []).push(EMPTY)
    assert raised.value.retry_after_s == 7.0


def test_the_token_travels_as_a_bearer_header_and_nowhere_else() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"acknowledged": [], "rejected": []})

    transport_for(httpx.MockTransport(handle), []).push(EMPTY)
    (request,) = seen
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url) and TOKEN.encode() not in request.content
    config = SyncConfig(registration())
    assert TOKEN not in repr(config) and TOKEN not in repr(config.registration)


def test_an_offset_mismatch_carries_the_hubs_offset() -> None:
    hub = FakeHub()
    hub.faults.append(Fault("uploads", status=409, error="offset_mismatch", expected_offset=42))
    transport = HubTransport(hub.client(), registration())
    with pytest.raises(HubRefusedError) as raised:
        transport.put_chunk(UUID(int=1), 0, b"x")
    assert (raised.value.code, raised.value.expected_offset) == ("offset_mismatch", 42)


def test_configuration_comes_from_the_environment_over_the_store() -> None:
    stored = {
        "hub_url": "http://10.0.0.2:8000/",
        "site": "north-gate",
        "device_id": str(DEVICE),
        "device_token": "stored-token",
    }
    config = resolve_config({"JAGA_SYNC_TOKEN": TOKEN}, stored)
    assert config.hub_url == "http://10.0.0.2:8000" and config.registration.token == TOKEN
    assert not config.policy.send_face_images
    assert resolve_config({"JAGA_SYNC_FACE_IMAGES": "1"}, stored).policy.send_face_images
    with pytest.raises(SyncConfigError, match="no device token") as raised:
        resolve_config({}, {k: v for k, v in stored.items() if k != "device_token"})
    assert "stored-token" not in str(raised.value)
    with pytest.raises(SyncConfigError, match="http"):
        resolve_config({"JAGA_HUB_URL": "ftp://hub"}, stored)


def test_a_device_reuses_an_idle_connection_for_less_time_than_the_hub_keeps_it() -> None:
    """A request sent on a kept connection just as the hub closes it is reset mid-request:
    with httpx's default (5 s against gunicorn's default of 2 s) 3 of 8 devices pulling a
    site at once had a page reset. The client's pool must drop idle connections first."""
    from sync.hub.server import ServeOptions

    with hub_http_client() as http:
        pool = http._transport._pool  # type: ignore[attr-defined]  # httpcore's, read only
        assert pool._keepalive_expiry < ServeOptions().keepalive_s
