"""One frame as the kiosk shows it: its result, the access events it recorded, and the prompt.

Apart from ``desktop.kiosk.session`` because it is the immutable value the session hands to
whoever shows it (the live runner reports it, the Kiosk panel's controller shows it on the
GUI thread), and what the screen may say of it is a rule of its own: a decision not yet
written is not greeted, as a kill would leave no record of it (:meth:`KioskFrame.prompt`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from desktop.kiosk.prompts import NOT_RECORDING, Prompt, Tone, frame_prompt, notice_prompt
from inference.face.decide import Status
from inference.face.pipeline import FrameResult
from sync.store import AccessEvent


@dataclass(frozen=True)
class KioskFrame:
    """One frame's result, the access events it recorded, and the names of the people
    they verified (what the screen greets them with)."""

    result: FrameResult
    events: tuple[AccessEvent, ...]
    names: Mapping[str, str] = field(default_factory=dict)
    badge: str | None = None
    """The badge (external id) this frame was verified against, if one was presented."""
    notice: str | None = None
    """Something the person must be told once (a badge nobody here holds)."""
    problem: str | None = None
    """Something the operator must see while it lasts (decisions waiting for the store)."""
    unwritten: frozenset[int] = frozenset()
    """Tracks whose decision waits for the store: none of them is greeted."""

    def prompt(self, names: Mapping[str, str]) -> Prompt:
        """What the screen tells the person: a notice once; else the answer about them, but
        no welcome on a decision not yet written (a kill would leave no record of it)."""
        if self.notice is not None:
            return notice_prompt(self.notice)
        prompt = frame_prompt(self.result, names, self.badge)
        if prompt.tone is Tone.ACCEPTED and self._greets_unwritten():
            return NOT_RECORDING
        return prompt

    def _greets_unwritten(self) -> bool:
        return any(
            face.track_id in self.unwritten
            and face.decision is not None
            and face.decision.status is Status.VERIFIED
            for face in self.result.faces
        )
