"""The one place the client talks HTTP: ``sync.protocol`` models in, models out.

The ``httpx.Client`` is injected (httpx's ``MockTransport`` in unit tests, a real client
against a hub), and every httpx exception and every refusal is translated here into
``sync.client.errors``: nothing above this module sees httpx. A 200 whose body does not
validate is treated as a lost answer (retry), not as a verdict: pushes are idempotent, so a
retry can never store twice, while believing a garbled answer could lose a record.

For the same reason a refusal is the hub's only when it carries the hub's ``ErrorBody``: a
401/403 page from a captive portal or firewall is an outage (back off, retry), not the hub
refusing the token, and a bare 413 is a proxy's body-size limit (``ProxyBodyLimitError``),
not the hub's verdict on the records.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import quote
from uuid import UUID

import httpx
from pydantic import BaseModel, ValidationError

from sync.client.config import Registration
from sync.client.errors import (
    DownloadCutError,
    HubAuthError,
    HubRefusedError,
    HubUnavailableError,
    ProtocolMismatchError,
    ProxyBodyLimitError,
)
from sync.protocol import (
    AUDIT_CHECKPOINT_HEADER,
    AUTH_ERROR_CODES,
    CHUNK_SHA256_HEADER,
    HUB_ID_HEADER,
    LOG_EPOCH_HEADER,
    LOG_SEAL_HEADER,
    LOG_TIP_HEADER,
    MAX_AUDIT_BODY_BYTES,
    MAX_CHUNK_BYTES,
    MAX_JSON_BODY_BYTES,
    MAX_PUSH_BODY_BYTES,
    NO_LOG_EPOCH,
    PACK_SCHEMA_HEADER,
    PROTOCOL_VERSION,
    TOO_LARGE_CODES,
    AuditBatch,
    AuditCheckpoint,
    AuditReceipt,
    ErrorBody,
    HubStatus,
    PullResult,
    PushBatch,
    PushResult,
    RegisterRequest,
    RegisterResult,
    UploadStart,
    UploadStatus,
)
from sync.species_packs import READABLE_PACK_SCHEMA

Model = TypeVar("Model", bound=BaseModel)
_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
_MAX_RETRY_AFTER_S = 3600.0
_MAX_ERROR_BODY_BYTES = 64 * 1024
_MAX_SEAL = 64  # the hub takes back a seal of 64 hex digits at most (LOG_SEAL_HEADER)
# The hub's own body limit of each operation that sends one (``sync.hub.api.middleware``).
_HUB_BODY_LIMITS = {"push": MAX_PUSH_BODY_BYTES, "audit": MAX_AUDIT_BODY_BYTES,
                    "chunk": MAX_CHUNK_BYTES}  # fmt: skip
# How long an idle connection to the hub is kept for the next request. A server closes idle
# keep-alive connections after its own timeout; a request sent on one just as it closes is
# reset mid-request. With httpx's default of 5 s against gunicorn's default of 2 s, 3 of 8
# devices pulling a site at once had a page reset in each of two runs. The device lets go
# first: under the hub's keep-alive (``jaga hub run``: 10 s) and nginx's (75 s), yet long
# enough that a pull's pages reuse one TLS connection (a handshake costs round trips that a
# satellite link counts in seconds).
IDLE_CONNECTION_REUSE_S = 4.0


@dataclass(frozen=True)
class RequestTiming:
    """One request as the client saw it: for metrics and the load test's percentiles."""

    operation: str
    status: int | None
    seconds: float


RequestObserver = Callable[[RequestTiming], None]


@dataclass(frozen=True)
class Pulled:
    """One page of the change log, and the hub's time when it answered (its HTTP ``Date``,
    whole seconds; None when the answer did not say): what the page's times are held to
    (``sync.store.edit_clock``)."""

    page: PullResult
    hub_now: datetime | None
    seal: str | None = None  # the hub's seal of the page's last change (``LOG_SEAL_HEADER``)
    hub_id: str | None = None  # the id the hub named itself by (``HUB_ID_HEADER``)


@dataclass(frozen=True)
class Registered:
    """The register answer, and the id the hub named itself by in it (``HUB_ID_HEADER``;
    None: a hub before ids). Sent to the one-time code, it names the hub that took it, as
    an unauthenticated status page cannot (``sync.client.register_answer``)."""

    result: RegisterResult
    hub_id: str | None


@dataclass(frozen=True)
class Download:
    """What a binary download wrote: its size and sha256, counted as the bytes arrived."""

    byte_size: int
    sha256: str


