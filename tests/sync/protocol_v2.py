"""What a protocol-2 device accepts, kept as that release wrote it, to check what a hub of a
newer protocol sends such a device.

Protocol 3 changed one payload schema (``fish_observation``/``upsert`` gained
``pack_version``); every other schema, and the envelopes (``PullResult``, ``Change``), are
the same in both, so only that one is copied here, word for word from protocol 2's
``sync.protocol.entities``. Like every wire schema it forbids unknown fields: a payload that
carries a field protocol 2 does not know fails here as it would on the device.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictBool, StrictInt, model_validator

from sync.protocol import PAYLOADS, WireModel
from sync.protocol.entities import Latitude, Longitude
from sync.protocol.types import MAX_PREDICTIONS, LongText, Name, Timestamp, Uid, UnitFloat


class FishObservationUpsertV2(WireModel):
    """Protocol 2's ``FishObservationUpsert``, unchanged."""

    observation_uid: Uid
    observed_at: Timestamp
    predictions: Annotated[list[tuple[Name, UnitFloat]], Field(max_length=MAX_PREDICTIONS)]
    confirmed_species: Name | None
    needs_review: StrictBool
    photo_uid: Uid | None
    position: tuple[Latitude, Longitude] | None
    vessel: Name | None
    trip: Name | None
    haul: Name | None
    count: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    length_cm: Annotated[float, Field(strict=True, gt=0, le=10_000, allow_inf_nan=False)] | None
    officer: Name
    notes: LongText
    reviewed_by: Name | None = None
    reviewed_at: Timestamp | None = None

    @model_validator(mode="after")
    def _reviewer_with_time(self) -> FishObservationUpsertV2:
        if (self.reviewed_by is None) != (self.reviewed_at is None):
            raise ValueError("reviewed_by and reviewed_at go together: give both or neither")
        return self


PAYLOADS_V2: dict[tuple[str, str], type[WireModel]] = {
    **PAYLOADS,
    ("fish_observation", "upsert"): FishObservationUpsertV2,
}


def parse_as_v2(entity: str, operation: str, payload: dict[str, Any]) -> WireModel:
    """The payload as a protocol-2 device reads it (``ValidationError`` where it cannot)."""
    return PAYLOADS_V2[(entity, operation)].model_validate(payload)
