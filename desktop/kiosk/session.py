"""A kiosk stream: frames through the pipeline, each final decision an access event.

Every track that ends in a final decision (``verified``, ``not_matched``,
``spoof_detected``, ``low_quality``) is recorded once, with the store's audit entry and
outbox entry in the same transaction (:class:`~sync.store.access.AccessLog`), before the
frame that made it is shown. A store that is busy or full keeps it waiting
(:class:`~desktop.kiosk.writer.EventWriter`), kept on disk beside the store meanwhile, so
that a kill (a power cut, the OOM killer) loses none: the next start writes it. Nobody is
let in on a waiting decision all the same: the screen greets no one whose decision waits,
and says the kiosk cannot record until it is written
(:meth:`~desktop.kiosk.frame.KioskFrame.prompt`). A refusal lets nobody in, and is told at
once. What is not recorded, and why, is :mod:`desktop.kiosk.recorded`.

With a :class:`~desktop.kiosk.gallery.GalleryWatch`, a gallery changed meanwhile (an
enrolment, an erasure, by a sync or another process) replaces the old one between frames,
and each ``verified`` makes it look at the store again before it is taken: one naming a
person erased (or whose consent ended) while the frame was decided is ``not_matched``.

A badge presented at a 1:N kiosk (:meth:`KioskSession.present_badge`) makes the next
attempt 1:1 against that person, until one face checked against it is answered
(``ANSWERS``) or ``BADGE_TIMEOUT_S`` pass; then the kiosk is 1:N again. Faces keep their
tracks across the switches: the badge's holder, decided 1:N a moment before, is decided
again 1:1 (a new attempt), and once answered is not decided a third time on the way back to
1:N; one not answered under the badge (it expired, or was answered for someone else) keeps
its 1:N decision, and is not recorded again. A face whose 1:N attempt was under way when
the badge was presented and that leaves before the badge's check answers it is recorded
for that attempt, decided by 1:N's rules (the pipeline's ``set_claim`` parks it), never for
the badge; that answer does not end the badge. One that was taking its challenge is
recorded ``low_quality`` (``too_brief``), not ``spoof_detected``: the badge, not the
person, ended it. The badge's own undecided attempts end with it (answered for another
face, expired, presented again or replaced by another badge), and are recorded: a badge
answers for one face, and never verifies its holder once it is over, and a try cut short
leaves a record (``spoof_detected`` if its challenge was due or under way, else
``low_quality``, ``too_brief``, unless what it had already refused it), so presenting a
badge again before a challenge times out hides nothing.

The pipeline already answers each track once, and its track ids only grow; the session
still remembers the last ids it recorded, so that no later change there can write one
attempt twice.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from desktop.kiosk.clock_watch import ClockWatch
from desktop.kiosk.errors import KioskError
from desktop.kiosk.frame import KioskFrame
from desktop.kiosk.gallery import GalleryWatch, claimed_person
from desktop.kiosk.identity import KioskIdentity
from desktop.kiosk.recorded import presented
from desktop.kiosk.writer import EventWriter
from inference.face.decide import Decision, Status
from inference.face.pipeline import DecisionPipeline, FrameResult
from inference.face.stages import AnyImage
from sync import plural
from sync.errors import RecordNotFoundError
from sync.store import AccessEvent, Store

# A policy: time for the person who presented a badge to be seen and decided.
BADGE_TIMEOUT_S = 20.0
# The decisions that end a badge's attempt; a low_quality face (a passer-by far behind,
# or the holder told to come closer) leaves it waiting until its time is up.
ANSWERS = ("verified", "not_matched", "spoof_detected")
# Tracks recorded that are remembered: far more than can be open at once at one kiosk.
_REMEMBERED_TRACKS = 1024


@dataclass(frozen=True)
class _Badge:
    external_id: str
    holder: str  # the person_uid its attempt is verified against
    until: float  # on the session's clock


class KioskSession:
    """One camera's pipeline, recording into one store."""

    def __init__(
        self,
        pipeline: DecisionPipeline,
        store: Store,
        identity: KioskIdentity,
        watch: GalleryWatch | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.identity = identity
        self._watch = watch
        self._clock = clock
        self._base_claim = pipeline.claimed  # the mode a badge's attempt returns to
        self._badge: _Badge | None = None
        self._notice: str | None = None
        self._writer = EventWriter(store, clock)
        self.warning: str | None = None
        """What the operator must know before relying on this kiosk (set at start)."""
        self.clock_watch = ClockWatch(store, clock)  # judged at start, and while it runs
        self._recorded: deque[int] = deque(maxlen=_REMEMBERED_TRACKS)
        self._unwritten: dict[str, int] = {}  # event uid -> its track, while it waits
        # Event uid -> its decision's reasons (a low_quality one's), which an access event
        # does not carry; the latest ones only, as for the tracks.
        self._reasons: dict[str, tuple[str, ...]] = {}
        self._claim_erased = False  # the run's own claim left the gallery: it cannot go on

    @property
    def clock_warning(self) -> str | None:
        """Why this kiosk's times look wrong now (:mod:`desktop.kiosk.clock_watch`); None: not."""
        return self.clock_watch.warning

    def process(self, image: AnyImage, time_s: float | None = None) -> KioskFrame:
        self._reload_gallery()
        self._refuse_erased_claim()
        self._expire_badge()
        badge = self._badge
        result = self._taken(self.pipeline.process(image, time_s))
        self._decide(result.decisions)
        # (a badge whose holder left the gallery while the frame was decided has ended)
        if badge is not None and self._badge is badge and _answers(badge, result.decisions):
            self._end_badge(interrupted=True)  # the badge's attempt is decided: back to 1:N
        events = self.write_waiting()
        notice, self._notice = self._notice, None
        external_id = badge.external_id if badge is not None else None
        names = self.names_of(events)  # a greeting waits for the store (see the module)
        unwritten = frozenset(self._unwritten.values())
        return KioskFrame(result, events, names, external_id, notice, self.problem, unwritten)

    @property
    def problem(self) -> str | None:
        """What the operator must see while it lasts, frames or none (a camera out):
        decisions waiting for the store (those in memory only too), a clock gone wrong."""
        problems = [p for p in (self._writer.problem, self.clock_watch.since_start) if p]
        return "\n".join(problems) or None

    def finish(self) -> tuple[AccessEvent, ...]:
        """The stream ended: open tracks are decided on what they have, and recorded; a
        :class:`KioskError` if some still cannot be written (said: kept on disk, they are
        written at the next start; in memory only, they are lost with the process)."""
        self._decide(self._withdrawn(self.pipeline.finish()))
        try:
            written = self.write_waiting(now=True)
        except Exception as error:  # not a wait: say what is lost with the process
            lost = self._writer.waiting
            raise KioskError(
                f"stopped: {plural.counted(lost, 'decision')} not written: {error}"
            ) from error
        if self._writer.waiting:
            unkept = "; those in memory only are lost" if self._writer.unkept else ""
            kept = f"those kept in {self._writer.journal} are written at the next start{unkept}"
            raise KioskError(f"stopped with {self._writer.problem} ({kept})")
        return written

    def from_earlier_run(self, event: AccessEvent) -> bool:
        """Whether the event was decided before this session started, and left waiting for
        the store (:meth:`EventWriter.from_earlier_run`): written now, not decided now."""
        return self._writer.from_earlier_run(event)

    @property
    def journal_set_aside(self) -> Path | None:
        return self._writer.journal_set_aside  # the operator is told, at start

    @property
    def earlier_run(self) -> frozenset[str]:
        """The uids of the events :meth:`from_earlier_run` answers for: an immutable value
        the screen, on its own thread, labels them by."""
        return self._writer.earlier_run

    def close(self) -> None:
        """Let go of the files the session holds beside the store (before the store closes)."""
        self._writer.close()

    def interrupt(self) -> tuple[AccessEvent, ...]:
        """The picture stopped for a while (a camera lost): open tracks are decided on what
        they have and recorded, as at the end of a stream, and whoever is there when it
        comes back is a new attempt. The session goes on; events the store refuses wait. A
        badge whose attempt is decided here is answered, and ends as in :meth:`process`."""
        badge = self._badge
        decisions = self._withdrawn(self.pipeline.finish())
        self._decide(decisions)
        if badge is not None and _answers(badge, decisions):
            self._end_badge(interrupted=True)
        return self.write_waiting()

    def _taken(self, result: FrameResult) -> FrameResult:
        """The frame's result, its ``verified`` decisions taken only for people still in the
        store's gallery (:meth:`_gone`); one withdrawn is ``not_matched``, on the screen too,
        and stays so for its track."""
        named = {d.track_id: d.identity for d in result.decisions if d.status is Status.VERIFIED}
        gone = self._gone({identity for identity in named.values() if identity is not None})
        if not gone:
            return result
        tracks = [
            track for track, identity in named.items() if track is not None and identity in gone
        ]
        self.pipeline.withdraw(gone, tracks)
        faces = tuple(
            dataclasses.replace(face, decision=face.decision.withdrawn(gone))
            if face.decision is not None
            else face
            for face in result.faces
        )
        decisions = tuple(decision.withdrawn(gone) for decision in result.decisions)
        return dataclasses.replace(result, faces=faces, decisions=decisions)

    def _withdrawn(self, decisions: list[Decision]) -> list[Decision]:
        """Decisions of tracks that ended, their ``verified`` ones checked as in :meth:`_taken`."""
        named = {d.identity for d in decisions if d.status is Status.VERIFIED and d.identity}
        gone = self._gone(named)
        return [decision.withdrawn(gone) for decision in decisions]

    def _gone(self, identities: set[str]) -> frozenset[str]:
        """Of ``identities``, just verified on the gallery the pipeline held, those no longer
        in the store's. The watch looks at the store now, however recently it looked: an
        erasure (a sync, ``jaga store``, on their own connections) may have committed while
        the frame was decided, and a consent may have ended on the clock meanwhile. A person
        erased then must be neither let in nor named in a new access event after their
        erasure (what is left is the moment between this look and the event's commit)."""
        if not identities or self._watch is None:
            return frozenset()
        self._reload_gallery(force=True)
        gallery = self.pipeline.stages.gallery
        return frozenset(i for i in identities if gallery is None or i not in gallery)

    def write_waiting(self, *, now: bool = False) -> tuple[AccessEvent, ...]:
        """Write the events that wait (:meth:`EventWriter.flush`); their tracks may be
        greeted from now on. Each frame tries; with no frames (a camera out), the runner."""
        written = self._writer.flush(now=now)
        for event in written:
            self._unwritten.pop(event.event_uid, None)
        return written

    def present_badge(self, external_id: str) -> None:
        """The next attempt is 1:1 against the badge's holder; a badge nobody here holds is
        a notice on the next frame, and the kiosk stays as it was."""
        badge = external_id.strip()
        self._reload_gallery(force=True)  # someone enrolled a moment ago has templates now
        self._refuse_erased_claim()
        try:
            person = claimed_person(self.store, badge, self.identity.site)
        except KioskError as error:
            self._notice = str(error)
            return
        if person.person_uid not in (self.pipeline.stages.gallery or ()):
            self._notice = f"badge {badge}: no face of its holder is enrolled for this kiosk"
            return
        # only the kiosk's own attempts are parked: one another badge left undecided is over
        self._switch(person.person_uid, keep_decided=False, park=self._badge is None)
        self._badge = _Badge(badge, person.person_uid, self._clock() + BADGE_TIMEOUT_S)

    def _expire_badge(self) -> None:
        if self._badge is not None and self._clock() >= self._badge.until:
            self._notice = f"badge {self._badge.external_id}: no face was checked in time"
            self._end_badge()

    def _end_badge(self, *, interrupted: bool = False) -> None:
        """Back to the kiosk's own mode. ``interrupted``: the kiosk ended the badge (answered
        for a face, or its holder left the gallery), so another face's challenge it cuts short
        is no spoof; one that expired ends its tries as failed."""
        self._badge = None
        self._switch(self._base_claim, keep_decided=True, interrupted=interrupted)

    def _switch(
        self,
        claimed: str | None,
        *,
        keep_decided: bool,
        park: bool = False,
        interrupted: bool = False,
    ) -> None:
        """Verify against ``claimed`` (None: 1:N) from the next frame; faces keep their
        tracks (:meth:`DecisionPipeline.set_claim`). The attempts the switch cuts off are
        recorded; tracks that start afresh may be decided, and recorded, again."""
        ended = self.pipeline.set_claim(
            claimed, keep_decided=keep_decided, park=park, interrupted=interrupted
        )
        self._decide(ended)  # recorded before their tracks start afresh
        if not keep_decided:
            self._recorded.clear()
        elif ended:  # only the tracks cut off start afresh
            cut = {decision.track_id for decision in ended}
            self._recorded = deque((t for t in self._recorded if t not in cut),
                                   maxlen=_REMEMBERED_TRACKS)  # fmt: skip

    def names_of(self, events: tuple[AccessEvent, ...]) -> dict[str, str]:
        """Display names of the people verified; one erased since has none to show."""
        names = {}
        for uid in {event.person_uid for event in events if event.person_uid is not None}:
            try:
                names[uid] = self.store.people.get(uid).display_name
            except RecordNotFoundError:
                continue
        return names

    def _reload_gallery(self, *, force: bool = False) -> None:
        """Between frames, a changed gallery replaces the old one. Open tracks go on against
        the new one, forgetting whoever left it (an erasure, a consent that ended): their
        frames could otherwise still decide them as the person just erased."""
        change = self._watch.changed(force=force) if self._watch is not None else None
        if change is None:
            return
        gallery = change.index
        self.pipeline.stages = dataclasses.replace(self.pipeline.stages, gallery=gallery)
        self.pipeline.forget_identities(change.left)
        claimed = self.pipeline.claimed
        if claimed is None or claimed in gallery:
            return
        if self._badge is None:  # the run's own claim (jaga kiosk run --claim): it stops,
            self._claim_erased = True  # once what was decided is recorded
            return
        self._notice = f"badge {self._badge.external_id}: its holder is no longer enrolled"
        self._end_badge(interrupted=True)

    def _refuse_erased_claim(self) -> None:
        if self._claim_erased:
            raise KioskError("the person whose badge was presented has been erased")

    def _decide(self, decisions: Iterable[Decision]) -> list[AccessEvent]:
        """The events of the final decisions, each track once, queued to be written."""
        self.clock_watch.check()  # on every frame, before they are dated by it
        made = []
        for decision in decisions:
            track = decision.track_id
            if not presented(decision) or track is None or track in self._recorded:
                continue
            self._recorded.append(track)
            made.append(self.event(decision))
            self._unwritten[made[-1].event_uid] = track
            self._remember_reasons(made[-1], decision)
        self._writer.queue(made)
        return made

    def reasons(self, event: AccessEvent) -> tuple[str, ...]:
        """Why the decision of an event this session made was what it was: a low_quality
        one's quality reasons, most frequent first (as the screen advises on the first);
        none for the others, which their scores explain."""
        return self._reasons.get(event.event_uid, ())

    def _remember_reasons(self, event: AccessEvent, decision: Decision) -> None:
        if not decision.reasons:
            return
        self._reasons[event.event_uid] = tuple(str(reason) for reason in decision.reasons)
        if len(self._reasons) > _REMEMBERED_TRACKS:  # the oldest: written long since
            del self._reasons[next(iter(self._reasons))]

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
            clock_suspect=self.clock_watch.reason,  # judged by _decide, before it dated them
        )


def _answers(badge: _Badge, decisions: Iterable[Decision]) -> bool:
    """Whether a decision answers the badge: one about a face checked 1:1 against its
    holder. An attempt parked when the badge was presented ends in an answer of the mode
    before (1:N), recorded but no answer to the badge."""
    return any(d.claimed == badge.holder and d.status in ANSWERS for d in decisions)
