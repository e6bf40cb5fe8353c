"""Resumable photo uploads: start or resume, ask where it stands, PUT a chunk."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from sync.hub.api.bodies import json_body, raw_body, site_device
from sync.hub.api.docs import AUTHENTICATED, errors
from sync.hub.errors import HubError
from sync.hub.uploads import append_chunk, find_upload, start_upload, status_of
from sync.protocol import CHUNK_SHA256_HEADER, UploadStart, UploadStatus

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_OFFSET = re.compile(r"^[0-9]{1,19}$")


class OctetStreamParser(BaseParser):
    """Declares raw bytes for the schema; the view reads ``request.body`` itself."""

    media_type = "application/octet-stream"


class UploadsView(APIView):
    @extend_schema(
        operation_id="start_upload",
        request=UploadStart,
        responses={200: UploadStatus, **errors(*AUTHENTICATED, 409, 410, 413, 415)},
        summary="Start a photo upload, or resume the unfinished one of this photo",
    )
    def post(self, request: Any, site: str) -> Response:
        device = site_device(request, site)
        status = start_upload(device, json_body(request, UploadStart))
        return Response(status.model_dump(mode="json"))


class UploadView(APIView):
    parser_classes = (OctetStreamParser,)

    @extend_schema(
        operation_id="upload_status",
        responses={200: UploadStatus, **errors(*AUTHENTICATED, 404)},
        summary="How many bytes of an upload the hub has",
    )
    def get(self, request: Any, site: str, upload_id: UUID) -> Response:
        device = site_device(request, site)
        return Response(status_of(find_upload(device, upload_id)).model_dump(mode="json"))

    @extend_schema(
        operation_id="upload_chunk",
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter("offset", int, required=True, description="where this chunk goes"),
            OpenApiParameter(
                CHUNK_SHA256_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="sha256 of this chunk, hex",
            ),
        ],
        responses={200: UploadStatus, **errors(*AUTHENTICATED, 404, 409, 413, 415)},
        summary="Append a chunk at the offset the hub has; the last one completes the photo",
    )
    def put(self, request: Any, site: str, upload_id: UUID) -> Response:
        device = site_device(request, site)
        offset = request.GET.get("offset", "")
        sha256 = request.META.get("HTTP_X_CHUNK_SHA256", "")
        if not _OFFSET.fullmatch(offset):
            raise HubError(400, "invalid_query", "offset must be a non-negative integer")
        if not _SHA256.fullmatch(sha256):
            raise HubError(400, "invalid_header", f"{CHUNK_SHA256_HEADER} must be 64 hex digits")
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type != OctetStreamParser.media_type:
            raise HubError(415, "unsupported_media_type", "send chunks as application/octet-stream")
        status = append_chunk(device, upload_id, int(offset), raw_body(request), sha256)
        return Response(status.model_dump(mode="json"))