class HubTransport:
    """The hub's device API for one registered device."""

    def __init__(
        self,
        http: httpx.Client,
        registration: Registration,
        *,
        timeout: httpx.Timeout | None = None,
        observer: RequestObserver | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._registration = registration
        self._timeout = timeout or httpx.Timeout(30.0, connect=5.0)
        self._observer = observer
        self._monotonic = monotonic

    @property
    def registration(self) -> Registration:
        """The registration its requests are made with."""
        return self._registration

    def push(self, batch: PushBatch) -> PushResult:
        return self._call("push", "POST", self._site_url("push"), PushResult, body=batch)

    def anchor_audit(
        self, batch: AuditBatch, checkpoint: AuditCheckpoint | None = None
    ) -> AuditReceipt:
        """``checkpoint``: the last entry retention deleted, when ``batch`` begins right after
        it (``AUDIT_CHECKPOINT_HEADER``; a hub before it ignores the header)."""
        headers = {AUDIT_CHECKPOINT_HEADER: checkpoint.header()} if checkpoint else None
        url = self._site_url("audit")
        return self._call("audit", "POST", url, AuditReceipt, body=batch, headers=headers)

    def changes(
        self,
        cursor: int,
        limit: int,
        log_epoch: str = NO_LOG_EPOCH,
        tip: str | None = None,
        seal: str | None = None,
    ) -> Pulled:
        """A page after ``cursor``; ``log_epoch``: the site's log epoch this device kept
        (``sync.client.log_epoch``), which the answer's ``log_epoch`` is compared with;
        ``tip``: the fingerprint of the change it applied at ``cursor``, which the hub
        compares with its own (``LOG_TIP_HEADER``), and ``seal`` the hub's seal of it
        (``LOG_SEAL_HEADER``), without which the hub takes the tip as no evidence. The
        answer's seal, if the hub gave one, is ``Pulled.seal``."""
        params = {
            "cursor": str(cursor),
            "limit": str(limit),
            "protocol_version": str(PROTOCOL_VERSION),
        }
        # The hub then announces only the species packs this release reads, and names the
        # newest of them in its answer (a hub before that ignores the header).
        headers = {PACK_SCHEMA_HEADER: str(READABLE_PACK_SCHEMA), LOG_EPOCH_HEADER: log_epoch}
        if tip is not None:
            headers[LOG_TIP_HEADER] = tip
        if tip is not None and seal is not None:
            headers[LOG_SEAL_HEADER] = seal
        response = self._send(
            "pull", "GET", self._site_url("changes"), params=params, headers=headers
        )
        page = parse_answer(response, PullResult, "pull")
        return Pulled(page, hub_date(response), _seal(response), named_hub_id(response))

    def start_upload(self, start: UploadStart) -> UploadStatus:
        return self._call("upload", "POST", self._site_url("uploads"), UploadStatus, body=start)

    def upload_status(self, upload_id: UUID) -> UploadStatus:
        url = self._site_url(f"uploads/{upload_id}")
        return self._call("upload", "GET", url, UploadStatus)

    def put_chunk(self, upload_id: UUID, offset: int, data: bytes) -> UploadStatus:
        headers = {
            CHUNK_SHA256_HEADER: hashlib.sha256(data).hexdigest(),
            "Content-Type": "application/octet-stream",
        }
        url = self._site_url(f"uploads/{upload_id}")
        return self._call(
            "chunk", "PUT", url, UploadStatus, content=data, headers=headers,
            params={"offset": str(offset)},
        )  # fmt: skip

    def download_species_pack(
        self,
        version: str,
        sink: IO[bytes],
        *,
        max_bytes: int,
        resume_from: int = 0,
        etag: str | None = None,
    ) -> Download:
        """Stream a species pack's bytes into ``sink``; more than ``max_bytes`` is refused
        (the announcement says how many to expect, so a longer answer is not the pack).

        With ``resume_from``, ``sink`` (a file) already holds that many bytes of the pack whose
        sha256 is ``etag``: only the rest is asked for. A whole pack sent instead (200) is
        written from the start when it is the hub's answer for this pack (its ``ETag``,
        which every hub sends, is ``etag``), or, without that ETag (a proxy that ignores
        Range and strips it), when its sha256 is ``etag``; any other 200 (a captive portal's
        login page) is a cut, ``DownloadCutError``, leaving ``sink`` as it was. The answer
        is what this call received, not the whole file."""
        url = f"{self._registration.hub_url}/api/v1/species-packs/{quote(version, safe='')}/file"
        headers = {}
        if resume_from:
            headers = {"Range": f"bytes={resume_from}-", "If-Range": f'"{etag}"'}
        return self._download(
            "species_pack", url, sink, max_bytes=max_bytes, resume_from=resume_from,
            extra_headers=headers, etag=etag,
        )  # fmt: skip

    def hub_status(self) -> HubStatus:
        return self._call("status", "GET", f"{self._registration.hub_url}/api/v1/status", HubStatus)

    def _site_url(self, tail: str) -> str:
        registration = self._registration
        return f"{registration.hub_url}/api/v1/sites/{registration.site}/{tail}"

    def _call(
        self,
        operation: str,
        method: str,
        url: str,
        model: type[Model],
        *,
        body: BaseModel | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Model:
        if body is not None:
            content = body.model_dump_json().encode()
            headers = {**(headers or {}), "Content-Type": "application/json"}
        response = self._send(
            operation, method, url, content=content, headers=headers, params=params
        )
        return parse_answer(response, model, operation)

    def _send(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {self._registration.token}", **(headers or {})}
        started = self._monotonic()
        status: int | None = None
        try:
            response = send(
                self._http,
                method,
                url,
                content=content,
                headers=all_headers,
                params=params,
                timeout=self._timeout,
            )
            status = response.status_code
        finally:
            if self._observer is not None:
                self._observer(RequestTiming(operation, status, self._monotonic() - started))
        return response

    def _download(
        self,
        operation: str,
        url: str,
        sink: IO[bytes],
        *,
        max_bytes: int,
        resume_from: int,
        extra_headers: Mapping[str, str],
        etag: str | None = None,
    ) -> Download:
        headers = {"Authorization": f"Bearer {self._registration.token}", **extra_headers}
        started = self._monotonic()
        status: int | None = None
        try:
            with self._http.stream("GET", url, headers=headers, timeout=self._timeout) as response:
                status = response.status_code
                if status not in (200, 206) or (status == 206 and not resume_from):
                    refused = _refusal_of_stream(response, operation)
                    if isinstance(refused, HubUnavailableError):
                        # A gateway's or portal's page, before a byte of this answer was
                        # written: what ``sink`` holds from before is still good to resume.
                        raise DownloadCutError(str(refused)) from None
                    raise refused
                if status == 206:
                    _check_resumed_at(response, resume_from, operation)
                elif resume_from and not _is_hubs_whole(response, etag, operation):
                    return _whole_if_proven(response, sink, max_bytes, etag, operation)
                start = resume_from if status == 206 else 0
                sink.seek(start)
                sink.truncate()
                return _stream_into(response, sink, max_bytes - start, operation)
        except httpx.RequestError as error:  # the link failed, also halfway through
            raise DownloadCutError(str(unavailable(error))) from error
        finally:
            if self._observer is not None:
                self._observer(RequestTiming(operation, status, self._monotonic() - started))


_HUB_ETAG = re.compile(r'"[0-9a-f]{64}"')  # a hub's ETag: a pack's sha256 in quotes


def _check_resumed_at(response: httpx.Response, resume_from: int, operation: str) -> None:
    """A 206 answer must continue exactly where the download was cut."""
    content_range = response.headers.get("Content-Range", "")
    if not content_range.startswith(f"bytes {resume_from}-"):
        # Not the hub's own answer (it resumes where asked): what is held is still good.
        raise DownloadCutError(
            f"the answer to {operation} resumes at {content_range!r}, not at byte {resume_from}"
        )


def _is_hubs_whole(response: httpx.Response, etag: str | None, operation: str) -> bool:
    """Whether a 200 to a resumed download is the hub's whole answer for ``etag`` (its
    ETag, the sha256 in quotes, sent by every hub since the first). The hub's answer for
    another pack is an error: nothing to resume. False: no hub ETag (a portal's page, or
    a proxy that strips ETags), for ``_whole_if_proven`` to judge by its bytes."""
    sent = response.headers.get("ETag", "").removeprefix("W/")
    if etag is not None and sent == f'"{etag}"':
        return True
    if _HUB_ETAG.fullmatch(sent):  # the hub's answer, for another pack: nothing to resume
        raise HubUnavailableError(f"the hub sends another pack ({sent}) for {operation}")
    return False


def _whole_if_proven(
    response: httpx.Response, sink: IO[bytes], max_bytes: int, etag: str | None, operation: str
) -> Download:
    """A 200 without the hub's ETag to a resumed download: a captive portal's login page,
    or the whole pack from a proxy that ignores Range and strips ETags (buffering and
    antivirus ones do). The body goes to a temporary file beside ``sink``; it replaces what
    ``sink`` holds only when its sha256 is ``etag`` (the pack, whoever sent it), else it is
    a cut, ``DownloadCutError``, and what ``sink`` holds stays to resume."""
    name = getattr(sink, "name", None)  # a file's: the temporary one goes beside it
    folder = Path(name).parent if isinstance(name, str) else None
    with tempfile.TemporaryFile(prefix=".download-whole-", dir=folder) as whole:
        try:
            got = _stream_into(response, whole, max_bytes, operation)
        except HubUnavailableError as error:  # longer than the pack: not the pack
            raise DownloadCutError(str(error)) from None
        if etag is None or got.sha256 != etag:
            raise DownloadCutError(
                f"the answer to {operation} is not the pack (a 200 without the hub's ETag"
                " whose sha256 is not the pack's: a captive portal's page?); the part held"
                " is kept to resume"
            )
        whole.seek(0)
        sink.seek(0)
        sink.truncate()
        shutil.copyfileobj(whole, sink)
        return got


def _stream_into(
    response: httpx.Response, sink: IO[bytes], max_bytes: int, operation: str
) -> Download:
    """Copy the body into ``sink`` while counting and hashing it, stopping at the cap."""
    too_long = HubUnavailableError(f"the answer to {operation} is longer than {max_bytes} bytes")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_long
    digest, size = hashlib.sha256(), 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise too_long
        digest.update(chunk)
        sink.write(chunk)
    return Download(size, digest.hexdigest())


def _refusal_of_stream(response: httpx.Response, operation: str) -> Exception:
    """The error for a non-200 streamed answer, reading at most a small error body."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > _MAX_ERROR_BODY_BYTES:
            break
    if response.status_code < 400:
        return HubUnavailableError(f"unexpected answer {response.status_code} to {operation}")
    # Only the headers ``refusal`` reads: the body is already decoded.
    kept = {name: response.headers[name] for name in ("Retry-After",) if name in response.headers}
    read = httpx.Response(
        response.status_code, headers=kept, content=bytes(body[:_MAX_ERROR_BODY_BYTES])
    )
    return refusal(read, operation)


def hub_http_client() -> httpx.Client:
    """The HTTP client a device talks to its hub with (``IDLE_CONNECTION_REUSE_S``)."""
    return httpx.Client(limits=httpx.Limits(keepalive_expiry=IDLE_CONNECTION_REUSE_S))


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
    if status in _RETRYABLE_STATUS:
        return HubUnavailableError(
            f"the hub is busy or failing ({status} {code}): {reason}",
            retry_after_s=_retry_after(response),
        )
    if status in (401, 403):
        return HubAuthError(status, code, reason)
    if code == "unsupported_protocol":
        return ProtocolMismatchError(status, code, reason)
    offset = body.expected_offset if body else None
    return HubRefusedError(status, code, reason, expected_offset=offset)


def register_device(
    http: httpx.Client,
    hub_url: str,
    code: str,
    *,
    sites: Sequence[str] = (),
    timeout: httpx.Timeout | None = None,
) -> RegisterResult:
    """Exchange an operator's one-time code for this device's id, site and token. With
    ``sites`` (those the device has records of to push), a code of another site is refused
    unspent (``HubRefusedError``, code ``site_mismatch``)."""
    return register_named(http, hub_url, code, sites=sites, timeout=timeout).result


def register_named(
    http: httpx.Client,
    hub_url: str,
    code: str,
    *,
    sites: Sequence[str] = (),
    timeout: httpx.Timeout | None = None,
) -> Registered:
    """``register_device``, with the id the hub named itself by in its answer."""
    request = RegisterRequest(code=code, sites=tuple(sites) or None)
    content = request.model_dump_json(exclude_none=True).encode()  # as a hub before ``sites``
    headers = {"Content-Type": "application/json"}
    url = f"{hub_url}/api/v1/devices/register"
    response = send(
        http,
        "POST",
        url,
        content=content,
        headers=headers,
        params=None,
        timeout=timeout or httpx.Timeout(30.0, connect=5.0),
    )
    return Registered(parse_answer(response, RegisterResult, "register"), named_hub_id(response))


def hub_date(response: httpx.Response) -> datetime | None:
    """The hub's time from the answer's HTTP ``Date`` (gunicorn sends one with every
    answer), or None when it is absent or unreadable."""
    try:
        moment = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _seal(response: httpx.Response) -> str | None:
    """The hub's seal of the answer's last change (``LOG_SEAL_HEADER``), or None when it
    gave none (a hub before seals) or not one the hub would take back."""
    seal = response.headers.get(LOG_SEAL_HEADER)
    if seal is None or not (0 < len(seal) <= _MAX_SEAL and seal.isascii() and seal.isalnum()):
        return None
    return str(seal).lower()


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
    """``Retry-After`` in seconds (the HTTP-date form is not used by the hub)."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw.isdigit():
        return None
    return min(float(raw), _MAX_RETRY_AFTER_S)


def _name(error: Exception) -> str:
    return type(error).__name__
