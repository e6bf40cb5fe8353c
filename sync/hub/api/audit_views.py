"""Anchor a device's audit chain at the hub (``sync.hub.audit``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from sync.hub.api.bodies import json_body, site_device
from sync.hub.api.docs import AUTHENTICATED, errors
from sync.hub.audit import anchor
from sync.hub.errors import HubError
from sync.protocol import AuditBatch, AuditReceipt


class AuditView(APIView):
    @extend_schema(
        operation_id="audit",
        request=AuditBatch,
        responses={200: AuditReceipt, **errors(*AUTHENTICATED, 409, 413, 415)},
        summary="Anchor the device's audit chain: entries after the last one the hub holds",
        description="409 `audit_chain_break`: the entries do not extend the chain the hub "
        "holds (rewritten or rewound); recorded, and every batch is refused until an "
        "operator acknowledges the break. 409 `audit_gap`: send from the entry after "
        "`expected_offset`. 409 `audit_quota`: the batch would take the device past the "
        "hub's limit on audit entries over any 24 hours (nothing of it stored); it takes "
        "more once the device's earlier entries are a day old (the reason says when).",
    )
    def post(self, request: Any, site: str) -> Response:
        device = site_device(request, site)
        batch = json_body(request, AuditBatch)
        if batch.device_id != device.uid:
            raise HubError(403, "wrong_device", "device_id is not the device of this token")
        return Response(anchor(device, batch).model_dump(mode="json"))
