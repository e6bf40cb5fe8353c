"""A kiosk stream: frames through the pipeline, each final decision an access event.

Every track that ends in a final decision (``verified``, ``not_matched``,
``spoof_detected``, ``low_quality``) is recorded once, with the store's audit entry and
outbox entry in the same transaction (:class:`~sync.store.access.AccessLog`). What is not
recorded, and why:

* ``challenge_required`` is not final: the track's answer to the challenge is recorded;
* ``no_face_detected`` and ``multiple_faces`` describe a frame, thirty times a second: they
  are shown to the person, not kept.

With a :class:`~desktop.kiosk.gallery.GalleryWatch`, a gallery changed meanwhile (an
enrolment, an erasure, by a sync or another process) replaces the old one between frames.

The pipeline already answers each track once, and its track ids only grow; the session
still remembers the last ids it recorded, so that no later change there can write one
attempt twice.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from desktop.kiosk.errors import KioskError
from desktop.kiosk.gallery import GalleryWatch
from desktop.kiosk.identity import KioskIdentity
from inference.face.decide import Decision, Status
from inference.face.pipeline import DecisionPipeline, FrameResult
from inference.face.stages import AnyImage
from sync.errors import RecordNotFoundError
from sync.store import AccessEvent, Store

RECORDED = (Status.VERIFIED, Status.NOT_MATCHED, Status.SPOOF_DETECTED, Status.LOW_QUALITY)
# Tracks recorded that are remembered: far more than can be open at once at one kiosk.
_REMEMBERED_TRACKS = 1024


@dataclass(frozen=True)
class KioskFrame:
    """One frame's result, the access events it recorded, and the names of the people
    they verified (what the screen greets them with)."""

    result: FrameResult
    events: tuple[AccessEvent, ...]
    names: Mapping[str, str] = field(default_factory=dict)


class KioskSession:
    """One camera's pipeline, recording into one store."""

    def __init__(
        self,
        pipeline: DecisionPipeline,
        store: Store,
        identity: KioskIdentity,
        watch: GalleryWatch | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.identity = identity
        self._watch = watch
        self.warning: str | None = None
        """What the operator must know before relying on this kiosk (set at start)."""
        self._recorded: deque[int] = deque(maxlen=_REMEMBERED_TRACKS)

    def process(self, image: AnyImage, time_s: float | None = None) -> KioskFrame:
        self._reload_gallery()
        result = self.pipeline.process(image, time_s)
        events = self._record(result.decisions)
        return KioskFrame(result, events, self._names(events))

    def finish(self) -> tuple[AccessEvent, ...]:
        """The stream ended: open tracks are decided on what they have, and recorded."""
        return self._record(self.pipeline.finish())

    def _names(self, events: tuple[AccessEvent, ...]) -> dict[str, str]:
        """Display names of the people verified; one erased since has none to show."""
        names = {}
        for uid in {event.person_uid for event in events if event.person_uid is not None}:
            try:
                names[uid] = self.store.people.get(uid).display_name
            except RecordNotFoundError:
                continue
        return names

    def _reload_gallery(self) -> None:
        """Between frames, a changed gallery replaces the old one; open tracks go on against
        the new one (a person erased meanwhile is matched by nobody)."""
        gallery = self._watch.changed() if self._watch is not None else None
        if gallery is None:
            return
        claimed = self.pipeline.claimed
        if claimed is not None and claimed not in gallery:
            raise KioskError("the person whose badge was presented has been erased")
        self.pipeline.stages = dataclasses.replace(self.pipeline.stages, gallery=gallery)

    def _record(self, decisions: Iterable[Decision]) -> tuple[AccessEvent, ...]:
        events = []
        for decision in decisions:
            track = decision.track_id
            if decision.status not in RECORDED or track is None or track in self._recorded:
                continue
            self._recorded.append(track)
            events.append(self.store.access.record(self.event(decision)))
        return tuple(events)

    def event(self, decision: Decision) -> AccessEvent:
        """The access event of a final track decision; the person only when verified."""
        verified = decision.status is Status.VERIFIED
        return AccessEvent(
            occurred_at=self.store.clock.now(),
            site=self.identity.site,
            device=self.identity.device,
            decision=str(decision.status),
            person_uid=decision.identity if verified else None,
            similarity=decision.similarity,
            liveness=decision.liveness,
        )
