"""What became of pushed outbox entries: a push's ``Verdict``, and the ``Quarantined`` ones.

``Outbox.settle`` writes a verdict; ``Outbox.quarantined`` lists what the hub (or the client's
own check) refused for good. They live beside the outbox so the store owns every state move.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """What became of the entries of one push."""

    acknowledged: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()
    requeued: tuple[str, ...] = ()  # no verdict heard: sent again, nothing counted
    refused: tuple[str, ...] = ()  # refused as retryable: sent again, the refusal counted

    def __post_init__(self) -> None:
        if any(not reason.strip() for _, reason in self.rejected):
            raise ValueError("a rejection needs a reason")

    def merged(self, other: Verdict) -> Verdict:
        return Verdict(
            self.acknowledged + other.acknowledged,
            self.rejected + other.rejected,
            self.requeued + other.requeued,
            self.refused + other.refused,
        )


@dataclass(frozen=True)
class Quarantined:
    """An entry the hub (or the client's own check) refused for good, with the reason."""

    sequence: int
    idempotency_key: str
    entity: str
    entity_uid: str
    reason: str
