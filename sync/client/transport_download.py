"""Streaming a binary download (a species pack) into a file: counted, hashed, capped, and
resumed after a cut.

``HubTransport.download_species_pack`` (``sync.client.transport``) asks for the rest of a
pack a cut link left part of; these judge what came back. A 206 must continue where the
file ends; a 200 instead is the hub's whole pack only with the hub's ETag, and without it
(a captive portal's page, or a proxy that ignores Range and strips ETags) it replaces what
is held only when its sha256 is the pack's. Anything else is a cut
(``DownloadCutError``), and the part held stays to resume. A refusal reads at most a small
error body. Kept apart from the transport, which re-exports ``Download``, as the rest of
the transport reads whole answers into models.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from sync.client.errors import DownloadCutError, HubUnavailableError
from sync.client.transport_answers import refusal

_MAX_ERROR_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Download:
    """What a binary download wrote: its size and sha256, counted as the bytes arrived."""

    byte_size: int
    sha256: str


_HUB_ETAG = re.compile(r'"[0-9a-f]{64}"')  # a hub's ETag: a pack's sha256 in quotes


def check_resumed_at(response: httpx.Response, resume_from: int, operation: str) -> None:
    """A 206 answer must continue exactly where the download was cut."""
    content_range = response.headers.get("Content-Range", "")
    if not content_range.startswith(f"bytes {resume_from}-"):
        # Not the hub's own answer (it resumes where asked): what is held is still good.
        raise DownloadCutError(
            f"the answer to {operation} resumes at {content_range!r}, not at byte {resume_from}"
        )


def is_hubs_whole(response: httpx.Response, etag: str | None, operation: str) -> bool:
    """Whether a 200 to a resumed download is the hub's whole answer for ``etag`` (its
    ETag, the sha256 in quotes, sent by every hub since the first). The hub's answer for
    another pack is an error: nothing to resume. False: no hub ETag (a portal's page, or
    a proxy that strips ETags), for ``whole_if_proven`` to judge by its bytes."""
    sent = response.headers.get("ETag", "").removeprefix("W/")
    if etag is not None and sent == f'"{etag}"':
        return True
    if _HUB_ETAG.fullmatch(sent):  # the hub's answer, for another pack: nothing to resume
        raise HubUnavailableError(f"the hub sends another pack ({sent}) for {operation}")
    return False


def whole_if_proven(
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
            got = stream_into(response, whole, max_bytes, operation)
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


def stream_into(
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


def refusal_of_stream(response: httpx.Response, operation: str) -> Exception:
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
