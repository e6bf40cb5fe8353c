"""Reading the hub's answers: the model asked for, the hub's own headers, or an error of
``sync.client.errors``; and sending one request, httpx's failures translated.

Every httpx exception and every refusal is translated here into ``sync.client.errors``:
nothing above ``sync.client.transport`` sees httpx. A 200 whose body does not validate, or
is not the body the hub's ``BODY_SHA256_HEADER`` names (changed on the way, yet valid), is
treated as a lost answer (retry), not as a verdict: pushes are idempotent, so a retry can
never store twice, while believing a garbled answer could lose a record.

For the same reason a refusal is the hub's only when it carries the hub's ``ErrorBody``: a
401/403 page from a captive portal or firewall is an outage (back off, retry), not the hub
refusing the token, and a bare 413 is a proxy's body-size limit (``ProxyBodyLimitError``),
not the hub's verdict on the records.

Apart from ``HubTransport`` (which re-exports these) because the requests made before or
without a registration (registering, giving one back, asking a hub its id) send and read
their answers the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel, ValidationError

from sync.client.errors import (
    HubAuthError,
    HubRefusedError,
    HubUnavailableError,
    ProtocolMismatchError,
    ProxyBodyLimitError,
)
from sync.protocol import (
    AUTH_ERROR_CODES,
    BODY_DAMAGED,
    BODY_SHA256_HEADER,
    FACE_PHOTOS_RESTATED_HEADER,
    HUB_ID_HEADER,
    LOG_SEAL_HEADER,
    MAX_AUDIT_BODY_BYTES,
    MAX_CHUNK_BYTES,
    MAX_JSON_BODY_BYTES,
    MAX_PUSH_BODY_BYTES,
    TOO_LARGE_CODES,
    ErrorBody,
)

Model = TypeVar("Model", bound=BaseModel)
_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
# The hub's codes for a body that did not reach it whole (cut short, bytes changed on the
# way): "send it again", no verdict on what it carried.
_NOT_WHOLE_CODES = {BODY_DAMAGED, "unreadable_body"}
_MAX_RETRY_AFTER_S = 3600.0
_MAX_SEAL = 64  # the hub takes back a seal of 64 hex digits at most (LOG_SEAL_HEADER)
# The hub's own body limit of each operation that sends one (``sync.hub.api.middleware``).
_HUB_BODY_LIMITS = {"push": MAX_PUSH_BODY_BYTES, "audit": MAX_AUDIT_BODY_BYTES,
                    "chunk": MAX_CHUNK_BYTES}  # fmt: skip


def unavailable(error: httpx.RequestError) -> HubUnavailableError:
    """httpx's failure as ``HubUnavailableError``: the link, not a verdict."""
    if isinstance(error, httpx.TimeoutException):
        return HubUnavailableError(f"the hub did not answer in time ({_name(error)})")
    # Connection refused, reset, closed mid-answer, a broken chunk.
    return HubUnavailableError(f"cannot reach the hub ({_name(error)})")


def send(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    content: bytes | None,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None,
    timeout: httpx.Timeout,
) -> httpx.Response:
    """One request, its body read in full; httpx's failures become ``HubUnavailableError``."""
    try:
        return http.request(
            method, url, content=content, headers=dict(headers), params=params, timeout=timeout
        )
    except httpx.TransportError as error:  # timeouts included
        raise unavailable(error) from error


def parse_answer(response: httpx.Response, model: type[Model], operation: str) -> Model:
    if response.status_code >= 400:
        raise refusal(response, operation)
    if response.status_code != 200:
        raise HubUnavailableError(f"unexpected answer {response.status_code} to {operation}")
    said = response.headers.get(BODY_SHA256_HEADER)  # a hub before it says nothing
    if said is not None and hashlib.sha256(response.content).hexdigest() != said.lower():
        raise HubUnavailableError(
            f"the hub's answer to {operation} was damaged on the way (not the body its "
            f"{BODY_SHA256_HEADER} names): nothing of it was used"
        )
    try:
        return model.model_validate_json(response.content)
    except ValidationError:
        raise HubUnavailableError(f"the hub's answer to {operation} was unreadable") from None


