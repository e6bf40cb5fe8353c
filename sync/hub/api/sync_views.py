"""Push a batch of outbox entries; pull the site's change log after a cursor.

Both serve every protocol in ``ACCEPTED_PROTOCOL_VERSIONS`` and refuse any other whole,
before anything is stored: a pull of an older protocol gets each change's payload as that
protocol's schema reads it (``payload_for_protocol``), and a pull leaves out the
announcements of species packs whose schema the device does not read (``PACK_SCHEMA_HEADER``,
absent: schema 1). A pull that sends ``LOG_EPOCH_HEADER`` is answered the site's log epoch,
and the hub's seal (``LOG_SEAL_HEADER``) of the last change it brings, or, bringing none, of
the device's tip when the hub holds that change at its cursor (``answer_seal``); the epoch
is renewed first when a tip the hub sealed (``LOG_TIP_HEADER`` with its seal) shows the log
was rewound: its cursor is past the site's log, or the hub holds another change there
(``sync.hub.log_epoch``). An unsealed tip or cursor is only the device's word: no evidence.
Every pull answer names the hub (``HUB_ID_HEADER``), so a device registered before hub ids
learns its hub's on its next sync, and says the hub takes a stored face photo's sha256
restated without its metadata (``FACE_PHOTOS_RESTATED_HEADER``), so a device sends again
what a hub before refused of it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import BaseModel, ConfigDict, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from sync.hub.api.bodies import json_body, pack_schema, query, raw_body, site_device
from sync.hub.api.docs import AUTHENTICATED, errors
from sync.hub.apply.changes import changes_after
from sync.hub.apply.push import apply_batch
from sync.hub.errors import HubError
from sync.hub.identity import hub_id
from sync.hub.log_epoch import answer_seal, pull_epoch
from sync.hub.models import Device
from sync.hub.review import newest_species_pack
from sync.protocol import (
    ACCEPTED_PROTOCOL_VERSIONS,
    FACE_PHOTOS_RESTATED_HEADER,
    HUB_ID_HEADER,
    LOG_EPOCH_HEADER,
    LOG_SEAL_HEADER,
    LOG_TIP_HEADER,
    MAX_PULL_LIMIT,
    NO_LOG_EPOCH,
    PACK_SCHEMA_HEADER,
    PROTOCOL_VERSION,
    Change,
    PullRequest,
    PullResult,
    PushBatch,
    PushResult,
    SpeciesPackPublished,
    payload_for_protocol,
)

_MAX_DIGEST = 64  # a sha256 in hex at most: a tip, or a seal
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
            OpenApiParameter(
                PACK_SCHEMA_HEADER,
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                description="the newest species pack schema the device reads, absent = 1;"
                " when given, the answer's `species_pack` is the newest pack it reads",
            ),
            OpenApiParameter(
                LOG_EPOCH_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description=f"the site's log epoch the device last saw (`{NO_LOG_EPOCH}`:"
                " none); when given, the answer's `log_epoch` is the site's",
            ),
            OpenApiParameter(
                LOG_TIP_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="with the epoch, from a cursor past 0: the fingerprint of the"
                f" change the device applied at its cursor, sent with its `{LOG_SEAL_HEADER}`;"
                " when the hub sealed it, a cursor past the site's log, or another change"
                " there, renews the site's log epoch (a restored database); unsealed, it is"
                " no evidence",
            ),
            OpenApiParameter(
                LOG_SEAL_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="the hub's seal of that tip, as the answer that brought the change"
                " gave it (hex); one the hub did not make for this site, epoch and tip is no"
                " evidence, and the pull is answered as any",
            ),
            OpenApiParameter(
                LOG_SEAL_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=True,
                description="in an answer that names `log_epoch`: the hub's seal of the last"
                " change it brings, or, bringing none, of the device's"
                f" `{LOG_TIP_HEADER}` when the hub holds that change at the cursor; for the"
                f" device to keep with its tip and send back with `{LOG_TIP_HEADER}`",
            ),
        ],
        responses={200: PullResult, **errors(*AUTHENTICATED)},
        summary="Changes of the device's site after a cursor, oldest first",
        description="Each payload is in the schema of the client's `protocol_version`: an "
        "older client gets it without the fields added after its version. A species pack "
        f"is announced only to a device that reads its schema (`{PACK_SCHEMA_HEADER}`).",
    )
    def get(self, request: Any, site: str) -> Response:
        device = site_device(request, site)
        pull = query(request, PullRequest, integers=("cursor", "limit", "protocol_version"))
        _check_version(pull.protocol_version)
        said = pack_schema(request)
        reads = 1 if said is None else said
        known = _known_epoch(request)
        tip, seal = (None, None) if known is None else (_log_tip(request), _log_seal(request))
        epoch = pull_epoch(
            device.site, pull.cursor, known or NO_LOG_EPOCH, tip, seal, device=device.uid
        )
        rows, more = changes_after(device.site, pull.cursor, pull.limit, pack_schema=reads)
        _seen(device)
        result = PullResult(
            changes=[_change(row, pull.protocol_version) for row in rows],
            next_cursor=rows[-1].cursor if rows else pull.cursor,
            has_more=more,
            species_pack=None if said is None else _newest_pack(reads),  # after the rows
            log_epoch=epoch,
        )
        # A device that did not say refuses a field it does not know (every earlier release).
        unsaid = {"species_pack"} if said is None else set()
        if known is None:
            unsaid.add("log_epoch")
        # Headers, which every earlier release ignores: see LOG_SEAL_HEADER, HUB_ID_HEADER,
        # FACE_PHOTOS_RESTATED_HEADER.
        headers = {HUB_ID_HEADER: str(hub_id()), FACE_PHOTOS_RESTATED_HEADER: "1"}
        last = rows[-1] if rows else None
        sealed = None if known is None else answer_seal(device.site, epoch, pull.cursor, tip, last)
        if sealed is not None:
            headers[LOG_SEAL_HEADER] = sealed
        return Response(result.model_dump(mode="json", exclude=unsaid), headers=headers)


def _known_epoch(request: Any) -> str | None:
    """The log epoch the device says it last saw (``NO_LOG_EPOCH``: none), or None where it
    does not say (a release before epochs)."""
    value: str | None = request.headers.get(LOG_EPOCH_HEADER)
    if value is None or value == NO_LOG_EPOCH:
        return value
    try:
        return str(UUID(value))
    except ValueError:
        raise HubError(
            400, "invalid_header", f"{LOG_EPOCH_HEADER} must be a uuid or {NO_LOG_EPOCH}"
        ) from None


def _log_tip(request: Any) -> str | None:
    """The fingerprint of the change the device applied at its cursor, or None (not said)."""
    return _digest(request, LOG_TIP_HEADER)


def _log_seal(request: Any) -> str | None:
    """The hub's seal of that tip, as the device kept it, or None (not said)."""
    return _digest(request, LOG_SEAL_HEADER)


def _digest(request: Any, header: str) -> str | None:
    value: str | None = request.headers.get(header)
    if value is None:
        return None
    if not (len(value) <= _MAX_DIGEST and value.isascii() and value.isalnum()):
        raise HubError(400, "invalid_header", f"{header} must be a short hex digest")
    return value.lower()


def _newest_pack(schema: int) -> SpeciesPackPublished | None:
    pack = newest_species_pack(schema)
    if pack is None:
        return None
    return SpeciesPackPublished(version=pack.version, sha256=pack.sha256, byte_size=pack.byte_size)


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
