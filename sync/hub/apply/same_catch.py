"""A catch its own device pushes again under a new uid is the catch the hub holds.

One photo holds one catch of each fish: each fish's box (or the whole photo), with its own
uid, all pushed by the device that recorded them. A device that records the same fish
again records a new photo (``jaga catch --again``, a second Record), so the same photo uid,
the same box and the same device, under another uid, is that device recording one catch
twice: its store was restored to a backup taken before the catch (``jaga store restore``)
while the Catch panel still kept the catch in its spool, whose Retry recorded it anew. A
Jaga since session 31 keeps the catch's uids in the spool, so the Retry is the same catch;
an entry kept by an earlier one is retried under new uids, and lands here.

The push is acknowledged (``Outcome.SAME_CATCH``), and no second catch is made: the catch
the hub holds keeps its uid, its facts (the same Record's) and its review, made on the hub
or by any device since, which the push, dated later, would otherwise have replaced; the
device is not left with an entry quarantined, nor sent for ever. Nothing is lost: its
facts are those the hub holds, and a review of it the device makes later, under the other
uid, reaches the catch held (``records._review_same_catch``). Another device naming the
photo (a review, or a catch of its own) is not this; nor is a catch whose author is
unknown.

No constraint backs this: pushes of a site apply one after the other (``lock_sites``), and
a hub may already hold such pairs, made before this check, which a constraint would refuse
to migrate. An index (0051) finds a photo's catches.
"""

from __future__ import annotations

import logging
from typing import Any

from sync.hub.apply.context import EntryContext
from sync.hub.models import FishObservation
from sync.protocol import FishObservationUpsert

_log = logging.getLogger(__name__)


def held_same_catch(
    ctx: EntryContext, payload: FishObservationUpsert, crop: dict[str, Any]
) -> FishObservation | None:
    """The catch the hub holds that this push of a catch new to it records again (see the
    module), its box given as the four crop columns; None: the push is a catch of its own."""
    if payload.photo_uid is None or payload.recorded_here is False:
        return None
    held: FishObservation | None = (
        FishObservation.objects.filter(
            site=ctx.site, photo_uid=payload.photo_uid, device=ctx.device, **crop
        )
        .order_by("pk")
        .first()
    )  # fmt: skip
    if held is not None:
        _log.warning(
            "device %s pushed catch %s of photo %s again as %s (a store restored to before"
            " it): kept as %s",
            ctx.device.uid, held.uid, payload.photo_uid, payload.observation_uid, held.uid,
        )  # fmt: skip
    return held
