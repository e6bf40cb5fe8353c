"""A species pack's archive, streamed from the database in slices, resumable by byte range.

A pack can be hundreds of megabytes, and the boats that fetch it lose their link mid-way:
the answer is read from PostgreSQL one ``SLICE_BYTES`` slice at a time (``substring`` of the
``bytea``), never whole into the hub's memory, and a device that already holds the first
bytes asks for the rest with ``Range: bytes=N-``. ``If-Range`` carries the ETag (the pack's
sha256) the device's bytes came from: if it is not this pack's, the whole pack is sent
again (200), as RFC 9110 has it. One range per request; a range that cannot be read as
one is ignored (200 with the whole pack), and one that starts past the end is 416.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import BinaryField
from django.db.models.functions import Substr
from django.http import HttpResponse, StreamingHttpResponse

from sync.hub.models import SpeciesPack

SLICE_BYTES = 1024 * 1024
_RANGE = re.compile(r"bytes=(\d{1,18})-(\d{0,18})")


@dataclass(frozen=True)
class Span:
    """Bytes ``first`` to ``last`` (inclusive) of ``total``; ``partial`` when a range asked."""

    first: int
    last: int
    total: int
    partial: bool

    @property
    def length(self) -> int:
        return self.last - self.first + 1


class UnsatisfiableRangeError(Exception):
    """The range starts at or past the end of the pack."""


def requested_span(range_header: str | None, if_range: str | None, pack: SpeciesPack) -> Span:
    """The bytes to send for these request headers (raises ``UnsatisfiableRangeError``)."""
    whole = Span(0, pack.byte_size - 1, pack.byte_size, partial=False)
    match = _RANGE.fullmatch((range_header or "").strip())
    if match is None or (if_range is not None and if_range.strip() != etag(pack)):
        return whole
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else None
    if last is not None and last < first:
        return whole  # not a valid range: ignored
    if first >= pack.byte_size:
        raise UnsatisfiableRangeError(first)
    end = pack.byte_size - 1 if last is None else min(last, pack.byte_size - 1)
    return Span(first, end, pack.byte_size, partial=True)


def etag(pack: SpeciesPack) -> str:
    return f'"{pack.sha256}"'


def pack_response(
    pack: SpeciesPack, range_header: str | None, if_range: str | None
) -> HttpResponse:
    """The 200, 206 or 416 answer for ``pack`` (loaded without its ``data``)."""
    try:
        span = requested_span(range_header, if_range, pack)
    except UnsatisfiableRangeError:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{pack.byte_size}"
        return refused
    response = StreamingHttpResponse(
        _slices(pack.pk, span), status=206 if span.partial else 200,
        content_type="application/octet-stream",
    )  # fmt: skip
    response["Content-Length"] = str(span.length)  # lets a device refuse an oversize pack early
    response["ETag"] = etag(pack)
    response["Accept-Ranges"] = "bytes"
    if span.partial:
        response["Content-Range"] = f"bytes {span.first}-{span.last}/{span.total}"
    return response


def _slices(pack_pk: int, span: Span) -> Iterator[bytes]:
    for offset in range(span.first, span.last + 1, SLICE_BYTES):
        length = min(SLICE_BYTES, span.last + 1 - offset)
        part = Substr("data", offset + 1, length, output_field=BinaryField())  # 1-based
        yield bytes(
            SpeciesPack.objects.filter(pk=pack_pk)
            .annotate(part=part)
            .values_list("part", flat=True)
            .get()
        )
