"""An in-memory hub behind ``httpx.MockTransport``: the protocol, a ledger, and scripted faults.

It speaks the same ``sync.protocol`` models as the real hub and keeps the promises the
client relies on (a replayed key is acknowledged and stored once; the hub owns the upload
offset), so unit tests exercise the client's logic in milliseconds. ``faults`` is a queue
of what to do to the next matching requests: answer with a status, fail the link before the
hub sees the request, or apply it and then lose the answer.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal
from uuid import UUID

import httpx

from sync.client import Registration
from sync.protocol import (
    CHUNK_SHA256_HEADER,
    PROTOCOL_VERSION,
    Change,
    PullRequest,
    PullResult,
    PushBatch,
    PushResult,
    Rejection,
    SpeciesPackPublished,
    UploadStart,
    UploadStatus,
)

TOKEN = "jaga_unit-test-token-0123456789"
SITE = "north-gate"
DEVICE = UUID("5f1c0f8e-8a54-4bd4-9d0c-4f2d3b7a6e01")


def registration(url: str = "http://hub.test") -> Registration:
    return Registration(url, SITE, DEVICE, TOKEN)


@dataclass
class Fault:
    """What to do to the next request whose ``METHOD path`` contains ``match``."""

    match: str
    status: int | None = None  # answer with this status and an ErrorBody
    error: str = "scripted"
    expected_offset: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # the link fails before the hub sees the request
    lose_answer: bool = False  # the hub applies the request, then the link fails
    body: bytes | None = None  # answer ``body_status`` with these raw bytes (and ``headers``)
    body_status: int = 200


@dataclass
class _Upload:
    start: UploadStart
    upload_id: UUID
    data: bytearray = field(default_factory=bytearray)
    complete: bool = False


class FakeHub:
    def __init__(self) -> None:
        self.ledger: dict[str, str] = {}  # idempotency key -> content
        self.stored: dict[tuple[str, str], int] = {}  # (entity, uid) -> times applied
        self.changes: list[Change] = []
        self.uploads: dict[UUID, _Upload] = {}
        self.photos: dict[str, bytes] = {}
        self.reject: dict[str, str] = {}  # entity_uid -> rejection reason
        self.retryable: set[str] = set()  # entity_uids whose rejection says "send it again"
        self.refuse_whole: set[str] = set()  # entity_uids that make a whole batch 400
        self.faults: deque[Fault] = deque()
        self.requests: list[str] = []
        # The one protocol this hub serves; set an older one for a hub not yet upgraded.
        self.speaks = PROTOCOL_VERSION
        # The Date of a pull's answer: the wall clock's, as gunicorn sends it; None: none.
        self.date: datetime | Literal["wall clock"] | None = "wall clock"
        # The newest species pack a pull's answer names (None: the answer has no such
        # field, as a hub's before it named packs; a hub that names none answers null).
        self.names_pack: SpeciesPackPublished | None = None
        self.pull_headers: dict[str, str] = {}  # more headers on a pull's answer
        self.transport = httpx.MockTransport(self.handle)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport)

    def add_change(
        self, entity: str, operation: str, payload: dict[str, Any], origin: UUID | None = None
    ) -> Change:
        """Log a change; ``origin``: the device that made it (None: the hub's own edit)."""
        uid = next((v for k, v in payload.items() if k.endswith("_uid")), None)
        change = Change.model_validate(
            {
                "cursor": len(self.changes) + 1,
                "entity": entity,
                "entity_uid": uid or str(uuid.uuid4()),
                "operation": operation,
                "payload": payload,
                "changed_at": "2026-03-01T08:00:00.000000Z",
                "origin_device": None if origin is None else str(origin),
            }
        )
        self.changes.append(change)
        return change

    def handle(self, request: httpx.Request) -> httpx.Response:
        line = f"{request.method} {request.url.path}"
        self.requests.append(line)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(401, "unknown_token", "unknown token: register the device again")
        fault = self._take_fault(line)
        if fault is not None and fault.drop:
            raise httpx.ConnectError("scripted: link down", request=request)
        if fault is not None and fault.status is not None:
            return _error(
                fault.status, fault.error, "scripted", fault.expected_offset, fault.headers
            )
        if fault is not None and fault.body is not None:
            return httpx.Response(fault.body_status, content=fault.body, headers=fault.headers)
        response = self._route(request)
        if fault is not None and fault.lose_answer:
            raise httpx.ReadTimeout("scripted: answer lost", request=request)
        return response

    def _take_fault(self, line: str) -> Fault | None:
        for fault in list(self.faults):
            if fault.match in line:
                self.faults.remove(fault)
                return fault
        return None

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/push"):
            return self._push(PushBatch.model_validate_json(request.content))
        if path.endswith("/changes"):
            return self._changes(request)
        if path.endswith("/uploads"):
            return self._start(UploadStart.model_validate_json(request.content))
        return self._upload(request)

    def _upload(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/audit"):  # a hub from before audit chains were anchored
            return _error(404, "not_found", f"no such endpoint: {path}")
        upload = self.uploads.get(UUID(path.rsplit("/", 1)[1]))
        if upload is None:
            return _error(404, "unknown_upload", "no such upload")
        if request.method == "GET":
            return _json(_status(upload))
        return self._chunk(upload, int(request.url.params["offset"]), request)

    def _push(self, batch: PushBatch) -> httpx.Response:
        if batch.protocol_version != self.speaks:
            return self._other_protocol(batch.protocol_version)
        if any(str(e.entity_uid) in self.refuse_whole for e in batch.entries):
            return _error(400, "invalid_body", "entries.0.payload: scripted refusal")
        acknowledged, rejected = [], []
        for entry in batch.entries:
            key, uid = str(entry.idempotency_key), str(entry.entity_uid)
            content = json.dumps(entry.payload, sort_keys=True)
            if key in self.ledger:
                acknowledged.append(entry.idempotency_key)
            elif uid in self.reject:
                retryable = uid in self.retryable
                reason = self.reject[uid]
                rejected.append(
                    Rejection(key=entry.idempotency_key, reason=reason, retryable=retryable)
                )
            else:
                self.ledger[key] = content
                self.stored[(entry.entity, uid)] = self.stored.get((entry.entity, uid), 0) + 1
                acknowledged.append(entry.idempotency_key)
        return _json(PushResult(acknowledged=acknowledged, rejected=rejected))

    def _changes(self, request: httpx.Request) -> httpx.Response:
        pull = PullRequest.model_validate({k: int(v) for k, v in request.url.params.items()})
        if pull.protocol_version != self.speaks:  # as the hub: see PullRequest
            return self._other_protocol(pull.protocol_version)
        return self._pull(pull.cursor, pull.limit)

    def _other_protocol(self, version: int) -> httpx.Response:
        """A protocol-2 hub's words (sync_views._check_version of that release)."""
        reason = f"this hub speaks protocol {self.speaks}, not {version}"
        return _error(400, "unsupported_protocol", reason)

    def _pull(self, cursor: int, limit: int) -> httpx.Response:
        after = [c for c in self.changes if c.cursor > cursor]
        page = after[:limit]
        next_cursor = page[-1].cursor if page else cursor
        more = len(after) > limit
        result = PullResult(
            changes=page, next_cursor=next_cursor, has_more=more, species_pack=self.names_pack
        )
        answer = _json(result, exclude={"species_pack"} if self.names_pack is None else None)
        date = datetime.now(UTC) if self.date == "wall clock" else self.date
        if date is not None:
            answer.headers["Date"] = format_datetime(date, usegmt=True)
        answer.headers.update(self.pull_headers)
        return answer

    def _start(self, start: UploadStart) -> httpx.Response:
        for upload in self.uploads.values():
            if upload.start.photo_uid == start.photo_uid:
                return _json(_status(upload))
        upload = _Upload(start, uuid.uuid4())
        self.uploads[upload.upload_id] = upload
        return _json(_status(upload))

    def _chunk(self, upload: _Upload, offset: int, request: httpx.Request) -> httpx.Response:
        data = request.content
        if hashlib.sha256(data).hexdigest() != request.headers[CHUNK_SHA256_HEADER]:
            return _error(400, "chunk_checksum_mismatch", "bad chunk")
        if upload.complete:
            return _json(_status(upload))
        if offset != len(upload.data):
            return _error(409, "offset_mismatch", "send from there", len(upload.data))
        upload.data.extend(data)
        if len(upload.data) == upload.start.total_size:
            if hashlib.sha256(upload.data).hexdigest() != upload.start.sha256:
                upload.data.clear()
                return _error(400, "photo_checksum_mismatch", "again from 0", 0)
            upload.complete = True
            self.photos[str(upload.start.photo_uid)] = bytes(upload.data)
        return _json(_status(upload))


class SlowHub(FakeHub):
    """The fake hub, taking ``delay_s`` over every request: a sync stays in flight."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.busy = threading.Event()

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.busy.set()
        time.sleep(self.delay_s)
        return super().handle(request)


def _status(upload: _Upload) -> UploadStatus:
    return UploadStatus(
        upload_id=upload.upload_id,
        photo_uid=upload.start.photo_uid,
        total_size=upload.start.total_size,
        received=len(upload.data),
        complete=upload.complete,
    )


def _json(model: Any, exclude: set[str] | None = None) -> httpx.Response:
    return httpx.Response(
        200,
        content=model.model_dump_json(exclude=exclude),
        headers={"Content-Type": "application/json"},
    )


def _error(
    status: int,
    code: str,
    reason: str,
    expected_offset: int | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"error": code, "reason": reason}
    if expected_offset is not None:
        body["expected_offset"] = expected_offset
    return httpx.Response(status, json=body, headers=headers or {})
