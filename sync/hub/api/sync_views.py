"""Push a batch of outbox entries; pull the site's change log after a cursor.

Both serve every protocol in ``ACCEPTED_PROTOCOL_VERSIONS`` and refuse any other whole,
before anything is stored: a pull of an older protocol gets each change's payload as that
protocol's schema reads it (``payload_for_protocol``).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import BaseModel, ConfigDict, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from sync.hub.api.bodies import json_body, query, raw_body, site_device
from sync.hub.api.docs import AUTHENTICATED, errors
from sync.hub.apply.changes import changes_after
from sync.hub.apply.push import apply_batch
from sync.hub.errors import HubError
from sync.hub.models import Device
from sync.protocol import (
    ACCEPTED_PROTOCOL_VERSIONS,
    MAX_PULL_LIMIT,
    PROTOCOL_VERSION,
    Change,
    PullRequest,
    PullResult,
    PushBatch,
    PushResult,
    payload_for_protocol,
)

_OLDER = ", ".join(str(v) for v in sorted(ACCEPTED_PROTOCOL_VERSIONS - {PROTOCOL_VERSION}))
# For people: "3 (and accepts 2)".
ACCEPTED = f"{PROTOCOL_VERSION} (and accepts {_OLDER})" if _OLDER else f"{PROTOCOL_VERSION}"


class _VersionProbe(BaseModel):
    """Read only the version first, so a newer client hears "upgrade the hub", not a list
    of fields it sent that this hub does not know."""

    model_config = ConfigDict(extra="ignore")
    protocol_version: int = PROTOCOL_VERSION


class PushView(APIView):
    @extend_schema(
        operation_id="push",
        request=PushBatch,
        responses={200: PushResult, **errors(*AUTHENTICATED, 413, 415)},
        summary="Push outbox entries; each is acknowledged or rejected with a reason",
        description=f"This hub speaks protocol {ACCEPTED}; a batch of any other "
        "`protocol_version` is refused whole with `unsupported_protocol`.",
    )
    def post(self, request: Any, site: str) -> Response:
        device = site_device(request, site)
        _check_body_version(request)
        batch = json_body(request, PushBatch)
        if batch.device_id != device.uid:
            raise HubError(403, "wrong_device", "device_id is not the device of this token")
        return Response(apply_batch(device, batch).model_dump(mode="json"))


def _check_body_version(request: Any) -> None:
    try:
        version = _VersionProbe.model_validate_json(raw_body(request)).protocol_version
    except ValidationError:
        return  # the full validation reports it
    _check_version(version)


def _check_version(version: int) -> None:
    if version not in ACCEPTED_PROTOCOL_VERSIONS:
        raise HubError(
            400, "unsupported_protocol", f"this hub speaks protocol {ACCEPTED}, not {version}"
        )


class ChangesView(APIView):
    @extend_schema(
        operation_id="pull",
        parameters=[
            OpenApiParameter("cursor", int, description="last cursor applied (0: all)"),
            OpenApiParameter("limit", int, description=f"at most {MAX_PULL_LIMIT}"),
            OpenApiParameter(
                "protocol_version",
                int,
                description=f"the client's protocol, absent = 1 (this hub: {ACCEPTED})",
            ),
        ],
        responses={200: PullResult, **errors(*AUTHENTICATED)},
        summary="Changes of the device's site after a cursor, oldest first",
        description="Each payload is in the schema of the client's `protocol_version`: an "
        "older client gets it without the fields added after its version.",
    )
    def get(self, request: Any, site: str) -> Response:
        device = site_device(request, site)
        pull = query(request, PullRequest, integers=("cursor", "limit", "protocol_version"))
        _check_version(pull.protocol_version)
        rows, more = changes_after(device.site, pull.cursor, pull.limit)
        _seen(device)
        result = PullResult(
            changes=[_change(row, pull.protocol_version) for row in rows],
            next_cursor=rows[-1].cursor if rows else pull.cursor,
            has_more=more,
        )
        return Response(result.model_dump(mode="json"))


def _change(row: Any, version: int) -> Change:
    origin = row.origin_device.uid if row.origin_device_id else None
    return Change(
        cursor=row.cursor,
        entity=row.entity,
        entity_uid=row.entity_uid,
        operation=row.operation,
        payload=payload_for_protocol(version, row.entity, row.operation, row.payload),
        changed_at=row.changed_at,
        origin_device=origin,
    )


def _seen(device: Device) -> None:
    Device.objects.filter(pk=device.pk).update(last_seen_at=timezone.now())
