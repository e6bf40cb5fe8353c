"""The one place the client talks HTTP: ``sync.protocol`` models in, models out.

The ``httpx.Client`` is injected (httpx's ``MockTransport`` in unit tests, a real client
against a hub), and every httpx exception and every refusal is translated into
``sync.client.errors``: nothing above this module sees httpx. How an answer is read, and
when a refusal is the hub's rather than a captive portal's or a proxy's, is
``sync.client.transport_answers``; how a species pack streams into a file and resumes after
a cut, ``sync.client.transport_download``. This module re-exports what they held here.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO
from urllib.parse import quote
from uuid import UUID

import httpx
from pydantic import BaseModel

from sync.client.config import Registration
from sync.client.errors import DownloadCutError, HubUnavailableError
from sync.client.transport_answers import (
    Model,
    answer_seal,
    hub_date,
    named_hub_id,
    parse_answer,
    refusal,
    restates_face_photos,
    send,
    unavailable,
)
from sync.client.transport_download import (
    Download,
    check_resumed_at,
    is_hubs_whole,
    refusal_of_stream,
    stream_into,
    whole_if_proven,
)
from sync.protocol import (
    AUDIT_CHECKPOINT_HEADER,
    BODY_SHA256_HEADER,
    CHUNK_SHA256_HEADER,
    LOG_EPOCH_HEADER,
    LOG_SEAL_HEADER,
    LOG_TIP_HEADER,
    NO_LOG_EPOCH,
    PACK_SCHEMA_HEADER,
    PROTOCOL_VERSION,
    AuditBatch,
    AuditCheckpoint,
    AuditReceipt,
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

# What other modules and the tests import from here: the transport's own names, and those
# of reading answers and streaming downloads that lived here before they moved.
__all__ = [
    "IDLE_CONNECTION_REUSE_S",
    "Download",
    "HubTransport",
    "Pulled",
    "Registered",
    "RequestObserver",
    "RequestTiming",
    "hub_date",
    "hub_http_client",
    "named_hub_id",
    "parse_answer",
    "refusal",
    "register_device",
    "register_named",
    "send",
    "unavailable",
]
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
    # It takes face photos restated without metadata (``FACE_PHOTOS_RESTATED_HEADER``).
    restates_face_photos: bool = False


@dataclass(frozen=True)
class Registered:
    """The register answer, and the id the hub named itself by in it (``HUB_ID_HEADER``;
    None: a hub before ids). Sent to the one-time code, it names the hub that took it, as
    an unauthenticated status page cannot (``sync.client.register_answer``)."""

    result: RegisterResult
    hub_id: str | None


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
        return Pulled(
            page,
            hub_date(response),
            answer_seal(response),
            named_hub_id(response),
            restates_face_photos(response),
        )

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
            # So that a body damaged on the way reads as such, not as records the hub
            # refuses (``BODY_SHA256_HEADER``).
            headers = {
                **(headers or {}),
                "Content-Type": "application/json",
                BODY_SHA256_HEADER: hashlib.sha256(content).hexdigest(),
            }
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
                    refused = refusal_of_stream(response, operation)
                    if isinstance(refused, HubUnavailableError):
                        # A gateway's or portal's page, before a byte of this answer was
                        # written: what ``sink`` holds from before is still good to resume.
                        # A 429's or 503's Retry-After goes with it (the pack's wait floor).
                        hint = refused.retry_after_s
                        raise DownloadCutError(str(refused), retry_after_s=hint) from None
                    raise refused
                if status == 206:
                    check_resumed_at(response, resume_from, operation)
                elif resume_from and not is_hubs_whole(response, etag, operation):
                    return whole_if_proven(response, sink, max_bytes, etag, operation)
                start = resume_from if status == 206 else 0
                sink.seek(start)
                sink.truncate()
                return stream_into(response, sink, max_bytes - start, operation)
        except httpx.RequestError as error:  # the link failed, also halfway through
            raise DownloadCutError(str(unavailable(error))) from error
        finally:
            if self._observer is not None:
                self._observer(RequestTiming(operation, status, self._monotonic() - started))


def hub_http_client() -> httpx.Client:
    """The HTTP client a device talks to its hub with (``IDLE_CONNECTION_REUSE_S``)."""
    return httpx.Client(limits=httpx.Limits(keepalive_expiry=IDLE_CONNECTION_REUSE_S))


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
