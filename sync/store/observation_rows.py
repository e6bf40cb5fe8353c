"""A fish observation read back from its row (``sync.store.observations.COLUMNS``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sync.store.clock import parse_timestamp
from sync.store.records import Crop, FishObservation, Position, SpeciesScore


def crop_of(x: int | None, y: int | None, width: int | None, height: int | None) -> Crop | None:
    """A crop read back from its columns (schema 5 writes all four or none)."""
    if x is None or y is None or width is None or height is None:
        return None
    return Crop(x, y, width, height)


def observation_of_row(row: Sequence[Any]) -> FishObservation:
    """A catch as ``observations.COLUMNS`` reads it."""
    (
        uid,
        observed_at,
        predictions,
        confirmed,
        review,
        photo_uid,
        latitude,
        longitude,
        vessel,
        trip,
        haul,
        count,
        length_cm,
        officer,
        notes,
        reviewed_by,
        reviewed_at,
        pack_version,
        crop_x,
        crop_y,
        crop_w,
        crop_h,
        status,
        status_reason,
        crop_known,
        recorded_here,
    ) = row
    return FishObservation(
        observed_at=parse_timestamp(observed_at),
        predictions=tuple(SpeciesScore(name, conf) for name, conf in json.loads(predictions)),
        needs_review=bool(review),
        officer=officer,
        count=count,
        confirmed_species=confirmed,
        position=None if latitude is None else Position(latitude, longitude),
        vessel=vessel,
        trip=trip,
        haul=haul,
        length_cm=length_cm,
        notes=notes,
        photo_uid=photo_uid,
        observation_uid=uid,
        reviewed_by=reviewed_by,
        reviewed_at=None if reviewed_at is None else parse_timestamp(reviewed_at),
        pack_version=pack_version,
        crop=crop_of(crop_x, crop_y, crop_w, crop_h),
        status=status,
        status_reason=status_reason,
        crop_known=bool(crop_known),
        recorded_here=bool(recorded_here),
    )
