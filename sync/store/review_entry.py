"""Whether an officer's review of a catch goes to the hub, or waits in quarantine.

A review sends the whole catch (``observations.observation_payload``), and the wire's rules
may have tightened since the catch was recorded: an earlier release took a vessel or trip
holding a control character or bidirectional override, which ``Name`` now refuses
(``sync.protocol.names``). Refused as a whole, such a catch could never be reviewed here,
though the officer's verdict is sound. So the review is kept, the catch's stored names are
left as they were (this device does not rewrite what was recorded, and guessing what a name
meant is not its to do), and its entry is written quarantined with the schema's reason, as
the hub would answer it (``Outbox.enqueue``'s ``quarantine_invalid``), for the operator to
see (``jaga sync status``). That catch's first entry met the same refusal at the hub, so
nothing it holds is held back by this one.

Only what the catch held before is let through so: when the review's own fields (the
species, the reviewer, when) are refused, or the whole record is (a rule across fields), the
review is refused before anything is saved, so no new such name comes in by a review.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from sync.errors import RecordInvalidError
from sync.protocol import FishObservationUpsert

# What a review writes (``Observations._review``); every other field is the catch's own.
REVIEW_FIELDS = frozenset({"confirmed_species", "needs_review", "reviewed_by", "reviewed_at"})


def quarantine_review(payload: Mapping[str, Any]) -> bool:
    """True when the wire refuses the review's ``payload`` only for fields the catch held
    before the review (its entry is then quarantined); False when it is sendable.
    ``RecordInvalidError`` naming what the review brings when that is refused (a species or
    reviewer, or the record as a whole): nothing is saved."""
    try:
        FishObservationUpsert.model_validate(dict(payload))
    except ValidationError as error:
        own = [d for d in error.errors() if not d["loc"] or d["loc"][0] in REVIEW_FIELDS]
        if own:
            problems = "; ".join(
                f"{d['loc'][0] if d['loc'] else 'record'}: {d['msg']}" for d in own
            )
            raise RecordInvalidError(f"not saved: {problems}") from None
        return True
    return False
