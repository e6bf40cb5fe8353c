"""Resumable photo uploads: the bytes of photos whose metadata the hub has acknowledged.

The hub keeps the offset: each upload starts by asking it (``POST uploads`` starts or
resumes), then sends chunks from there, each with its sha256. A cut link costs at most the
chunk in flight; a chunk whose answer was lost is caught by the hub's ``offset_mismatch``
(the client continues where the hub says), and a photo whose joined bytes fail their
checksum is sent again from the start, once. A chunk that reached the hub damaged (its
sha256 does not match: the link's fault, not the photo's) is sent again, up to
``DAMAGED_CHUNKS_RESENT`` times a photo; past that the link is failing
(``HubUnavailableError``: the upload resumes at a later sync). A chunk a proxy's body limit
refuses (a bare 413: ``ProxyBodyLimitError``) is sent again in halves, down to
``MIN_CHUNK_BYTES``, and the size that passed is kept for the rest of this sync; a photo
even that does not pass waits for the next sync (nothing is recorded against it) while the
other photos go on, and the sync then fails naming the limit (``UploadReport.held_back``).
A refusal about the photo itself (``_FINAL_CODES``) is recorded and the photo is not offered
again on its own; a ``failed`` one stays named, counted and retryable
(``sync.client.failed_uploads``), as its bytes are then only on this device. Face images
(enrolment photos, which belong to a person) stay on the device unless the site's policy
lets them travel; their metadata and the embeddings made from them still go.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from sync.client.config import SitePolicy, Tuning
from sync.client.errors import (
    HubAuthError,
    HubRefusedError,
    HubUnavailableError,
    ProxyBodyLimitError,
)
from sync.client.failed_uploads import count_failed_uploads
from sync.client.state import record_upload
from sync.client.stopping import Stopping, never
from sync.client.transport import HubTransport
from sync.protocol import UploadStart, UploadStatus
from sync.store import Photo, Store
from sync.store.photos import load_photo

_log = logging.getLogger(__name__)
_PENDING_COUNT_LIMIT = 1_000_000
# The smallest chunk tried under a proxy's body limit: below it, each request costs more in
# headers and round trips than it carries.
MIN_CHUNK_BYTES = 16 * 1024
# Chunks of one photo sent again after arriving damaged, before the link is taken to be failing.
DAMAGED_CHUNKS_RESENT = 3
# Refusals about this one photo: the same bytes against the same metadata get the same
# answer, so it is recorded and not offered again on its own. "skipped": the hub no longer
# wants the bytes. "failed": they are only here, so the photo stays in view until
# `jaga sync retry-uploads` (``sync.client.failed_uploads``), which pushes its metadata
# again first (what mends an upload_conflict, while the hub holds no other bytes).
# Any other refusal (a wrong URL, an older hub) fails the sync and is retried later.
_FINAL_CODES = {
    "erased": "skipped",  # what hubs before unknown_photo answered for an erased person
    "unknown_photo": "skipped",  # its metadata is gone from the hub: a person erased since
    "upload_conflict": "failed",
    "photo_checksum_mismatch": "failed",
    "too_long": "failed",
    "invalid_body": "failed",
}


@dataclass(frozen=True)
class UploadReport:
    completed: int = 0
    resumed: int = 0
    skipped: int = 0
    failed: int = 0
    bytes_sent: int = 0
    # False when the per-sync upload limit (or a stop) left photos still to upload.
    complete: bool = True
    # A proxy's body limit that even the smallest chunk did not pass: those photos wait for
    # the next sync, and the sync fails with this once its other steps are done.
    held_back: ProxyBodyLimitError | None = None
    # Photos whose upload failed for good, in this sync or before, still not sent again
    # (``sync.client.failed_uploads``): each sync says so, not only the one that failed.
    still_failed: int = 0


@dataclass(frozen=True)
class UploadOutcome:
    """How one photo's upload ended: ``done``, ``skipped`` or ``failed`` (with why)."""

    outcome: str
    detail: str
    resumed: bool = False
    bytes_sent: int = 0


def pending_uploads(store: Store, policy: SitePolicy, limit: int) -> list[str]:
    """Photos the hub has the metadata of but not yet the bytes, oldest first; not those
    another hub acknowledged, held for it (``sync.store.outbox_hub``), nor those with an
    outcome: done, skipped, or failed for good (``sync.client.failed_uploads``)."""
    faces = "" if policy.send_face_images else " AND p.person_id IS NULL"
    rows = store.database.query(
        "SELECT p.photo_uid FROM outbox o JOIN photos p ON p.photo_uid = o.entity_uid"
        " LEFT JOIN sync_uploads u ON u.photo_uid = p.photo_uid"
        " WHERE o.entity = 'photo' AND o.state = 'acknowledged' AND o.for_hub IS NULL"
        " AND u.photo_uid IS NULL"
        f"{faces} GROUP BY p.photo_uid ORDER BY min(o.sequence) LIMIT ?",
        (limit,),
    )
    return [str(row[0]) for row in rows]


def count_pending_uploads(store: Store, policy: SitePolicy) -> int:
    return len(pending_uploads(store, policy, _PENDING_COUNT_LIMIT))


