"""Consent retention on the hub: nobody is kept, matched or handed out past ``retain_until``.

A person's consent says until when their data may be kept. ``purge_expired`` (``jaga hub
purge-expired``, run daily by ``jaga-hub-purge.timer``) erases everyone past it through
``sync.hub.apply.people.erase``, the path of an erasure from a device or the admin, so the
tombstone reaches every device of the site, and a device that pulled the person before
their retention ended erases its copy too. Nothing waits on that timer: until the purge
runs, search (``sync.hub.search``) never matches such a person and a pull
(``sync.hub.apply.changes``) never hands them or their templates to a device. Devices
erase their own copies at each sync as well (``sync.client.client``), by their own clocks; the
hub applies such a tombstone only once the person is past retention by its clock, so a
device whose clock is ahead erases nobody early but its own copy
(``sync.hub.apply.people``). A badge held by someone past retention is freed at once, by
the same erasure, when someone enrols under it.

Nothing renews a consent (devices enrol and erase people, the admin only erases): a person
past retention who consents again is enrolled again, as a new person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from sync.hub.apply.changes import lock_sites
from sync.hub.apply.people import erase
from sync.hub.models.people import past_retention
from sync.protocol import RETENTION_REASON


@dataclass(frozen=True)
class ExpiredPerson:
    person_uid: UUID
    site: str
    retain_until: datetime


def expired_people(now: datetime | None = None) -> list[ExpiredPerson]:
    """Everyone not yet erased whose retention ended by ``now``, the longest overdue first."""
    rows = (
        past_retention(now or timezone.now())
        .order_by("retain_until", "pk")
        .values_list("uid", "site__slug", "retain_until")
    )
    return [ExpiredPerson(uid, slug, until) for uid, slug, until in rows]


def purge_expired(now: datetime | None = None, *, dry_run: bool = False) -> list[ExpiredPerson]:
    """Erase everyone past their retention (each in its own transaction, so one failure
    keeps what was done); returns them. ``dry_run`` only lists them."""
    now = now or timezone.now()
    expired = expired_people(now)
    if dry_run:
        return expired
    return [person for person in expired if _erase_if_expired(person.person_uid, now)]


def _erase_if_expired(person_uid: UUID, now: datetime) -> bool:
    with transaction.atomic():
        site_id = past_retention(now).filter(uid=person_uid).values_list("site_id", flat=True)
        if not site_id:
            return False  # erased or renewed meanwhile
        lock_sites(site_id[0])
        person = past_retention(now).select_for_update().filter(uid=person_uid).first()
        if person is None:
            return False
        erase(person, erased_at=now, reason=RETENTION_REASON, origin=None)
    return True
