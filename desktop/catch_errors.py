"""The catch flow's refusals: ``jaga catch`` prints them, the Catch panel shows them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sync.store import FishObservation

# What a refusal says of the catch's keeping (``CatchStore.record``; ``CatchRecords`` reads it).
KEPT_ON_DISK = "kept on disk until recorded"
KEPT_IN_MEMORY = "kept in memory only, lost if the app stops"


class CatchError(Exception):
    """A photo or a catch detail that cannot be recorded; the message names the file or the
    field and what is wrong. Nothing was written."""


class RecordedBeforeError(CatchError):
    """The photo was recorded before with one of the same fish: ``earlier`` holds those
    records. Nothing was written; the caller may record it again, if the officer says so."""

    def __init__(self, path: Path, earlier: Sequence[FishObservation]) -> None:
        self.earlier = tuple(earlier)
        records = "; ".join(_earlier_text(observation) for observation in self.earlier)
        super().__init__(f"{path.name} was recorded before with the same fish: {records}")


def _earlier_text(observation: FishObservation) -> str:
    where = "whole photo" if observation.crop is None else f"box {observation.crop}"
    at = observation.observed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"observation {observation.observation_uid} ({where}) at {at}"
