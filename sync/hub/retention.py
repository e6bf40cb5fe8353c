"""Consent retention on the hub: nobody is kept, matched or handed out past ``retain_until``.

A person's consent says until when their data may be kept. ``purge_expired`` (``jaga hub
purge-expired``, run daily by ``jaga-hub-purge.timer``) erases everyone past it through
``sync.hub.apply.erase.erase``, the path of an erasure from a device or the admin, so the
tombstone reaches every device of the site, and a device that pulled the person before
their retention ended erases its copy too. Nothing waits on that timer: until the purge
runs, search (``sync.hub.search``) never matches such a person and a pull
(``sync.hub.apply.changes``) never hands them or their templates to a device, while the
clock check below trusts the hub's clock (a device's cursor passes what a pull withholds, so
only a purge sure to follow may let it). Devices
erase their own copies at each sync as well (``sync.client.client``), by their own clocks; the
hub applies such a tombstone only once the person is past retention by its clock, so a
device whose clock is ahead erases nobody early but its own copy
(``sync.hub.apply.people``). A badge held by someone past retention is freed at once, by
the same erasure, when someone enrols under it (both by a clock ``sync.hub.clock_check``
trusts).

Nothing renews a consent (devices enrol and erase people, the admin only erases, and a push
that carries another consent for a person is refused, ``sync.hub.apply.people``): a person
past retention who consents again is enrolled again, as a new person.

Decision retention, the hub's counterpart of the device's (``sync.store.retention``): the
same daily command deletes the kiosks' access events (who was let in or refused, at which
gate, when: personal data) once they are older than the hub's window
(``JAGA_HUB_DECISION_KEEP_DAYS``, 365 days unless set; 0 keeps them for ever). An event goes
once it happened (``occurred_at``, the device's clock) AND the hub took it (``received_at``,
the hub's clock) at least the window ago: a device's clock behind, or an event taken late,
still leaves the hub the whole window after it took it; a clock ahead only keeps it longer,
by as much as the clock was ahead (a clock cannot make the hub delete early). It deletes in
batches of ``BATCH`` events of one site, each a short transaction holding the site's
change-log lock (``lock_sites``), so the site's pushes wait at most one batch. A batch finds
its events by when they fell due, the later of the two times (an index of it, migration
0033), so the events of a clock years behind that the hub took lately, not yet due, are not
read again by every batch of every run.

Its other parts: the idempotency keys that may go as old (``sync.hub.key_retention``),
each device's anchored audit chain's oldest entries (``sync.hub.chain_retention``), and
the reasons typed of old erasures (``sync.hub.reason_retention``).

Nothing of this runs on the hub's clock alone: ``purge_all``, what the command runs, first asks
``sync.hub.clock_check`` whether the clock is to be trusted (PostgreSQL's clock, the host's
boot time since the last run, when the hub last ran a purge, and after a gap of weeks the
devices' own clocks). A clock that looks ahead erases and deletes nothing, and the command says
why and fails until the clock is set right or an operator passes ``--trust-clock``.

Each run is recorded, with the host's boot for the next run's clock check, and even when
decisions are kept for ever (no cutoff, nothing deleted) (``DecisionPurge``: the window, the
cutoff, how many events, keys of every kind and audit entries it deleted, how many chains it
held back; the reasons it forgot are logged and printed, not recorded), made before it deletes
anything and counted up in each batch's own transaction, so a run killed midway has recorded
what it deleted (SIGTERM, systemd's stop, closes the record as stopped: ``sync.hub.cli``), and
logged; ``/metrics`` gives the totals, the last run's time and the chains it held back.
The tables' files do not shrink: the rows' space is reused by the next ones (plain VACUUM).

"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from sync.hub.apply.changes import lock_sites
from sync.hub.apply.erase import erase
from sync.hub.chain_retention import HeldChain, held_chains, log_held, prune_chains
from sync.hub.clock_check import ClockVerdict, boot_fields, check_clock, record_refusal
from sync.hub.erasure_journal import ErasureKind
from sync.hub.key_retention import KEYS_PURGED, due_keys, purge_keys
from sync.hub.models import AccessEvent, DecisionPurge, Site
from sync.hub.models.events import count_purged, decisions_kept_since
from sync.hub.models.people import past_retention
from sync.hub.reason_retention import forget_reasons
from sync.protocol import RETENTION_REASON

_log = logging.getLogger(__name__)
BATCH = 1000  # access events of one site per transaction: a push of the site waits at most one


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


@dataclass(frozen=True)
class PurgeOutcome:
    """What ``purge_all`` did: ``decisions`` None when the clock was not trusted (``clock``
    says why), and then nothing was erased or deleted."""

    clock: ClockVerdict
    people: list[ExpiredPerson]
    decisions: DecisionReport | None


def purge_all(
    now: datetime | None = None, *, dry_run: bool = False, trust_clock: bool = False
) -> PurgeOutcome:
    """Check the hub's clock (``sync.hub.clock_check``), then erase everyone past their
    retention and purge the decisions past the window. A clock that looks ahead stops it
    before anything is erased or deleted, and is recorded (not in a dry run) unless
    ``trust_clock``, the operator's word that it is right."""
    now = now or timezone.now()
    clock = check_clock(now)
    if not clock.trusted and not trust_clock:
        if not dry_run:
            days = settings.JAGA_HUB_DECISION_KEEP_DAYS
            record_refusal(clock, days, decisions_kept_since(now, days))
        return PurgeOutcome(clock, [], None)
    people = purge_expired(now, dry_run=dry_run)
    return PurgeOutcome(clock, people, purge_decisions(now, dry_run=dry_run))


