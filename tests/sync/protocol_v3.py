"""What a protocol-3 device accepts, to check what a hub of a newer protocol sends it.

Protocol 4 changed one payload schema (``fish_observation``/``upsert`` gained ``status``
and ``status_reason``); every other schema, and the envelopes, are the same in both. Protocol
3's ``FishObservationUpsert`` is protocol 2's (``tests.sync.protocol_v2``, word for word)
with the two fields it added, as that release wrote them. Like every wire schema it forbids
unknown fields: a payload that carries a field protocol 3 does not know fails here as it
would on the device.
"""

from __future__ import annotations

from typing import Any

from sync.protocol import PAYLOADS, WireModel
from sync.protocol.entities import Crop
from sync.protocol.types import Name
from tests.sync.protocol_v2 import FishObservationUpsertV2


class FishObservationUpsertV3(FishObservationUpsertV2):
    """Protocol 3's ``FishObservationUpsert``: protocol 2's, with the pack and the box."""

    pack_version: Name | None = None
    crop: Crop | None = None


PAYLOADS_V3: dict[tuple[str, str], type[WireModel]] = {
    **PAYLOADS,
    ("fish_observation", "upsert"): FishObservationUpsertV3,
}


def parse_as_v3(entity: str, operation: str, payload: dict[str, Any]) -> WireModel:
    """The payload as a protocol-3 device reads it (``ValidationError`` where it cannot)."""
    return PAYLOADS_V3[(entity, operation)].model_validate(payload)
