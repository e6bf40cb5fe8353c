"""The species packs this device replaced, which it never goes back to.

A hub restored from a backup taken before its newest pack names the pack before it, and
would take every device back to it. The rule needs nothing from the hub: a device never
installs again a pack it installed and then replaced by another install. It keeps the last
``KEEP_REPLACED`` of them (``species_pack.replaced``: version and sha256, oldest first),
and refuses a pack the hub names that is one of them: not downloaded, the packs it has
stay, and ``jaga sync status`` says why on its ``pack error`` line. A pack it has never
installed installs as before, whatever the hub, the site or the publication order: after a
restore, a pack published since is new, so it installs. To go back on purpose, an
operator publishes that pack's folder again under a new version. What the rule cannot see:
a device that never installed the older pack (its first pack was the newest) has nothing
to tell it is older, and installs it, as every device did before the rule.

The list is the device's own, kept whatever it is registered with since: moved to another
site, re-registered with the hub under another address, or with another hub (a pack it
replaced is still one it replaced; another hub's packs under their own versions install).
A pack repaired on disk (the same pack downloaded again) replaces nothing, and the pack
kept beside the newest to fall back on (``sync.client.kept_pack``) is on the list once
replaced: still kept and repaired, never installed again as the newest. A device upgraded
from a release before the list starts from the pack its installed record kept to fall back
on (``previous``), which it installed before the newest: such a device is guarded one
pack back only, until it replaces more (the packs it replaced before that were never
noted); such a record written before the kept pack's sha256 was noted gives the version
alone, which then refuses that version whatever its sha256 (a hub holds one pack per
version). The versions on its observations are not used to seed the list: a device edits
the observations it pulled from others too, so they may name packs newer than its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

REPLACED_NAME = "species_pack.replaced"
# Twenty replacements back is further than any backup a hub is restored from; the list
# stays a few kilobytes in the store, read at each sync.
KEEP_REPLACED = 20


@dataclass(frozen=True)
class ReplacedPack:
    """A pack installed then replaced; ``sha256`` None: one known by its version alone."""

    version: str
    sha256: str | None

    def matches(self, version: str, sha256: str) -> bool:
        return self.version == version and self.sha256 in (None, sha256)


@dataclass(frozen=True)
class ReplacedPacks:
    """The packs this device replaced, oldest first, at most ``KEEP_REPLACED``."""

    packs: tuple[ReplacedPack, ...] = ()

    def holds(self, version: str, sha256: str) -> bool:
        return any(pack.matches(version, sha256) for pack in self.packs)

    def adding(self, version: str, sha256: str) -> ReplacedPacks:
        """The list with this pack replaced last (once), the oldest dropped past the limit."""
        others = tuple(p for p in self.packs if (p.version, p.sha256) != (version, sha256))
        return ReplacedPacks((*others, ReplacedPack(version, sha256))[-KEEP_REPLACED:])

    def to_json(self) -> str:
        return json.dumps([{"version": p.version, "sha256": p.sha256} for p in self.packs])


def replaced_record(text: str | None, kept: ReplacedPack | None) -> ReplacedPacks:
    """The list stored as ``text``; none stored (a release before it), the pack ``kept``
    beside the installed one, which it installed before it."""
    if not text:
        return ReplacedPacks(() if kept is None else (kept,))
    try:
        body = json.loads(text)
        packs = tuple(_replaced_pack(item) for item in body)
    except (KeyError, TypeError, ValueError):
        # Unreadable (a store edited by hand): start again from what the record kept.
        return ReplacedPacks(() if kept is None else (kept,))
    return ReplacedPacks(packs[-KEEP_REPLACED:])


def _replaced_pack(item: dict[str, object]) -> ReplacedPack:
    sha256 = item["sha256"]
    return ReplacedPack(str(item["version"]), None if sha256 is None else str(sha256))


def refusal(version: str, installed: str | None) -> str:
    """What ``jaga sync status`` says of a pack the hub names that this device replaced."""
    newer = f" ({installed})" if installed else ""
    return (
        f"the hub names species pack {version}, which this device already replaced with a"
        f" newer one{newer}: not installed, the device keeps its packs (was the hub restored"
        f" from a backup?); to go back to {version} on purpose, publish it again on the hub"
        " under a new version"
    )