def _erase_if_expired(person_uid: UUID, now: datetime) -> bool:
    with transaction.atomic():
        site_id = past_retention(now).filter(uid=person_uid).values_list("site_id", flat=True)
        if not site_id:
            return False  # erased or renewed meanwhile
        lock_sites(site_id[0])
        person = past_retention(now).select_for_update().filter(uid=person_uid).first()
        if person is None:
            return False
        erase(
            person,
            erased_at=now,
            reason=RETENTION_REASON,
            origin=None,
            kind=ErasureKind.RETENTION,
        )
    return True


@dataclass
class DecisionReport:
    """What ``purge_decisions`` deleted (or, dry, would delete): access events and anchored
    audit entries per site slug (only sites with any), and idempotency keys."""

    keep_days: int
    cutoff: datetime | None
    by_site: dict[str, int] = field(default_factory=dict)
    applied_entries: int = 0
    audit_by_site: dict[str, int] = field(default_factory=dict)
    erasure_reasons: int = 0
    held_chains: list[HeldChain] = field(default_factory=list)

    @property
    def access_events(self) -> int:
        return sum(self.by_site.values())

    @property
    def audit_entries(self) -> int:
        return sum(self.audit_by_site.values())


def purge_decisions(
    now: datetime | None = None, *, keep_days: int | None = None, dry_run: bool = False
) -> DecisionReport:
    """Delete the access events older than the window, happened and received, the
    idempotency keys that may go (an event's once it is gone) two windows after the hub took
    them, and the anchored chains' oldest entries as old as the events (see the module);
    ``keep_days`` defaults to the hub's setting. Records and logs the run; ``dry_run`` only
    counts them."""
    started = timezone.now()
    now = now or started
    days = settings.JAGA_HUB_DECISION_KEEP_DAYS if keep_days is None else keep_days
    cutoff = decisions_kept_since(now, days)
    report = DecisionReport(days, cutoff)
    if cutoff is None:
        if not dry_run:  # nothing to delete, yet the run the next one compares its clock with
            _finish(report, _begin(report, None, started), complete=True)
        return report
    sites = dict(Site.objects.order_by("pk").values_list("pk", "slug"))
    run = None if dry_run else _begin(report, cutoff, started)
    try:
        _purge_events(report, sites, cutoff, run)
        keys_cutoff = decisions_kept_since(now, 2 * days)  # a key outlives its event a window
        if keys_cutoff is not None:
            for entity in KEYS_PURGED:
                report.applied_entries += purge_keys(due_keys(entity, keys_cutoff, cutoff), run)
        report.erasure_reasons = forget_reasons(cutoff, dry_run=run is None)
        report.held_chains = held_chains(cutoff)
        log_held(report.held_chains)
        if run is not None:
            DecisionPurge.objects.filter(pk=run).update(held_chains=len(report.held_chains))
        prune_chains(cutoff, run, report.audit_by_site)
        if run is not None:
            _finish(report, run, complete=True)
    except BaseException:  # an error, or SIGTERM (``sync.hub.cli``) or Ctrl-C
        if run is not None:
            _finish(report, run, complete=False)
        raise
    return report


