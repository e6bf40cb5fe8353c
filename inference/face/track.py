"""Face tracking: faces keep an id across frames, so decisions are made per person.

Each track remembers its last box and the velocity of its centre. Every frame, a track's
box is moved forward by that velocity (for as many frames as it has been unseen) and
detections are matched to these predictions by IoU, greedily, best overlap first. Greedy
matching is what SORT-style trackers reduce to when overlaps are unambiguous, and a
kiosk sees a handful of faces: an optimal assignment would only differ on near-ties that
the prediction already separates (two faces crossing move in opposite directions).

A new track is *tentative* until it has been matched ``min_hits`` times, which filters
one-frame false detections; a tentative track that misses a frame is dropped. A confirmed
track survives ``max_missed`` unseen frames (a turned head, a passer-by in front) and
keeps its id when the face comes back within that time. Boxes say nothing of whose face
it is: the pipeline ends a decided track whose face changed (:meth:`FaceTracker.restart`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inference.face.types import FaceBox, TrackedFace


@dataclass(frozen=True)
class TrackerSettings:
    """Tracking thresholds; defaults measured on ``hamilton_640x360.mp4`` (see the report in
    ``tests/inference/face/measure.py``)."""

    min_iou: float = 0.3
    """A detection continues a track when it overlaps the track's predicted box this much."""
    max_missed: int = 15
    """Frames a confirmed track survives unseen (half a second at 30 fps)."""
    min_hits: int = 3
    """Matches before a track is confirmed."""
    velocity_smoothing: float = 0.5
    """Weight of the newest displacement in the track's velocity (1 = no smoothing)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.min_iou <= 1.0 or not 0.0 < self.velocity_smoothing <= 1.0:
            raise ValueError("min_iou and velocity_smoothing must lie in (0, 1]")
        if self.max_missed < 0 or self.min_hits < 1:
            raise ValueError("max_missed must be >= 0 and min_hits >= 1")


class _Track:
    """One track's mutable state; lives only inside :class:`FaceTracker`."""

    def __init__(self, track_id: int, face: FaceBox) -> None:
        self.track_id = track_id
        self.face = face
        self.velocity = (0.0, 0.0)
        self.hits = 1
        self.age = 0
        self.missed = 0

    def predicted(self) -> FaceBox:
        steps = self.missed + 1
        return self.face.transformed(1.0, self.velocity[0] * steps, self.velocity[1] * steps)

    def update(self, face: FaceBox, smoothing: float) -> None:
        steps = self.missed + 1
        (old_x, old_y), (new_x, new_y) = self.face.center, face.center
        step = ((new_x - old_x) / steps, (new_y - old_y) / steps)
        self.velocity = (
            smoothing * step[0] + (1 - smoothing) * self.velocity[0],
            smoothing * step[1] + (1 - smoothing) * self.velocity[1],
        )
        self.face, self.hits, self.missed = face, self.hits + 1, 0


class FaceTracker:
    """Gives the faces of consecutive frames stable ids. One instance per camera stream."""

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self._tracks: list[_Track] = []
        self._next_id = 1

    @property
    def track_count(self) -> int:
        """Tracks alive now, seen this frame or not."""
        return len(self._tracks)

    def reset(self) -> None:
        """Forget every track (a new session at the kiosk); ids keep increasing."""
        self._tracks = []

    def update(self, faces: Sequence[FaceBox]) -> list[TrackedFace]:
        """Match this frame's ``faces`` to the tracks; returns them with ids, in input order."""
        for track in self._tracks:
            track.age += 1
        pairs = self._match(faces)
        matched_tracks = {track_index for _, track_index in pairs}
        owners: dict[int, _Track] = {}
        for face_index, track_index in pairs:
            track = self._tracks[track_index]
            track.update(faces[face_index], self.settings.velocity_smoothing)
            owners[face_index] = track
        self._age_unmatched(matched_tracks)
        for face_index, face in enumerate(faces):
            if face_index not in owners:
                owners[face_index] = self._start(face)
        return [self._report(owners[index]) for index in range(len(faces))]

    def restart(self, track_id: int) -> TrackedFace:
        """End track ``track_id`` and start a new, tentative one where its face is now: the
        face seen there is not the one the track followed (:mod:`continuity`)."""
        (track,) = [track for track in self._tracks if track.track_id == track_id]
        self._tracks.remove(track)
        return self._report(self._start(track.face))

    def _match(self, faces: Sequence[FaceBox]) -> list[tuple[int, int]]:
        """(face index, track index) pairs, greedily by descending IoU with the prediction."""
        overlaps = iou_matrix(faces, [track.predicted() for track in self._tracks])
        pairs: list[tuple[int, int]] = []
        while overlaps.size and overlaps.max() >= self.settings.min_iou:
            face_index, track_index = np.unravel_index(int(overlaps.argmax()), overlaps.shape)
            pairs.append((int(face_index), int(track_index)))
            overlaps[face_index, :] = -1.0
            overlaps[:, track_index] = -1.0
        return pairs

    def _age_unmatched(self, matched: set[int]) -> None:
        survivors = []
        for index, track in enumerate(self._tracks):
            if index not in matched:
                track.missed += 1
            if track.missed == 0 or self._survives_miss(track):
                survivors.append(track)
        self._tracks = survivors

    def _survives_miss(self, track: _Track) -> bool:
        confirmed = track.hits >= self.settings.min_hits
        return confirmed and track.missed <= self.settings.max_missed

    def _start(self, face: FaceBox) -> _Track:
        track = _Track(self._next_id, face)
        self._next_id += 1
        self._tracks.append(track)
        return track

    def _report(self, track: _Track) -> TrackedFace:
        confirmed = track.hits >= self.settings.min_hits
        return TrackedFace(track.track_id, track.face, track.hits, track.age, confirmed)


def iou_matrix(first: Sequence[FaceBox], second: Sequence[FaceBox]) -> npt.NDArray[np.float64]:
    """IoU of every box of ``first`` (rows) with every box of ``second`` (columns)."""
    overlaps = np.zeros((len(first), len(second)), dtype=np.float64)
    for row, a in enumerate(first):
        for column, b in enumerate(second):
            overlaps[row, column] = a.iou(b)
    return overlaps
