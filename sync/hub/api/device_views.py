"""Registration, hub status, template search and species packs."""

from __future__ import annotations

import contextlib
from typing import Any

from django.db import connection
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from sync.hub import auth
from sync.hub.api.bodies import json_body, pack_schema, site_device
from sync.hub.api.docs import AUTHENTICATED, errors
from sync.hub.api.pack_file import pack_response
from sync.hub.errors import HubError
from sync.hub.identity import hub_id
from sync.hub.models import SpeciesPack
from sync.hub.review import newest_species_pack
from sync.hub.search import nearest_templates
from sync.hub.throttle import RegisterThrottle
from sync.protocol import (
    HUB_ID_HEADER,
    PACK_SCHEMA_HEADER,
    HubStatus,
    RegisterRequest,
    RegisterResult,
    SearchMatch,
    SearchRequest,
    SearchResult,
    SpeciesPackInfo,
)
from sync.species_packs import PackArchiveError, check_version


class StatusView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(operation_id="status", responses={200: HubStatus, **errors(503)})
    def get(self, request: Any) -> Response:
        """Readiness: the hub answers and its database does."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response(HubStatus(status="ok").model_dump(mode="json"), headers=_named())


class RegisterView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (RegisterThrottle,)  # counted atomically: at once, N per window

    @extend_schema(
        operation_id="register",
        request=RegisterRequest,
        responses={200: RegisterResult, **errors(400, 404, 409, 410, 413, 415, 429)},
        summary="Exchange an operator's one-time code for this device's token",
    )
    def post(self, request: Any) -> Response:
        body = json_body(request, RegisterRequest)
        _, result = auth.register(body.code, body.sites)
        return Response(result.model_dump(mode="json"), headers=_named())


class DeregisterView(APIView):
    @extend_schema(
        operation_id="deregister",
        request=None,
        responses={204: None, **errors(401, 403)},
        summary="Revoke the calling device's own token (a registration it refused)",
    )
    def post(self, request: Any) -> Response:
        """A device that refuses the registration it was just given (the hub named another
        id than the one it expected: ``sync.client.register_answer``) gives its token back
        rather than leave a live token nobody holds for an operator to revoke by hand. The
        device is revoked as the admin's "Revoke" does, and a new code enables it again."""
        auth.give_back(request.auth, _REFUSED_BY_DEVICE)
        return Response(status=204)


_REFUSED_BY_DEVICE = "deregistered by the device itself: it refused the registration"


def _named() -> dict[str, str]:
    """The header naming this hub (``HUB_ID_HEADER``): a device compares it before it spends
    a code (the status answer) and keeps it with its registration."""
    return {HUB_ID_HEADER: str(hub_id())}


class SearchView(APIView):
    @extend_schema(
        operation_id="search",
        request=SearchRequest,
        responses={200: SearchResult, **errors(*AUTHENTICATED, 413, 415)},
        summary="1:N search of a face descriptor, in this site or (if allowed) all sites",
    )
    def post(self, request: Any, site: str) -> Response:
        device = site_device(request, site)
        probe = json_body(request, SearchRequest)
        if probe.all_sites and not device.may_search_all_sites:
            raise HubError(403, "search_not_allowed", "forbidden: this device searches its site")
        matches = nearest_templates(
            probe.vector,
            probe.model_id,
            probe.model_version,
            k=probe.k,
            site_id=None if probe.all_sites else device.site_id,
        )
        result = SearchResult(
            matches=[
                SearchMatch(
                    person_uid=m.person_uid,
                    site=m.site,
                    template_uid=m.template_uid,
                    similarity=max(-1.0, min(1.0, m.similarity)),
                )
                for m in matches
            ]
        )
        return Response(result.model_dump(mode="json"))


class LatestSpeciesPackView(APIView):
    @extend_schema(
        operation_id="latest_species_pack",
        parameters=[
            OpenApiParameter(
                PACK_SCHEMA_HEADER,
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                description="the newest species pack schema the caller reads, absent = 1",
            ),
        ],
        responses={200: SpeciesPackInfo, **errors(400, 401, 403, 404)},
        summary="The newest species pack the caller reads: its version and checksum",
    )
    def get(self, request: Any) -> Response:
        said = pack_schema(request)
        pack = newest_species_pack(1 if said is None else said)  # what the caller reads
        if pack is None:
            raise HubError(404, "no_species_pack", "no species pack it reads has been published")
        info = SpeciesPackInfo(
            version=pack.version,
            sha256=pack.sha256,
            byte_size=pack.byte_size,
            published_at=pack.published_at,
        )
        return Response(info.model_dump(mode="json"))


class SpeciesPackFileView(APIView):
    @extend_schema(
        operation_id="species_pack_file",
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (206, "application/octet-stream"): OpenApiTypes.BINARY,
            **errors(401, 403, 404),
        },
        summary="A species pack's archive (check it against its sha256 before unpacking)",
    )
    def get(self, request: Any, version: str) -> HttpResponse:
        """The ZIP ``sync.species_packs`` writes; a device checks its size and sha256
        against the announcement, then unpacks it with that module's safe extractor. A
        ``Range: bytes=N-`` resumes a download cut short (``pack_file``)."""
        pack = None
        with contextlib.suppress(PackArchiveError):  # no pack has it: a NUL fails in SQL
            pack = SpeciesPack.objects.defer("data").filter(version=check_version(version)).first()
        if pack is None:
            raise HubError(404, "no_species_pack", "no species pack of that version")
        return pack_response(pack, request.headers.get("Range"), request.headers.get("If-Range"))
