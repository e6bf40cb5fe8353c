"""The per-site change log that devices pull.

A cursor is taken by incrementing ``Site.last_cursor`` with UPDATE ... RETURNING inside the
writer's transaction. That holds the site row's lock until commit, so within a site cursors
are committed in the order they were handed out: a device that has pulled cursor N can
never later find a change N-1 it missed (the classic gap of a plain sequence, where a
slower transaction commits a smaller number after a reader moved past it).

A change's ``changed_at`` is the time it was logged, or the newest field stamp of the record
it logs when that is later (a device whose clock runs ahead, within the hub's skew): a
device that pulls the change stamps its later edits after it (``sync.store.edit_clock``),
so they win over the version it saw.

A pull withholds the upserts of a person past their consent's retention, and of their
templates, until ``sync.hub.retention`` erases them (its tombstone then reaches the devices
that hold them), but only by a clock the purge's check trusts (``sync.hub.clock_check``,
asked only when someone of the site is past retention by the hub's clock). A withheld change
is passed for good: the device's cursor moves past it. That is sound only when the purge is
sure to follow with a tombstone, and the purge acts on that trusted clock alone: withheld by
a clock it refuses (60 days ahead), a person with 30 days of consent left would never reach
a device that pulled then, and once the clock is set right nothing would ever send them
(``not_matched`` at that kiosk for good). So on a clock not trusted the pull withholds
nobody: it cannot tell a jump from the truth, and a person whose consent did end reaches the
device, which keeps them out of its gallery and refuses their badge by its own clock
(``desktop.kiosk.gallery``) and erases them at its next sync (``People.purge_expired``),
until the purge, on a clock trusted again, erases them everywhere with its tombstone.

What is left is the check's own blind spot (``sync.hub.clock_check``: a jump under its
tolerances): the purge would erase on such a clock too, and if the clock is set right before
it runs, a device that pulled then misses the people it withheld until their consent ends,
which the jump (at most four weeks) bounds.

It also withholds the announcement of a species pack whose schema the device does not read:
a release that reads only older schemas would install the pack, refuse it when it loads it,
and (before it kept a pack to fall back on) be left with no species classifier. It keeps
the newest pack it reads instead, until it is upgraded; the pull's answer then names the
newest pack it reads (``PullResult.species_pack``), whose announcement the device may be
past already.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from sync.hub.apply.lww import newest_time
from sync.hub.clock_check import check_clock
from sync.hub.models import Change, Device, Site, SpeciesPack
from sync.hub.models.people import past_retention


def lock_sites(*site_ids: int) -> None:
    """Take the change-log lock of these sites first, before any record lock.

    Every writer that appends changes takes its sites' locks at the start of its
    transaction, in id order. Two pushes of one site then run one after the other instead
    of each holding a record the other needs while waiting for the site (a deadlock).
    """
    list(Site.objects.select_for_update().filter(pk__in=site_ids).order_by("pk").values("pk"))


def append_change(
    site: Site,
    entity: str,
    entity_uid: UUID,
    operation: str,
    payload: dict[str, Any],
    *,
    origin: Device | None,
    versions: dict[str, Any] | None = None,
) -> Change:
    """Add a change for ``site`` inside the caller's transaction; returns it. ``versions``:
    the logged record's field stamps (``lww``), whose newest dates it if later than now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE hub_site SET last_cursor = last_cursor + 1 WHERE id = %s RETURNING last_cursor",
            [site.pk],
        )
        (number,) = cursor.fetchone()
    change: Change = Change.objects.create(
        site=site,
        cursor=number,
        entity=entity,
        entity_uid=entity_uid,
        operation=operation,
        payload=payload,
        origin_device=origin,
    )
    stamped = newest_time(versions or {})
    if stamped is not None and stamped > change.changed_at:  # auto_now_add took the clock
        Change.objects.filter(pk=change.pk).update(changed_at=stamped)
        change.changed_at = stamped
    return change


def changes_after(
    site: Site, cursor: int, limit: int, *, pack_schema: int
) -> tuple[list[Change], bool]:
    """Up to ``limit`` changes after ``cursor``, oldest first, and whether more remain, for a
    device that reads species packs up to schema ``pack_schema``."""
    query = Change.objects.select_related("origin_device").filter(site=site, cursor__gt=cursor)
    unreadable = SpeciesPack.objects.filter(schema__gt=pack_schema).values_list("uid", flat=True)
    if unread := list(unreadable):
        query = query.exclude(entity="species_pack", entity_uid__in=unread)
    if withheld := withheld_people(site):
        query = query.exclude(
            Q(entity="person", operation="upsert", entity_uid__in=withheld)
            | Q(entity="face_template", payload__person_uid__in=withheld)
        )
    rows = list(query.order_by("cursor")[: limit + 1])
    return rows[:limit], len(rows) > limit


def withheld_people(site: Site) -> list[str]:
    """Uids of the site's people a pull withholds: past their consent's retention by the
    hub's clock, that clock trusted by the purge's check (see the module: withheld by a clock
    the purge refuses, a person would be passed by the device's cursor and never erased)."""
    now = timezone.now()
    expired = past_retention(now).filter(site=site).values_list("uid", flat=True)
    uids = [str(uid) for uid in expired]
    if not uids or not check_clock(now).trusted:
        return []
    return uids
