"""The epoch of each site's change log, renewed when the log was rewound.

A restore of the hub's database from a backup (``pg_restore``) rewinds each site's change
log (``Site.last_cursor``) while devices keep the cursor they pulled to: changes written
after the restore get cursors a device already passed, and what devices pushed after the
backup was taken is gone from the hub though acknowledged on them. Every pull answer
therefore names the site's epoch (``PullResult.log_epoch``, to a device that sends
``LOG_EPOCH_HEADER``); a device that sees another one than it kept pushes again what it
authored and pulls its site again from the start (``sync.client.log_epoch``).

Two things renew it:

- ``jaga hub renew-log-epoch``, which an admin runs after any restore (README): every
  site's, since a restore rewinds them all, and a device that pushed after the backup but
  has not pulled since is not ahead of its log; told when the restore was
  (``--restored-at``, a time with its offset from UTC, not in the future), all but those
  the hub itself renewed since (it served before the command), whose devices already start
  again: a second renewal would have them push all they hold and pull from 0 once more.
  Only the hub's own renewal is kept: it needs a sealed tip past the log, evidence of a
  rewind; the command's is none (one the backup held, kept on a time given too early, had
  the devices never send again what the restore lost: their access decisions, in no change
  log, for good). The rows cannot tell a renewal made since the restore from one the
  backup held (both are a time and an epoch; any row written after the renewal may be one
  written after the restore too), so without the time it renews them all;
- the hub itself, as a safety net, when a pull shows the log was rewound, on evidence the
  hub sealed itself: every pull answer that names the epoch and brings changes carries the
  hub's seal of its last change (``LOG_SEAL_HEADER``, ``seal_tip``: an HMAC over the site,
  the epoch, and that change's cursor and fingerprint, keyed by the hub's secret key, which
  `jaga hub run` keeps in its data folder, outside the database, so a restore does not
  rewind it). The device keeps it with its tip and sends both back from that cursor
  (``LOG_TIP_HEADER``, a fingerprint of the change's record, operation and time). An answer
  that brings no change (a quiet site) seals the tip the device sent when the hub holds that
  change at its cursor (or erased it there, by the fingerprint it kept: ``answer_seal``), so
  a device re-learns a seal on any pull: one that kept none (it pulled its tip from this hub
  before it gave seals) or one the hub no longer takes (its key changed). A valid
  seal of the current epoch shows the hub once handed out that change at that cursor: when
  the cursor is past the site's ``last_cursor``, or the change the hub holds there is
  another one, the log was rewound. The second is what catches a log that grew back: every
  sync pushes before it pulls, and each push, hub review or enrolment since the restore
  takes the next cursor, so a device's cursor is soon below the log's end again. A hub
  erasure deletes the person's earlier changes, keeping their fingerprints
  (``ErasedChange``): the one erased at that cursor is compared as the change there would
  be (one erased by a release that kept none is no evidence; cursors are handed out twice
  only after a restore). Either way it renews that site's epoch once, in one transaction
  under the site's change-log lock, and only for a device that knows the current epoch: one
  that knows an older epoch is answered the current one and starts again all the same, so
  the devices of a rewound site that pull at once renew it once.

A device's word alone is no evidence: a cursor or tip with no seal (a device of an earlier
release, or one whose tip is older than the seals), or with a seal the hub did not make for
this site, epoch, cursor and fingerprint (another site's, an older epoch's, a made-up one),
is answered as any pull, never a renewal; a bad seal is logged (once per device in
``BAD_SEAL_LOG_INTERVAL``: any device token could otherwise write a warning per request;
noted in the hub's cache, shared by every worker with ``REDIS_URL``, else once in each
worker process), not refused, so a device whose hub's key changed is not locked out
(the same answer brings it a new seal). Without that, any device token could have its whole
site push again all it holds, at will. Devices of releases that send no seal rely on the
admin's command. Each renewal still makes every device of the site push again all it
authored, so the hub renews a site by itself at most once in ``SAFETY_NET_INTERVAL`` all
the same. It never moves ``last_cursor``.

The safety net does not hold pushes back until it renews: a push applied before (every sync
pushes first) is a new version, settled by last-writer-wins as any is, and what the device
queues again once it sees the new epoch comes after it. It cannot see a rewind no device
pulled past: a device that pushed after the backup but did not pull since holds a change
the backup still has at its cursor; another device of its site that pulled further renews
the site for it, and the command covers the rest.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from sync.hub.apply.changes import lock_sites
from sync.hub.log_epoch_once import record_renewal, renewed_for_this_restore
from sync.hub.models import Change, ErasedChange, Site
from sync.protocol import change_fingerprint

_log = logging.getLogger(__name__)
SAFETY_NET_INTERVAL = timedelta(hours=1)
BAD_SEAL_LOG_INTERVAL = timedelta(hours=1)
# When each device's bad seal was last logged (time.monotonic()), in this process: memory,
# not a database write per request; as many entries as devices that sent one.
_bad_seal_logged: dict[UUID, float] = {}
_bad_seal_lock = threading.Lock()  # a worker answers on several threads
_BAD_SEAL_CACHE_KEY = "jaga.hub.log_epoch.bad_seal"
_SEAL_SALT = "jaga.hub.log_epoch.seal"  # no other HMAC of the key's can pass for a seal


@dataclass(frozen=True)
class Renewals:
    """What ``renew_log_epochs`` did, by site slug: the new epoch of each site it renewed;
    when the hub itself renewed each site it kept (not before the time given); when the hub
    itself renewed each site it had renewed last (since the command last did), kept or
    renewed again; when the command had renewed every site already, with no restore since
    (``sync.hub.log_epoch_once``: then it renewed none), else None."""

    renewed: dict[str, UUID]
    kept: dict[str, datetime]
    by_hub: dict[str, datetime]
    already: datetime | None = None


def renew_log_epochs(restored_at: datetime | None = None, *, again: bool = False) -> Renewals:
    """Give every site's change log a new epoch, in one transaction, but for a site the hub
    itself renewed since ``restored_at`` (when the database was restored; None: not said):
    its devices already start again, and a second renewal would have them push all they
    hold and pull from 0 once more. A renewal by this command is never kept: it is no
    evidence of a rewind, and one the backup held, kept on a time too early, would lose
    for good what devices pushed after the backup. The rows cannot tell the renewals made
    since the restore from those the backup held (both are a time and an epoch), so the
    admin says when the restore was. Each site, kept or not, is marked as restored by the
    admin (``Site.log_epoch_restored_at``, which the audit's pruned gaps rely on). Renews
    nothing when the command renewed them already and the database was not restored since
    (``sync.hub.log_epoch_once``), unless ``again``."""
    renewed: dict[str, UUID] = {}
    kept: dict[str, datetime] = {}
    with transaction.atomic():
        lock_sites(*Site.objects.values_list("pk", flat=True))
        sites = list(Site.objects.order_by("pk"))  # as renewed by the time the locks held
        by_hub = {site.slug: at for site in sites if (at := _renewed_by_hub(site)) is not None}
        if not again and (done := renewed_for_this_restore(by_hub, restored_at)) is not None:
            return Renewals(renewed, kept, by_hub, already=done)
        for site in sites:
            at = by_hub.get(site.slug)
            if restored_at is not None and at is not None and at >= restored_at:
                kept[site.slug] = at
                site.log_epoch_restored_at = timezone.now()
                site.save(update_fields=["log_epoch_restored_at"])
            else:
                renewed[site.slug] = _renew(site, restored=True)
        record_renewal(timezone.now())
    return Renewals(renewed, kept, by_hub)


def _renewed_by_hub(site: Site) -> datetime | None:
    """When the hub itself renewed the site's epoch, if it did since the command last did."""
    at, restored = site.log_epoch_renewed_at, site.log_epoch_restored_at
    return at if at is not None and (restored is None or at > restored) else None


def seal_tip(site: Site, epoch: UUID, cursor: int, fingerprint: str) -> str:
    """The hub's seal (``LOG_SEAL_HEADER``) of the change ``fingerprint`` at ``cursor`` of
    ``site``'s log in ``epoch``: an HMAC keyed by the hub's secret key."""
    value = "\n".join((str(site.pk), str(epoch), str(cursor), fingerprint))
    return str(salted_hmac(_SEAL_SALT, value, algorithm="sha256").hexdigest())


def answer_seal(
    site: Site, epoch: UUID, cursor: int, tip: str | None, last: Change | None
) -> str | None:
    """The seal (``LOG_SEAL_HEADER``) of a pull answer from ``cursor`` that names ``epoch``:
    of ``last``, its last change; in an answer that brings none, of the tip the device sent
    (``tip``, None: not said) when the hub holds that change at ``cursor`` (erased there: by
    the fingerprint it kept), else none. It seals only what it would in a page ending there:
    a tip it does not hold is no more sealed than it is evidence."""
    if last is not None:
        return seal_tip(site, epoch, last.cursor, _fingerprint(last))
    if tip is None or cursor <= 0 or not _holds(site, cursor, tip):
        return None
    return seal_tip(site, epoch, cursor, tip)


def pull_epoch(
    site: Site,
    cursor: int,
    known: str,
    tip: str | None = None,
    seal: str | None = None,
    *,
    device: UUID | None = None,
) -> UUID:
    """The site's epoch to answer a pull from ``cursor`` by a device (``device``, which a bad
    seal is logged for) that knows ``known`` (an epoch, or ``NO_LOG_EPOCH``) and applied
    the change ``tip`` there (its fingerprint, None: not said), which the hub sealed
    ``seal`` (None: not said): renewed first when the sealed tip shows a rewound log."""
    if tip is None or not _sealed(site, cursor, known, tip, seal, device=device):
        return UUID(str(site.log_epoch))
    if cursor <= site.last_cursor and not _other_change(site, cursor, tip):
        return UUID(str(site.log_epoch))
    with transaction.atomic():
        lock_sites(site.pk)
        current = Site.objects.get(pk=site.pk)
        if known != str(current.log_epoch):
            return UUID(str(current.log_epoch))  # renewed meanwhile: it starts again anyway
        past = cursor > current.last_cursor
        if not past and not _other_change(current, cursor, tip):
            return UUID(str(current.log_epoch))
        renewed_at = current.log_epoch_renewed_at
        if renewed_at is not None and timezone.now() - renewed_at < SAFETY_NET_INTERVAL:
            return UUID(str(current.log_epoch))
        evidence = "past the change log's last" if past else "where it holds another change; last"
        _log.warning(
            "site %s: a device pulled from cursor %d (a change this hub sealed), %s %d: the"
            " database looks restored from a backup; renewing the site's log epoch"
            " (run `jaga hub renew-log-epoch --restored-at WHEN` after a restore: it renews"
            " every site's but those the hub itself renewed since then)",
            current.slug, cursor, evidence, current.last_cursor,
        )  # fmt: skip
        return _renew(current)


def _sealed(
    site: Site, cursor: int, known: str, tip: str, seal: str | None, *, device: UUID | None
) -> bool:
    """Whether the hub sealed ``tip`` at ``cursor`` in the site's current epoch, which the
    device says it knows: the only evidence of a rewound log. A seal that does not match is
    logged (a hub whose key changed, or a device's made-up one: once per device in
    ``BAD_SEAL_LOG_INTERVAL``), and is no evidence."""
    if seal is None or cursor <= 0 or known != str(site.log_epoch):
        return False
    if constant_time_compare(seal, seal_tip(site, site.log_epoch, cursor, tip)):
        return True
    if _first_bad_seal(device):
        _log.warning(
            "site %s: device %s pulled from cursor %d with a log seal this hub did not make"
            " for it (the hub's secret key changed, or not a seal of this site): no evidence"
            " of a restore, answered as any pull, with a seal of this hub's when it holds"
            " that change (logged once an hour per device)",
            site.slug, device, cursor,
        )  # fmt: skip
    return False


def _first_bad_seal(device: UUID | None) -> bool:
    """Whether a bad seal from ``device`` is the first in ``BAD_SEAL_LOG_INTERVAL``, noting
    it: first in this process (no cache round trip for the rest), then in the hub's cache,
    which every worker and hub shares with ``REDIS_URL``; without it, each process's own."""
    if device is None:
        return True
    now = time.monotonic()
    with _bad_seal_lock:
        last = _bad_seal_logged.get(device)
        if last is not None and now - last < BAD_SEAL_LOG_INTERVAL.total_seconds():
            return False
        _bad_seal_logged[device] = now
    return _first_in_cache(device)


def _first_in_cache(device: UUID) -> bool:
    """Whether no worker noted a bad seal from ``device`` in the cache within the interval,
    noting it (an atomic add: of workers at once, one logs). The default cache, not the
    limits': these notes must not crowd out the counts that lock sign-ins. A cache that
    does not answer (Redis down) is no reason to fail a pull: logged, as in one process."""
    key = f"{_BAD_SEAL_CACHE_KEY}:{device}"
    try:
        return bool(cache.add(key, 1, math.ceil(BAD_SEAL_LOG_INTERVAL.total_seconds())))
    except Exception:  # redis' errors, which this module does not import
        _log.warning("the hub's cache did not answer; noting a bad seal in this process only")
        return True


def _holds(site: Site, cursor: int, tip: str) -> bool:
    """Whether the site's change at ``cursor`` (or the one an erasure deleted there, by the
    fingerprint it kept) is the one whose fingerprint is ``tip``."""
    held = _held_at(site, cursor)
    return bool(held) and held == tip


def _other_change(site: Site, cursor: int, tip: str | None) -> bool:
    """Whether the site's change at ``cursor`` (or the one an erasure deleted there) is not
    the one whose fingerprint is ``tip``: False when the device did not say, or nothing names
    what was there (an erasure of a release that kept no fingerprints deleted it, whether
    before migration 0026 named the gaps or by its `jaga hub run` still serving after
    another command applied it: an upgrade is no restore). A cursor past the log is checked
    apart."""
    if tip is None or cursor <= 0:
        return False
    return _held_at(site, cursor) not in (None, "", tip)


def _held_at(site: Site, cursor: int) -> str | None:
    """The fingerprint of the site's change at ``cursor``, or of the one an erasure deleted
    there ("": by a release that kept none); None when nothing was there."""
    row = Change.objects.filter(site=site, cursor=cursor).first()
    if row is not None:
        return _fingerprint(row)
    erased = ErasedChange.objects.filter(site=site, cursor=cursor).first()
    return None if erased is None else str(erased.fingerprint)


def _fingerprint(row: Change) -> str:
    return change_fingerprint(row.cursor, row.entity, row.entity_uid, row.operation, row.changed_at)


def _renew(site: Site, *, restored: bool = False) -> UUID:
    """A new epoch; ``restored``: by the admin's command, which alone vouches for a restore
    (``Site.log_epoch_restored_at``): the safety net renews on a device's pull, whose seal
    shows only that the hub handed out that change, not why the log no longer holds it."""
    epoch = uuid.uuid4()
    site.log_epoch, site.log_epoch_renewed_at = epoch, timezone.now()
    fields = ["log_epoch", "log_epoch_renewed_at"]
    if restored:
        site.log_epoch_restored_at = site.log_epoch_renewed_at
        fields.append("log_epoch_restored_at")
    site.save(update_fields=fields)
    return epoch
