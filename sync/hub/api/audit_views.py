"""Anchor a device's audit chain at the hub (``sync.hub.audit``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from sync.hub.api.bodies import json_body, site_device
from sync.hub.api.docs import AUTHENTICATED, errors
from sync.hub.audit import anchor
from sync.hub.errors import HubError
from sync.protocol import AUDIT_CHECKPOINT_HEADER, AuditBatch, AuditCheckpoint, AuditReceipt


class AuditView(APIView):
    @extend_schema(
        operation_id="audit",
        request=AuditBatch,
        parameters=[
            OpenApiParameter(
                AUDIT_CHECKPOINT_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="`<sequence> <entry hash>`: the last entry retention deleted on "
                "the device, which its first kept entry follows; a batch that begins right "
                "after it, past what the hub holds, is taken and the entries it will never "
                "hold recorded (`pruned_start`, `pruned_gap`) for an operator to acknowledge; "
                "a gap after entries the hub holds only where the site's change log was "
                "renewed since it took them (else it is an `audit_chain_break`)",
            )
        ],
        responses={200: AuditReceipt, **errors(*AUTHENTICATED, 409, 413, 415)},
        summary="Anchor the device's audit chain: entries after the last one the hub holds",
        description="409 `audit_chain_break`: the entries do not extend the chain the hub "
        "holds (rewritten or rewound); recorded, and every batch is refused until an "
        "operator acknowledges the break. 409 `audit_gap`: send from the entry after "
        "`expected_offset`. 409 `audit_quota`: the batch would take the device past the "
        "hub's limit on audit entries over any 24 hours (nothing of it stored); it takes "
        "more once the device's earlier entries are a day old (the reason says when). 409 "
        "`audit_pruned_open`: the batch would record entries the hub will never hold while "
        "such a record of the device is open (acknowledge it first). 400 "
        f"`invalid_header`: `{AUDIT_CHECKPOINT_HEADER}` is not a sequence and a hash.",
    )
    def post(self, request: Any, site: str) -> Response:
        device = site_device(request, site)
        batch = json_body(request, AuditBatch)
        if batch.device_id != device.uid:
            raise HubError(403, "wrong_device", "device_id is not the device of this token")
        return Response(anchor(device, batch, _checkpoint(request)).model_dump(mode="json"))


def _checkpoint(request: Any) -> AuditCheckpoint | None:
    """Where the device says its kept chain begins, or None where it does not say."""
    value: str | None = request.headers.get(AUDIT_CHECKPOINT_HEADER)
    if value is None:
        return None
    try:
        return AuditCheckpoint.from_header(value)
    except ValueError:
        raise HubError(
            400, "invalid_header", f"{AUDIT_CHECKPOINT_HEADER} must be a sequence and a hash"
        ) from None