def refusal(response: httpx.Response, operation: str = "") -> Exception:
    """The error for a 4xx or 5xx answer (its ``ErrorBody`` when there is one).

    A 401/403 is the hub refusing this device only with one of the hub's ``AUTH_ERROR_CODES``;
    a 413 is the hub's only with one of its ``TOO_LARGE_CODES``. Anything else with those
    statuses came from something in between, and is an outage to wait out."""
    status = response.status_code
    body = _error_body(response)
    if status in (401, 403) and (body is None or body.error not in AUTH_ERROR_CODES):
        answer = f"{status} {response.reason_phrase}".strip()
        return HubUnavailableError(
            f"{answer} from something that is not the hub (a captive portal or firewall on "
            "the way?): sync retries; if it lasts, sign in to the network or ask its operator "
            "to let the hub through"
        )
    if status == 413 and (body is None or body.error not in TOO_LARGE_CODES):
        limit = _HUB_BODY_LIMITS.get(operation, MAX_JSON_BODY_BYTES)
        return ProxyBodyLimitError(_request_size(response), limit)
    code = body.error if body else f"http_{status}"
    reason = body.reason if body else response.reason_phrase or "no reason given"
    if status in _RETRYABLE_STATUS or code in _NOT_WHOLE_CODES:
        return _outage(response, operation, code, reason)
    if status in (401, 403):
        return HubAuthError(status, code, reason)
    if code == "unsupported_protocol":
        return ProtocolMismatchError(status, code, reason)
    offset = body.expected_offset if body else None
    return HubRefusedError(status, code, reason, expected_offset=offset)


def _outage(response: httpx.Response, operation: str, code: str, reason: str) -> Exception:
    """A refusal that is no verdict: the hub busy or failing, or the body cut or damaged on
    its way there (the same body is whole when sent again)."""
    if code in _NOT_WHOLE_CODES:
        return HubUnavailableError(
            f"the {operation or 'request'} reached the hub damaged ({code}): {reason}"
        )
    status = response.status_code
    return HubUnavailableError(
        f"the hub is busy or failing ({status} {code}): {reason}",
        retry_after_s=_retry_after(response),
    )


def hub_date(response: httpx.Response) -> datetime | None:
    """The hub's time from the answer's HTTP ``Date`` (gunicorn sends one with every
    answer), or None when it is absent or unreadable."""
    try:
        moment = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def answer_seal(response: httpx.Response) -> str | None:
    """The hub's seal of the answer's last change (``LOG_SEAL_HEADER``), or None when it
    gave none (a hub before seals) or not one the hub would take back."""
    seal = response.headers.get(LOG_SEAL_HEADER)
    if seal is None or not (0 < len(seal) <= _MAX_SEAL and seal.isascii() and seal.isalnum()):
        return None
    return str(seal).lower()


def restates_face_photos(response: httpx.Response) -> bool:
    """Whether the hub says it takes a stored face photo's sha256 restated without its
    metadata (``FACE_PHOTOS_RESTATED_HEADER``); a hub before it says nothing."""
    return bool(response.headers.get(FACE_PHOTOS_RESTATED_HEADER) == "1")


def named_hub_id(response: httpx.Response) -> str | None:
    """The id the hub named itself by (``HUB_ID_HEADER``), as a uuid's text; None when it
    named none (a hub before hub ids), or not a uuid (then the address tells hubs apart)."""
    try:
        return str(UUID(response.headers.get(HUB_ID_HEADER, "")))
    except ValueError:
        return None


def _error_body(response: httpx.Response) -> ErrorBody | None:
    """The hub's ``ErrorBody``, read leniently: fields a later hub adds are ignored (the hub
    builds its bodies strictly), so its refusals never read as a middlebox's page."""
    try:
        data: Any = response.json()
        if not isinstance(data, dict):
            return None
        known = {name: data[name] for name in ErrorBody.model_fields if name in data}
        return ErrorBody.model_validate(known)
    except (ValueError, ValidationError):
        return None


def _request_size(response: httpx.Response) -> int | None:
    """The size of the body of the request ``response`` answers (None: not known)."""
    try:
        return len(response.request.content)
    except (RuntimeError, httpx.RequestNotRead):  # no request, or a streamed body
        return None


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, at most ``_MAX_RETRY_AFTER_S``; None when it is absent or
    unreadable (the back-off alone then decides).

    The hub sends seconds; a load balancer or proxy in between may send an HTTP date, read
    against the answer's own ``Date`` (this device's clock may be far off), or this
    device's clock when the answer has none: a date already past is 0. Only ASCII digits
    are seconds: ``str.isdigit`` also takes a superscript, which ``float`` refuses."""
    raw = response.headers.get("Retry-After", "").strip()
    if raw.isascii() and raw.isdigit():
        return min(float(raw), _MAX_RETRY_AFTER_S)
    try:
        retry_at = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if retry_at.tzinfo is None:
        retry_at = retry_at.replace(tzinfo=UTC)
    now = hub_date(response) or datetime.now(UTC)
    return min(max((retry_at - now).total_seconds(), 0.0), _MAX_RETRY_AFTER_S)


def _name(error: Exception) -> str:
    return type(error).__name__