def _purge_events(
    report: DecisionReport, sites: dict[int, str], cutoff: datetime, run: int | None
) -> None:
    """Each site's due access events, deleted into ``run`` (None: counted only) and into
    ``report``."""
    for site_id, slug in sites.items():
        if run is None:
            if due := due_events(site_id, cutoff).count():
                report.by_site[slug] = due
            continue
        while deleted := _delete_batch(site_id, cutoff, run):
            report.by_site[slug] = report.by_site.get(slug, 0) + deleted


def due_events(site_id: int, cutoff: datetime) -> QuerySet[AccessEvent]:
    """The site's access events due for deletion at ``cutoff`` (happened and received
    before it: the later of the two is), the first due first. Found by that time
    (``access_site_due``), so events dated long ago but taken lately are never read."""
    due_at = Greatest("occurred_at", "received_at")
    return (
        AccessEvent.objects.annotate(due_at=due_at)
        .filter(site_id=site_id, due_at__lt=cutoff)
        .order_by("due_at")
    )


def _delete_batch(site_id: int, cutoff: datetime, run: int) -> int:
    """Delete up to ``BATCH`` of the site's due events, the first due first, in one transaction
    under the site's lock, counted into ``run`` in it; how many it deleted."""
    with transaction.atomic():
        lock_sites(site_id)
        uids = list(due_events(site_id, cutoff).values_list("uid", flat=True)[:BATCH])
        if uids:
            AccessEvent.objects.filter(uid__in=uids).delete()
            count_purged(run, access_events=len(uids))
    return len(uids)


def _begin(report: DecisionReport, cutoff: datetime | None, started: datetime) -> int:
    """The run's record, made before it deletes anything and counted up in each batch's
    transaction: a run killed midway (SIGKILL, a power cut) has recorded what it deleted,
    left without ``finished_at``. With the host's boot, for the next run's clock check."""
    run = DecisionPurge.objects.create(
        started_at=started, finished_at=None, keep_days=report.keep_days, cutoff=cutoff,
        access_events=0, applied_entries=0, audit_entries=0, complete=False,
        held_chains=0 if cutoff is None else None,  # kept for ever: no chain is held back
        **boot_fields(),
    )  # fmt: skip
    return int(run.pk)


def _finish(report: DecisionReport, run: int, *, complete: bool) -> None:
    DecisionPurge.objects.filter(pk=run).update(finished_at=timezone.now(), complete=complete)
    _log.info(
        "decision retention: deleted %d access events, %d idempotency keys and %d anchored"
        " audit entries, and forgot %d erasures' reasons, older than %s (kept %d days)%s",
        report.access_events,
        report.applied_entries,
        report.audit_entries,
        report.erasure_reasons,
        report.cutoff.isoformat() if report.cutoff else "-",
        report.keep_days,
        "" if complete else "; stopped before its end, the next run carries on",
    )
