"""A restore over a registered store brings no other site's records onto the device.

A device pulls only its own site's changes from the hub, and pushes only its own site's
records (the hub refuses another's). A person of another site restored onto it would stay
there for good: their site's erasures never reach this device, and no sync sends them
anywhere. So a restore over a store registered to a site (``sync.store.registration``) is
refused, before the store is replaced, when the backup was registered to another site or
with another hub (told apart by the hubs' ids, or by address when either is unknown:
``sync.store.hub_keys.same_hub``), or holds people, access events or pulled changes set aside
(``deferred_changes``) that name a site other than the registered one, unless the replaced
store holds those very rows too, by uid (people enrolled with ``--site`` before registering,
left unsent with ``--strand-records``, are in the device's own backups: restoring one brings
nothing new). The exemption is by row, not by site: one stranded person of a site must not
let in a backup of that site's other people, who would stay here for good. An access event
the hub acknowledged and holds (``held_since``) names no site either way: a device registered
to another site keeps the old site's until decision retention deletes them
(``sync.client.moved_site``), and they must not let a backup of that site in; its own backups
hold the same ones. One still to push (or to push again to a restored hub,
``sync.store.resend``) exists only on the device, and counts.
There is no override: the ways on are to restore the backup on a device of that site,
or to register this device to that site first (``jaga sync register`` with a code of it),
after which this device pulls that site's changes, its erasures included.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sync import plural
from sync.errors import RestoreOtherSiteError
from sync.hub_url import kept_hub_url
from sync.store.database import Database
from sync.store.hub_keys import same_hub
from sync.store.registration import Rows, registration_rows
from sync.store.state_rows import HUB_ID_NAME
from sync.store.store import Store

# The tables whose rows name a site, how to count them in a refusal, and their uid column.
_SITE_TABLES = {
    "people": ("person", "people"),
    "access_events": ("access event", "access events"),
    "deferred_changes": ("pulled change set aside", "pulled changes set aside"),
}
_UID_COLUMNS = {
    "people": "person_uid",
    "access_events": "event_uid",
    "deferred_changes": "entity_uid",
}

# The rows of a table that tie the store to their site (see the module): the hub holds the rest.
_SITE_ROWS = {"access_events": "AND held_since IS NULL"}

Held = frozenset[tuple[str, str]]  # (table, uid) of rows of another site than the registered one


@dataclass(frozen=True)
class SiteRow:
    """One row naming a site (of access events, one the hub does not hold: see the module)."""

    table: str
    site: str
    uid: str


def rows_of_other_sites(database: Database, site: str) -> list[SiteRow]:
    """The rows of the store naming another site than ``site``, in site order by table."""
    found: list[SiteRow] = []
    for table, uid in _UID_COLUMNS.items():
        where = _SITE_ROWS.get(table, "")
        rows = database.query(
            f"SELECT site, {uid} FROM {table} WHERE site != ? {where} ORDER BY site", (site,)
        )
        found.extend(SiteRow(table, str(there), str(key)) for there, key in rows)
    return found


def held_of_other_sites(database: Database, site: str) -> Held:
    """What the store holds of other sites than ``site``, its registered one: its stranded
    records, which its own backups hold too."""
    return frozenset((row.table, row.uid) for row in rows_of_other_sites(database, site))


def refuse_other_site(
    backup_path: Path, restored: Store, target: Path, *, here: Rows, here_held: Held
) -> None:
    """Raise ``RestoreOtherSiteError`` when ``restored`` (the backup's copy, its registration
    not yet replaced) is another site's or hub's, for the store at ``target`` registered as
    ``here`` (its rows; empty: not registered, nothing to refuse) which holds ``here_held``
    of other sites (``held_of_other_sites``)."""
    if not here:
        return
    site, hub = _value(here, "site"), _hub(here)
    problem = _other_registration(registration_rows(restored), here) or _other_records(
        rows_of_other_sites(restored.database, site), here_held
    )
    if problem is None:
        return
    other, what = problem
    raise RestoreOtherSiteError(
        f"{backup_path} {what}, and {target} is registered to site {site} at {hub}: restored"
        f" here, its people and records would stay on this device for good (it pulls only"
        f" site {site}'s changes: {other}'s erasures would never reach them). Restore it on"
        f" a device of {other}, or register this device to {other} first (`jaga sync"
        " register` with a code of that site) and restore again. Nothing was changed."
    )


def _other_registration(backup: Rows, here: Rows) -> tuple[str, str] | None:
    if not backup:
        return None  # made before registering: its records say whose it is
    there, there_hub, site = _value(backup, "site"), _hub(backup), _value(here, "site")
    # By the hubs' ids when both are known: the backup of this hub made before it moved
    # address is this hub's (``same_hub``).
    hub_kept = same_hub(there_hub, _hub_id(backup), _hub(here), _hub_id(here))
    if there == site and hub_kept:
        return None  # another device of this site, perhaps: kept as this device
    where = f"site {there}" if hub_kept else f"site {there} of the hub at {there_hub}"
    return where, f"was registered to site {there} at {there_hub}"


def _other_records(rows: list[SiteRow], here_held: Held) -> tuple[str, str] | None:
    counts = Counter((row.site, row.table) for row in rows if (row.table, row.uid) not in here_held)
    if not counts:
        return None
    sites = sorted({site for site, _ in counts})
    said = ", ".join(
        f"{plural.counted(count, *_SITE_TABLES[table])} of site {site}"
        for (site, table), count in counts.items()
    )
    return f"site {' or '.join(sites)}", f"holds records of another site ({said})"


def _value(rows: Rows, name: str) -> str:
    return rows.get(name, ("", ""))[0]


def _hub_id(rows: Rows) -> str | None:
    return _value(rows, HUB_ID_NAME) or None


def _hub(rows: Rows) -> str:
    return kept_hub_url(_value(rows, "hub_url"))
