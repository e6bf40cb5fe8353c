"""What an entity handler gets: the pushing device, its site, the entry and its LWW stamp."""

from __future__ import annotations

from dataclasses import dataclass

from sync.hub.apply.lww import Stamp
from sync.hub.models import Device, Site
from sync.protocol import OutboxEntry


class EntryRejectedError(Exception):
    """The entry cannot be applied; the message is the reason the device quarantines it with.

    Raised inside the entry's savepoint, so whatever the handler wrote is rolled back.
    """

    retryable = False


class EntryNotYetError(EntryRejectedError):
    """The entry cannot be applied *yet* (a record it depends on has not arrived): the
    device keeps it queued and sends it again later (``Rejection.retryable``)."""

    retryable = True


@dataclass(frozen=True)
class EntryContext:
    device: Device
    entry: OutboxEntry
    stamp: Stamp

    @property
    def site(self) -> Site:
        site: Site = self.device.site
        return site

    def require_own_site(self, what: str, site_id: int) -> None:
        """A device writes only its own site's records."""
        if site_id != self.site.pk:
            raise EntryRejectedError(f"forbidden: {what} belongs to another site")


class Outcome:
    """How an accepted entry ended, kept in the idempotency ledger for operators."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"
    SUPERSEDED = "superseded"  # an erasure tombstone won over this edit
    # A catch its device pushed again under a new uid: the one held (``same_catch``).
    SAME_CATCH = "same_catch"
    # A retention erasure from a device whose clock is ahead, or while the hub's clock is not
    # trusted: kept until the hub's purge.
    EARLY_RETENTION = "early_retention"
