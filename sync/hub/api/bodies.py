"""Reading requests into ``sync.protocol`` models: JSON bodies, query strings, the device.

Bodies are read raw and validated by pydantic (strict, unknown fields refused), never by
DRF's parsers, so the schema the client imports is exactly the one enforced here.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, TypeVar

from django.core.exceptions import RequestDataTooBig
from django.http.request import RawPostDataException
from pydantic import BaseModel, ValidationError

from sync.hub.errors import HubError
from sync.hub.models import Device
from sync.protocol import BODY_DAMAGED, BODY_SHA256_HEADER, PACK_SCHEMA_HEADER, summarize

Model = TypeVar("Model", bound=BaseModel)
_DIGITS = re.compile(r"^[0-9]{1,19}$")


def raw_body(request: Any) -> bytes:
    try:
        body: bytes = request.body
    except RequestDataTooBig:
        raise HubError(413, "too_large", "the body is larger than the hub accepts") from None
    except RawPostDataException:  # pragma: no cover - only if a parser read it first
        raise HubError(400, "unreadable_body", "the body was already consumed") from None
    return body


def json_body(request: Any, model: type[Model]) -> Model:
    """The body as ``model``, or 415 / 400 with the validation problems as the reason."""
    body = raw_body(request)
    _check_sha256(request, body)
    if not body:
        raise HubError(400, "invalid_body", f"the body is empty; send a JSON {model.__name__}")
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HubError(415, "unsupported_media_type", "send the body as application/json")
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise HubError(400, "invalid_body", summarize(error)) from None


def _check_sha256(request: Any, body: bytes) -> None:
    """Refuse a body that is not what the device sent (``BODY_SHA256_HEADER``, when it says):
    damaged on the way, it says nothing of the records, so it must not read as invalid."""
    said = request.headers.get(BODY_SHA256_HEADER)
    if said is not None and hashlib.sha256(body).hexdigest() != said.strip().lower():
        raise HubError(
            400, BODY_DAMAGED, f"the body does not match its {BODY_SHA256_HEADER}: it was "
            "damaged on the way; send it again",
        )  # fmt: skip


def query(request: Any, model: type[Model], integers: tuple[str, ...] = ()) -> Model:
    """Query parameters as ``model``; ``integers`` are decimal digits, nothing else."""
    values: dict[str, Any] = {}
    for name, value in request.GET.items():
        if name in integers:
            if not _DIGITS.fullmatch(value):
                raise HubError(400, "invalid_query", f"{name} must be a non-negative integer")
            values[name] = int(value)
        else:
            values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise HubError(400, "invalid_query", summarize(error)) from None


def site_device(request: Any, site: str) -> Device:
    """The authenticated device, if it belongs to ``site``; else 403 with the reason."""
    device: Device = request.user
    if device.site.slug != site:
        raise HubError(403, "wrong_site", f"forbidden: this device belongs to site {device.site}")
    return device


MAX_PACK_SCHEMA = 32767  # what ``SpeciesPack.schema`` holds


def pack_schema(request: Any) -> int | None:
    """The newest pack schema the device says it reads (``PACK_SCHEMA_HEADER``), or None
    where it does not say (it reads schema 1)."""
    value = request.headers.get(PACK_SCHEMA_HEADER)
    if value is None:
        return None
    digits = value.isascii() and value.isdigit() and len(value) <= len(str(MAX_PACK_SCHEMA))
    if not digits or not 1 <= int(value) <= MAX_PACK_SCHEMA:
        raise HubError(
            400, "invalid_header", f"{PACK_SCHEMA_HEADER} must be 1 to {MAX_PACK_SCHEMA}"
        )
    return int(value)
