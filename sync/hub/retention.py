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

An event's idempotency key (``AppliedEntry``) outlives it by a window: keys of access events
the hub took twice the window ago, whose event is gone, go in a pass of their own. Until then
a replayed push of a deleted event (an acknowledgement lost on the way, retried at the
device's next sync) is answered by its key and not stored again; a replay later than that
is stored again and kept a window from then. The hub never refuses or drops an event for its
date alone: a kiosk's clock can be wrong by years (a board without a clock battery), and its
decisions are then kept by when the hub took them.

The same pass deletes, as old, the keys of the other pushes wherever a replay without its
key (a lost acknowledgement retried at a boat's next sync weeks on, a store restored from a
backup, a hub restored from one: ``sync.store.resend``) is answered as the key would answer
it, acknowledged, and changes nothing, logs nothing for devices to pull (``KEYS_PURGED``):

- a face template's: templates never change and go only with their person's erasure, so a
  replay finds it (unchanged) or its person erased (superseded);
- a photo's: a device pushes a photo's metadata once, under a uid of its own
  (``sync.store``), so a replay carries what the hub holds and rewrites it as it is (a
  person's photo goes only with their erasure: superseded); photos are in no change log;
- a person's upserts and tombstones once the person is erased: erasure is final (the hub
  never deletes the row, nothing renews a consent), so an upsert is superseded and a
  tombstone finds them erased (unchanged).

The others stay for ever, as the records and change-log entries they made do:

- a live person's upserts, and a catch's (``fish_observation``: its edits, reviews and the
  pack's verdicts): a replay is settled field by field by its stamp (``sync.hub.apply.lww``),
  the device's clock clamped to the hub's plus ``JAGA_HUB_MAX_CLOCK_SKEW_S`` at the time it
  is applied. A device whose clock was further ahead than that had its edit stamped at the
  limit; its replay, later, gets a later stamp, up to the device's time, and would win the
  fields back from every edit made since (an officer's review, another device's edit),
  write the old values and log them for every device to pull. The hub cannot tell such a
  key from the others (it keeps no entry's time). A catch is never deleted, nor the
  change-log entry most of its edits add, so its keys add little to what it keeps anyway;
- a tombstone of a person not erased (``Outcome.EARLY_RETENTION``: a device clock ahead):
  replayed, it would log the person and their templates again for every device to pull;
  it goes once the purge has erased them.

A key goes, like an event's, two windows after the hub took it (a window of 0 keeps them all):
a device's lost acknowledgement is replayed at its next sync, days or weeks on for a boat
at sea, so each such replay is still answered by its key; one later than that changes
nothing either. Keys go in batches of ``BATCH`` of one entity, each its own transaction,
read from an index (migrations 0029 and 0032) from where the batch before stopped.

The anchored audit chains (``sync.hub.models.audit``) hold an entry with every decision,
naming the person: by the same rule, each segment of a device's chain loses its oldest
entries, only as a prefix and never its newest, in batches of ``BATCH`` each under the
device's lock (the anchor's), leaving the segment's ``AnchoredCheckpoint`` (the last entry
deleted, from which the rest verifies; the database's triggers let nothing else go, and the
checkpoint only forward) and counting the device's entries down with them
(``AuditChainState.entries``). Nothing of a device's chain goes while a break or pruned
record of it is open: the operator who looks into it may need the entries. Left open, that
record would keep the device's decisions past the window for ever, so each run names such
devices (the record's kind, since when: ``held_chains``) in its report and log, and records
how many, which ``/metrics`` gives (``jaga_hub_decision_purge_held_chains``, as of the last
run), until the records are acknowledged in the admin. As the prefix stops at the first
entry not yet due, one entry's time must not hold back the rest: an entry whose time (the
device's) lies more than ``AHEAD_TOLERATED`` (a day) past when the hub took it (a device
clock that jumped ahead), or that the hub cannot read, is judged by when the hub took it
alone, and the run logs how many it judged so.

Nothing of this runs on the hub's clock alone: ``purge_all``, what the command runs, first
asks ``sync.hub.clock_check`` whether the clock is to be trusted (PostgreSQL's clock, when the
hub last ran a purge, and after a gap of weeks the devices' own clocks). A clock that looks
ahead erases and deletes nothing, and the command says why and fails until the clock is set
right or an operator passes ``--trust-clock``.

An erasure's reason, as an operator typed it on a device or the admin wrote it, may name
whoever asked ("asked by her lawyer ..."): the hub keeps it on the erased person's row (the
admin shows it) and in their tombstone in the change log (devices pull it) for the same
window after it took the erasure (the erasure's time and the row's ``updated_at``, the
hub's clock), then gives both ``REASON_NOT_KEPT`` instead, in batches of ``BATCH`` people
(``_forget_reasons``). The tombstone stays, so a device that pulls it later still erases
the person; a device's replay of its tombstone is answered by its idempotency key as
before. The retention purge's own reason (``RETENTION_REASON``) names no one and stays. A
window of 0 keeps the reasons for ever too. Saved anew, the rows make the next rewrite of
the tables due (``sync.hub.reclaim``), which takes the reason's old copies out of the files.

Each run is recorded (``DecisionPurge``: the window, the cutoff, how many events, keys of
every kind and audit entries it deleted, how many chains it held back; the reasons it forgot
are logged and printed, not recorded), made before it deletes anything and counted up in
each batch's own transaction, so a run killed midway has recorded what it deleted (SIGTERM,
systemd's stop, closes the record as stopped: ``sync.hub.cli``), and logged; ``/metrics``
gives the totals, the last run's time and the chains it held back.
The tables' files do not shrink: the rows' space is reused by the next ones (plain VACUUM).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from sync.hub.apply.changes import lock_sites
from sync.hub.apply.people import erase
from sync.hub.clock_check import ClockVerdict, check_clock, record_refusal
from sync.hub.models import (
    AccessEvent,
    AnchoredAuditEntry,
    AnchoredCheckpoint,
    AppliedEntry,
    AuditBreak,
    AuditChainState,
    DecisionPurge,
    Device,
    Person,
    Site,
)
from sync.hub.models.audit import open_records_holding
from sync.hub.models.events import KEYS_AGED_OUT, decisions_kept_since
from sync.hub.models.people import past_retention
from sync.protocol import RETENTION_REASON

_log = logging.getLogger(__name__)
# What an erasure gives for the reason typed once it is a window old (``_forget_reasons``).
REASON_NOT_KEPT = "erased more than the decision window ago; the reason given is no longer kept"
_FORGET_TOMBSTONE_REASONS = (
    "UPDATE hub_change SET payload = jsonb_set(payload, '{reason}', to_jsonb(%s::text))"
    " WHERE entity = 'person' AND operation = 'tombstone' AND entity_uid = ANY(%s)"
)
BATCH = 1000  # access events of one site per transaction: a push of the site waits at most one
# An audit entry dated further past its receipt is judged by its receipt (``_entry_time``).
AHEAD_TOLERATED = timedelta(days=1)
# The idempotency keys retention deletes, by entity: those whose replay without them is
# answered the same and changes nothing, on the conditions ``_due_keys`` adds (see the module).
KEYS_PURGED = ("access_event", *KEYS_AGED_OUT)


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
        erase(person, erased_at=now, reason=RETENTION_REASON, origin=None)
    return True


@dataclass(frozen=True)
class HeldChain:
    """A device's anchored chain that retention leaves whole, older than its window, while
    a record of it is open (``kind``: its oldest open record's, ``since``: when the hub
    found that)."""

    device_uid: UUID
    device_name: str
    site: str
    kind: str
    since: datetime


def held_chains(cutoff: datetime) -> list[HeldChain]:
    """The devices whose chain holds entries the hub took before ``cutoff`` that retention
    leaves whole while a break or pruned record of it is open, each with its oldest open
    record; by site, then device."""
    rows = (
        open_records_holding(cutoff)
        .order_by("device__site__slug", "device__name", "device_id", "detected_at")
        .values_list("device_id", "device__uid", "device__name", "device__site__slug", "kind",
                     "detected_at")
    )  # fmt: skip
    held: dict[int, HeldChain] = {}
    for device_id, uid, name, site, kind, since in rows:
        held.setdefault(device_id, HeldChain(uid, name, site, kind, since))
    return list(held.values())


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
        return report
    sites = dict(Site.objects.order_by("pk").values_list("pk", "slug"))
    run = None if dry_run else _begin(report, cutoff, started)
    try:
        _purge_events(report, sites, cutoff, run)
        keys_cutoff = decisions_kept_since(now, 2 * days)  # a key outlives its event a window
        if keys_cutoff is not None:
            for entity in KEYS_PURGED:
                _purge_keys(report, _due_keys(entity, keys_cutoff, cutoff), run)
        report.erasure_reasons = _forget_all_reasons(cutoff, dry_run=run is None)
        report.held_chains = held_chains(cutoff)
        _log_held(report.held_chains)
        if run is not None:
            DecisionPurge.objects.filter(pk=run).update(held_chains=len(report.held_chains))
        for device_id, slug in _chains():
            for segment in _segments(device_id):
                while deleted := _prune_segment(device_id, segment, cutoff, run):
                    report.audit_by_site[slug] = report.audit_by_site.get(slug, 0) + deleted
                    if run is None:
                        break
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
            _count(run, access_events=len(uids))
    return len(uids)


def _due_keys(entity: str, keys_cutoff: datetime, cutoff: datetime) -> QuerySet[AppliedEntry]:
    """The keys of ``entity`` the hub took before ``keys_cutoff`` that may go (see the
    module): an access event's once its event is gone or due (before ``cutoff``), a person's
    once they are erased, a template's or a photo's as they are."""
    keys = AppliedEntry.objects.filter(entity=entity, received_at__lt=keys_cutoff)
    if entity == "access_event":
        held = AccessEvent.objects.filter(uid=OuterRef("entity_uid")).exclude(
            occurred_at__lt=cutoff, received_at__lt=cutoff
        )
        return keys.exclude(Exists(held))
    if entity == "person":
        erased = Person.objects.filter(uid=OuterRef("entity_uid"), erased_at__isnull=False)
        return keys.filter(Exists(erased))
    return keys


def _purge_keys(report: DecisionReport, due: QuerySet[AppliedEntry], run: int | None) -> None:
    """Delete the ``due`` keys batch by batch, counted into ``run`` (None: counted only) and
    into ``report``."""
    if run is None:
        report.applied_entries += due.count()
        return
    after: tuple[datetime, int] | None = None
    while batch := _delete_keys(due, after, run):
        report.applied_entries += len(batch)
        after = batch[-1]


def _delete_keys(
    due: QuerySet[AppliedEntry], after: tuple[datetime, int] | None, run: int
) -> list[tuple[datetime, int]]:
    """Delete up to ``BATCH`` of the ``due`` keys, oldest first from ``after`` on (the keys
    the batch before passed over, not yet due, are not read again), in one transaction,
    counted into ``run`` in it; the (received_at, pk) of those it deleted."""
    if after is not None:
        at, pk = after
        due = due.filter(received_at__gte=at).filter(Q(received_at__gt=at) | Q(pk__gt=pk))
    with transaction.atomic():
        batch = list(due.order_by("received_at", "pk").values_list("received_at", "pk")[:BATCH])
        if batch:
            AppliedEntry.objects.filter(pk__in=[pk for _, pk in batch]).delete()
            _count(run, applied_entries=len(batch))
    return batch


def _reasons_due(cutoff: datetime) -> QuerySet[Person]:
    """The people erased, and whose erasure the hub took (``updated_at``: nothing saves an
    erased person again), before ``cutoff``, who still have the reason typed."""
    return Person.objects.filter(erased_at__lt=cutoff, updated_at__lt=cutoff).exclude(
        erasure_reason__in=("", REASON_NOT_KEPT, RETENTION_REASON)
    )


def _forget_all_reasons(cutoff: datetime, *, dry_run: bool) -> int:
    """How many people due (``_reasons_due``) had their reasons forgotten (dry: would)."""
    if dry_run:
        return int(_reasons_due(cutoff).count())
    total = 0
    while forgotten := _forget_reasons(cutoff):
        total += forgotten
    return total


def _forget_reasons(cutoff: datetime) -> int:
    """Give up to ``BATCH`` people due (``_reasons_due``), and their tombstones in the change
    log, ``REASON_NOT_KEPT`` for the reason typed, in one transaction; how many. Saved now,
    they make the next rewrite of the tables due (``sync.hub.reclaim``), which takes the old
    rows out of the files."""
    with transaction.atomic():
        due = _reasons_due(cutoff).select_for_update().order_by("pk")
        rows: list[tuple[int, UUID]] = list(due.values_list("pk", "uid")[:BATCH])
        if rows:
            Person.objects.filter(pk__in=[pk for pk, _ in rows]).update(
                erasure_reason=REASON_NOT_KEPT, updated_at=timezone.now()
            )
            with connection.cursor() as cursor:
                cursor.execute(_FORGET_TOMBSTONE_REASONS, [REASON_NOT_KEPT, [u for _, u in rows]])
    return len(rows)


def _begin(report: DecisionReport, cutoff: datetime, started: datetime) -> int:
    """The run's record, made before it deletes anything and counted up in each batch's
    transaction: a run killed midway (SIGKILL, a power cut) has recorded what it deleted,
    left without ``finished_at``."""
    run = DecisionPurge.objects.create(
        started_at=started, finished_at=None, keep_days=report.keep_days, cutoff=cutoff,
        access_events=0, applied_entries=0, audit_entries=0, complete=False,
    )  # fmt: skip
    return int(run.pk)


def _count(run: int, **deleted: int) -> None:
    DecisionPurge.objects.filter(pk=run).update(
        **{kind: F(kind) + count for kind, count in deleted.items()}
    )


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


def _log_held(held: list[HeldChain]) -> None:
    if held:
        _log.warning(
            "decision retention: kept whole, past the window, the anchored audit chains of %d"
            " devices while a record of each is open (look into it, then acknowledge it in"
            " the admin's Audit breaks): %s",
            len(held),
            "; ".join(
                f"device {chain.device_name} ({chain.device_uid}, site {chain.site}):"
                f" {chain.kind} since {chain.since.isoformat()}"
                for chain in held
            ),
        )


def _chains() -> list[tuple[int, str]]:
    """The devices the hub holds audit entries of, with their sites' slugs."""
    states = AuditChainState.objects.filter(entries__gt=0).order_by("device_id")
    return list(states.values_list("device_id", "device__site__slug"))


def _segments(device_id: int) -> list[int]:
    held = AnchoredAuditEntry.objects.filter(device_id=device_id).order_by("segment")
    return list(held.values_list("segment", flat=True).distinct())


def _prune_segment(device_id: int, segment: int, cutoff: datetime, run: int | None) -> int:
    """Delete up to ``BATCH`` of the oldest entries of a device's segment that happened (the
    device's clock, ``at``, unless ``_entry_time`` sets it aside) and reached the hub before
    ``cutoff``, never its newest, moving the segment's checkpoint to the last one, in one
    transaction under the device's lock (the anchor's, ``sync.hub.audit``), counted into
    ``run`` in it; how many it deleted (``run`` None, a dry run: how many the whole segment
    would lose, deleting none). Nothing while any record of the device's chain is open
    (a break, a pruned start or gap): an operator may need the entries to look into it."""
    with transaction.atomic():
        Device.objects.select_for_update().filter(pk=device_id).first()
        if AuditBreak.objects.filter(device_id=device_id, acknowledged_at__isnull=True).exists():
            return 0
        held = AnchoredAuditEntry.objects.filter(device_id=device_id, segment=segment)
        newest = held.order_by("-sequence").values_list("sequence", flat=True).first()
        if newest is None:
            return 0
        rows = held.filter(sequence__lt=newest).order_by("sequence")
        if run is not None:
            rows = rows[:BATCH]
        prefix: list[tuple[int, str]] = []
        by_receipt = 0
        for sequence, entry_hash, at, received_at in rows.values_list(
            "sequence", "entry_hash", "at", "received_at"
        ).iterator():
            moment = _entry_time(at, received_at)
            if received_at >= cutoff or (moment or received_at) >= cutoff:
                break
            prefix.append((sequence, entry_hash))
            by_receipt += moment is None
        if by_receipt:
            _log.warning(
                "decision retention: %s %d anchored audit entries of device %d, segment %d,"
                " by when the hub took them: their time is unreadable or more than %g hours"
                " past it",
                "would judge" if run is None else "judged", by_receipt, device_id, segment,
                AHEAD_TOLERATED / timedelta(hours=1),
            )  # fmt: skip
        if not prefix or run is None:
            return len(prefix)
        last_sequence, last_hash = prefix[-1]
        moved = AnchoredCheckpoint.objects.filter(device_id=device_id, segment=segment).update(
            sequence=last_sequence, entry_hash=last_hash, moved_at=timezone.now()
        )
        if not moved:
            first_sequence, first_hash = prefix[0]
            AnchoredCheckpoint.objects.create(
                device_id=device_id, segment=segment, sequence=last_sequence,
                entry_hash=last_hash, first_sequence=first_sequence, first_hash=first_hash,
                moved_at=timezone.now(),
            )  # fmt: skip
        deleted, _ = held.filter(sequence__lte=last_sequence).delete()
        # Counted here, under the lock, as the anchor counts what it stores: /metrics reads it.
        AuditChainState.objects.filter(device_id=device_id).update(entries=F("entries") - deleted)
        _count(run, audit_entries=deleted)
    return int(deleted)


def _entry_time(at: str, received_at: datetime) -> datetime | None:
    """An entry's time (the device's ISO 8601 text) to judge its age by; None where it is
    to be judged by when the hub took it instead: a time the hub cannot read (or without
    its offset), or one more than ``AHEAD_TOLERATED`` past its receipt (the device's clock
    was ahead: nothing is sent before it happened)."""
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    if moment.tzinfo is None or moment > received_at + AHEAD_TOLERATED:
        return None
    return moment
