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