def withheld_face_images(store: Store, policy: SitePolicy) -> int:
    if policy.send_face_images:
        return 0
    rows = store.database.query(
        "SELECT count(*) FROM photos p LEFT JOIN sync_uploads u ON u.photo_uid = p.photo_uid"
        " WHERE p.person_id IS NOT NULL AND u.photo_uid IS NULL"
    )
    return int(rows[0][0])


class PhotoUploader:
    def __init__(
        self, store: Store, transport: HubTransport, policy: SitePolicy, tuning: Tuning
    ) -> None:
        self._store = store
        self._transport = transport
        self._policy = policy
        self._tuning = tuning
        self._chunk = tuning.chunk_bytes  # smaller once a proxy refused a chunk this sync
        self._damaged = 0  # chunks of the photo in hand that arrived damaged

    def upload_pending(self, stopping: Stopping = never) -> UploadReport:
        """Upload what is pending (up to the per-sync limit, or until ``stopping()``:
        then the report is not ``complete`` if photos are left); raises when the link fails,
        except for a proxy's body limit (``UploadReport.held_back``)."""
        report, limit = UploadReport(), self._tuning.max_uploads_per_sync
        self._chunk = self._tuning.chunk_bytes
        pending = pending_uploads(self._store, self._policy, limit + 1)
        for photo_uid in pending[:limit]:
            if stopping():
                return replace(
                    report, complete=False, still_failed=count_failed_uploads(self._store)
                )
            try:
                result = self.upload(photo_uid)
            except ProxyBodyLimitError as error:  # no verdict on the photo: it waits
                _log.warning("photo %s waits for the next sync: %s", photo_uid, error)
                report = replace(report, held_back=report.held_back or error)
                continue
            report = UploadReport(
                report.completed + (result.outcome == "done"),
                report.resumed + result.resumed,
                report.skipped + (result.outcome == "skipped"),
                report.failed + (result.outcome == "failed"),
                report.bytes_sent + result.bytes_sent,
                held_back=report.held_back,
            )
        still_failed = count_failed_uploads(self._store)
        return replace(report, complete=len(pending) <= limit, still_failed=still_failed)

    def upload(self, photo_uid: str) -> UploadOutcome:
        photo = load_photo(self._store.database, photo_uid)
        start = UploadStart(
            photo_uid=UUID(photo_uid),
            sha256=photo.sha256,
            total_size=len(photo.data),
            media_type=photo.media_type,
        )
        try:
            result = self._send(photo, start)
        except HubRefusedError as error:
            if isinstance(error, HubAuthError) or error.code not in _FINAL_CODES:
                raise
            result = UploadOutcome(_FINAL_CODES[error.code], str(error))
        with self._store.database.write() as connection:
            record_upload(connection, photo_uid, result.outcome, result.detail, self._now())
        if result.outcome != "done":
            _log.warning("photo %s not uploaded (%s): %s", photo_uid, result.outcome, result.detail)
        return result

    def _send(self, photo: Photo, start: UploadStart) -> UploadOutcome:
        status = self._transport.start_upload(start)
        self._damaged = 0
        resumed = 0 < status.received < status.total_size
        offset, sent, restarted = status.received, 0, False
        smallest = min(self._chunk, MIN_CHUNK_BYTES)
        for _ in range(3 * (len(photo.data) // smallest) + 10):
            if status.complete:
                return UploadOutcome("done", "uploaded", resumed, sent)
            if offset >= len(photo.data):
                status = self._transport.upload_status(status.upload_id)
                offset = status.received
                continue
            piece = photo.data[offset : offset + self._chunk]
            try:
                status = self._transport.put_chunk(status.upload_id, offset, piece)
            except ProxyBodyLimitError:
                if len(piece) <= MIN_CHUNK_BYTES:
                    raise
                self._chunk = max(MIN_CHUNK_BYTES, min(self._chunk, len(piece)) // 2)
                continue
            except HubRefusedError as error:
                offset, status, restarted = self._recover(error, start, status, restarted, offset)
                continue
            sent += len(piece)
            offset = status.received
        raise HubUnavailableError(f"the upload of photo {start.photo_uid} made no progress")

    def _recover(
        self,
        error: HubRefusedError,
        start: UploadStart,
        status: UploadStatus,
        restarted: bool,
        offset: int,
    ) -> tuple[int, UploadStatus, bool]:
        """Where to continue after a refused chunk (sent at ``offset``): (offset, status,
        restarted once)."""
        if error.code == "chunk_checksum_mismatch":  # damaged on the way: the hub kept nothing
            self._damaged += 1
            if self._damaged > DAMAGED_CHUNKS_RESENT:
                raise HubUnavailableError(
                    f"chunks of photo {start.photo_uid} keep reaching the hub damaged (their"
                    " sha256 does not match): the link corrupts data; the upload resumes later"
                ) from error
            return offset, status, restarted
        if error.code == "offset_mismatch" and error.expected_offset is not None:
            return error.expected_offset, status, restarted  # the answer to a chunk was lost
        if error.code == "photo_checksum_mismatch" and not restarted:
            return 0, status, True  # the hub discarded every chunk; start over, once
        if error.code == "unknown_upload":
            fresh = self._transport.start_upload(start)
            return fresh.received, fresh, restarted
        raise error

    def _now(self) -> datetime:
        return self._store.clock.now()
