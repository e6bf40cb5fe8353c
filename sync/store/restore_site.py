"""A restore over a registered store brings no other site's records onto the device.

A device pulls only its own site's changes from the hub, and pushes only its own site's
records (the hub refuses another's). A person of another site restored onto it would stay
there for good: their site's erasures never reach this device, and no sync sends them
anywhere. So a restore over a store registered to a site (``sync.store.registration``) is
refused, before the store is replaced, when the backup was registered to another site or
with another hub, or holds people, access events or pulled changes set aside
(``deferred_changes``) that name a site other than the registered one, unless the replaced
store names that site too (people enrolled with ``--site`` before registering, left unsent
with ``--strand-records``, are in the device's own backups: restoring one brings nothing
new). An access event the hub acknowledged and holds (``held_since``) names no site either
way: a device registered to another site keeps the old site's until decision retention
deletes them (``sync.client.moved_site``), and they must not make that site its own, which
would let a backup of it in; its own backups hold the same ones. One still to push (or to
push again to a restored hub, ``sync.store.resend``) exists only on the device, and counts.
There is no override: the ways on are to restore the backup on a device of that site,
or to register this device to that site first (``jaga sync register`` with a code of it),
after which this device pulls that site's changes, its erasures included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sync import plural
from sync.errors import RestoreOtherSiteError
from sync.hub_url import kept_hub_url
from sync.store.database import Database
from sync.store.registration import Rows, hub_key, registration_rows
from sync.store.store import Store

# The tables whose rows name a site, and how to count them in a refusal.
_SITE_TABLES = {
    "people": ("person", "people"),
    "access_events": ("access event", "access events"),
    "deferred_changes": ("pulled change set aside", "pulled changes set aside"),
}

# The rows of a table that tie the store to their site (see the module): the hub holds the rest.
_SITE_ROWS = {"access_events": "WHERE held_since IS NULL"}


@dataclass(frozen=True)
class SiteCount:
    """How many rows of one table name one site."""

    site: str
    table: str
    count: int


def records_by_site(database: Database) -> list[SiteCount]:
    """Every site the store's records name, with how many rows of each table name it (of
    access events, those the hub does not hold: see the module)."""
    found: list[SiteCount] = []
    for table in _SITE_TABLES:
        where = _SITE_ROWS.get(table, "")
        rows = database.query(
            f"SELECT site, count(*) FROM {table} {where} GROUP BY site ORDER BY site"
        )
        found.extend(SiteCount(str(site), table, int(count)) for site, count in rows)
    return found


def refuse_other_site(
    backup_path: Path, restored: Store, target: Path, *, here: Rows, here_sites: frozenset[str]
) -> None:
    """Raise ``RestoreOtherSiteError`` when ``restored`` (the backup's copy, its registration
    not yet replaced) is another site's or hub's, for the store at ``target`` registered as
    ``here`` (its rows; empty: not registered, nothing to refuse) whose records name
    ``here_sites``."""
    if not here:
        return
    site, hub = _value(here, "site"), _hub(here)
    problem = _other_registration(registration_rows(restored), site, hub) or _other_records(
        records_by_site(restored.database), site, here_sites
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


def _other_registration(backup: Rows, site: str, hub: str) -> tuple[str, str] | None:
    if not backup:
        return None  # made before registering: its records say whose it is
    there, there_hub = _value(backup, "site"), _hub(backup)
    if there == site and hub_key(there_hub) == hub_key(hub):
        return None  # another device of this site, perhaps: kept as this device
    same_hub = hub_key(there_hub) == hub_key(hub)
    where = f"site {there}" if same_hub else f"site {there} of the hub at {there_hub}"
    return where, f"was registered to site {there} at {there_hub}"


def _other_records(
    records: list[SiteCount], site: str, here_sites: frozenset[str]
) -> tuple[str, str] | None:
    foreign = [r for r in records if r.site != site and r.site not in here_sites]
    if not foreign:
        return None
    sites = sorted({r.site for r in foreign})
    counts = ", ".join(
        f"{plural.counted(r.count, *_SITE_TABLES[r.table])} of site {r.site}" for r in foreign
    )
    return f"site {' or '.join(sites)}", f"holds records of another site ({counts})"


def _value(rows: Rows, name: str) -> str:
    return rows.get(name, ("", ""))[0]


def _hub(rows: Rows) -> str:
    return kept_hub_url(_value(rows, "hub_url"))
