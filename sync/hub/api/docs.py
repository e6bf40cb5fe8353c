"""Shared OpenAPI fragments for the views' ``extend_schema`` declarations."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse

from sync.protocol import ErrorBody


def errors(*statuses: int) -> dict[int, Any]:
    """Error responses, each an ``ErrorBody`` (401 and 403 on every authenticated call)."""
    return {status: OpenApiResponse(ErrorBody) for status in statuses}


AUTHENTICATED = (400, 401, 403)
