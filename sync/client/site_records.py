"""The records a store has yet to push, by the site they name, and what registering with a
code of another site would do to them.

A device pushes only its own site's records: the hub refuses a person or an access event
of another site as forbidden, and no requeue fixes that. People enrolled on a device not
registered yet (``jaga kiosk enrol --site hq``) carry the site given then, so ``jaga sync
register`` checks the code's site against them before the code is spent
(``RegisterRequest.sites``): a mistaken code stays usable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from sync import plural
from sync.client.errors import HubRefusedError, SyncConfigError
from sync.client.give_back import give_back, spent_device
from sync.client.transport import Registered, register_named
from sync.store.database import Database
from sync.store.hub_keys import same_hub
from sync.store.resend import noted_decisions, queue_decisions_again
from sync.store.state_rows import HUB_ID_NAME, get_value

if TYPE_CHECKING:
    from sync.store.store import Store

# The kind of a quarantined entry (``unsent_for_the_hub``) ends with this.
QUARANTINED = ":quarantined"
# Queued, or sent without an answer yet: both are pushed (again) by the next sync; not those
# held for another hub (``sync.store.outbox_hub``), which no sync sends.
_UNSENT_BY_SITE = """
SELECT json_extract(payload, '$.site') AS site, entity, count(*)
FROM outbox
WHERE state IN ('queued', 'sent') AND for_hub IS NULL
AND json_extract(payload, '$.site') IS NOT NULL
GROUP BY site, entity
ORDER BY site, entity != 'person', entity
"""
# Every entry still to push, of any kind: at a registration with another hub, the old hub's,
# quarantined ones too (held for it as well, ``sync.store.outbox_hub``: a requeue here would
# send them to the new hub), told apart. A face template or photo names its person, whose
# site it is.
_UNSENT_FOR_THE_HUB = f"""
SELECT coalesce(
    json_extract(payload, '$.site'),
    (SELECT site FROM people WHERE person_uid = json_extract(outbox.payload, '$.person_uid')),
    ''
),
       CASE WHEN operation = 'tombstone' THEN 'erasure' ELSE entity END
       || CASE WHEN state = 'rejected' THEN '{QUARANTINED}' ELSE '' END AS kind, count(*)
FROM outbox
WHERE state IN ('queued', 'sent', 'rejected') AND for_hub IS NULL
GROUP BY 1, kind
"""
_ENTITY_WORDS = {
    "person": ("person", "people"),
    "access_event": ("access event", "access events"),
    "face_template": ("face template", "face templates"),
    "fish_observation": ("catch", "catches"),
    "photo": ("photo", "photos"),
    "erasure": ("erasure", "erasures"),
}


@dataclass(frozen=True)
class SiteRecords:
    """How many records of one site wait to be pushed, by kind (outbox entity)."""

    site: str
    counts: tuple[tuple[str, int], ...]

    def words(self) -> str:
        """``hq (5 people, 2 access events)``; ``(3 catches)`` for records of no site."""
        counted = f"({', '.join(_counted(entity, n) for entity, n in self.counts)})"
        return f"{self.site} {counted}" if self.site else counted


def unsent_by_site(database: Database, *, noted: bool = True) -> list[SiteRecords]:
    """The sites named by records still to push, in slug order, with their counts: the
    outbox's, and (``noted``) the access decisions noted to send again to a restored hub
    (``sync.store.resend``) not queued yet."""
    counts: dict[str, dict[str, int]] = {}
    with database.read() as connection:
        for site, entity, count in connection.execute(_UNSENT_BY_SITE).fetchall():
            counts.setdefault(str(site), {})[str(entity)] = int(count)
        for site, count in (noted_decisions(connection) if noted else {}).items():
            kinds = counts.setdefault(site, {})
            kinds["access_event"] = kinds.get("access_event", 0) + count
    return [
        SiteRecords(site, tuple(sorted(kinds.items(), key=_person_first)))
        for site, kinds in sorted(counts.items())
    ]


def hub_left(database: Database, hub_url: str, hub_id: str | None) -> str | None:
    """The hub this store was registered with, when ``hub_url`` (whose hub names itself
    ``hub_id``, None: it does not say) is another one (as
    ``sync.client.state.write_registration`` tells them apart: ``same_hub``); None when it
    is the same hub, at whatever address, or none was. The notes of decisions to send again
    are that hub's: registered with another, the device forgets them
    (``sync.client.site_state.forget_sites``)."""
    with database.read() as connection:
        old, old_id = get_value(connection, "hub_url"), get_value(connection, HUB_ID_NAME)
    return old if old is not None and not same_hub(old, old_id, hub_url, hub_id) else None


def unsent_for_the_hub(database: Database) -> list[SiteRecords]:
    """Every record still to push to the hub registered now, by site (those of no site, such
    as catches and erasures, under ``""``, first): at a registration with another hub, what
    ``sync.store.outbox_hub`` holds for the old one."""
    counts: dict[str, dict[str, int]] = {}
    with database.read() as connection:
        for site, kind, count in connection.execute(_UNSENT_FOR_THE_HUB).fetchall():
            counts.setdefault(str(site), {})[str(kind)] = int(count)
    return [
        SiteRecords(site, tuple(sorted(kinds.items(), key=_person_first)))
        for site, kinds in sorted(counts.items())
    ]


def held_words(held: list[SiteRecords]) -> str:
    """``site hq (1 person, 2 access events), (3 catches)``."""
    return ", ".join(f"site {r.words()}" if r.site else r.words() for r in held)


def refuse_another_hub(held: list[SiteRecords], old_hub: str, hub_url: str) -> None:
    """``SyncConfigError``, before the code is used, when records still to push to
    ``old_hub`` wait and ``hub_url`` is another hub: they are that hub's, and are never sent
    to this one, whatever the slug of its site."""
    if not held:
        return
    raise SyncConfigError(
        f"not registered: this store holds records still to push to {old_hub}:"
        f" {held_words(held)}; {hub_url} is another hub, whose site of the same slug is"
        " another site, so they would never be sent to it; the code was not used: sync them"
        f" to {old_hub} first (`jaga sync now`{_requeue_first(held)}), or register with"
        " --strand-records to leave them unsent in this store, held for that hub"
    )


def _requeue_first(held: list[SiteRecords]) -> str:
    """What the refusal adds when some of ``held`` are quarantined, which no sync sends."""
    quarantined = any(kind.endswith(QUARANTINED) for r in held for kind, _ in r.counts)
    return "; the quarantined ones after `jaga sync requeue`" if quarantined else ""


def held_for_old_hub_words(held: list[SiteRecords], old_hub: str, hub_url: str) -> str:
    """The line ``jaga sync register --strand-records`` prints for the records it left held
    for ``old_hub``."""
    return (
        f"left unsent: records queued for {old_hub}: {held_words(held)} (--strand-records):"
        f" they are that hub's, never sent to {hub_url}; they stay in this store, and go to"
        f" {old_hub} if this device is registered with it again"
    )


def noted_by_site(database: Database) -> list[SiteRecords]:
    """The access decisions noted to send again (``sync.store.resend``), by site: what a
    registration with another hub leaves unsent, since they are the old hub's."""
    with database.read() as connection:
        noted = noted_decisions(connection)
    return [SiteRecords(site, (("access_event", count),)) for site, count in sorted(noted.items())]


def not_sent_words(noted: list[SiteRecords], old_hub: str, hub_url: str) -> str:
    """The line ``jaga sync register`` prints for the decisions ``noted_by_site`` found when
    it registered with another hub than ``old_hub``."""
    return (
        f"not sent: access decisions of site {', '.join(records.words() for records in noted)}"
        f" noted to send again to {old_hub} (restored from a backup): they are that hub's,"
        f" never sent to {hub_url}; this device forgets the note, and they stay in this store"
    )


def queue_noted_decisions(store: Store, hub_url: str, hub_id: str | None) -> int:
    """Queue the decisions noted to send again to the registered site's restored hub, as
    that site's next sync does first (``queue_decisions_again``), when ``hub_url`` is that
    hub; how many. Run before a registration: queued, they are records of that site still
    to push, which a code of another site is refused for, and ``--strand-records`` leaves in
    the outbox, unsent, as it does the others. With another hub, none: queued, they would be
    pushed to it (its site of the same slug is another site), and the registration forgets
    the note."""
    if hub_left(store.database, hub_url, hub_id) is not None:
        return 0
    with store.database.read() as connection:
        site = get_value(connection, "site")
    return queue_decisions_again(store, site) if site else 0


def left_unsent(database: Database, site: str) -> list[SiteRecords]:
    """The records still to push of other sites than ``site``: what a registration to
    ``site`` with ``--strand-records`` left unsent."""
    return [records for records in unsent_by_site(database) if records.site != site]


def _person_first(kind: tuple[str, int]) -> tuple[bool, str]:
    return kind[0] != "person", kind[0]


def register_for_records(
    http: httpx.Client, hub_url: str, code: str, unsent: list[SiteRecords]
) -> Registered:
    """Register with ``code`` only if it is for the site of the records still to push
    (``unsent``; none: any code). Raises ``SyncConfigError``, before any code is sent, for
    records of several sites, and, the code unspent, for a code of another site; a hub
    before ``RegisterRequest.sites`` is asked without them and its answer checked after,
    the code then spent (the error says so)."""
    refuse_several_sites(unsent)
    sites = [records.site for records in unsent]
    try:
        return register_named(http, hub_url, code, sites=sites)
    except HubRefusedError as error:
        if error.code == "site_mismatch":
            raise other_site_refused(error.reason, unsent) from None
        if not (sites and error.code == "invalid_body" and "sites" in error.reason):
            raise
    registered = register_named(http, hub_url, code)  # an older hub: it cannot check first
    result = registered.result
    if result.site not in sites:
        given_back = give_back(http, hub_url, registered)
        reason = (
            f"the code was for site {result.site}, which this hub (older than jaga's check of"
            " a code's site) told only by using it: the code was used"
            f" ({spent_device(registered, given_back=given_back)})"
        )
        raise other_site_refused(reason, unsent)
    return registered


def refuse_several_sites(unsent: list[SiteRecords]) -> None:
    """``SyncConfigError`` when records of more than one site wait: whatever the code's site,
    the others' could never be pushed, so the operator chooses (``--strand-records``)."""
    if len(unsent) < 2:
        return
    raise SyncConfigError(
        f"not registered: this store holds unsent records of {len(unsent)} sites:"
        f" {', '.join(records.words() for records in unsent)}; a device pushes only its own"
        " site's, so the others' would be refused for good; the code was not used: register"
        " with a code of one of them and --strand-records to leave the others unsent"
    )


def other_site_refused(reason: str, unsent: list[SiteRecords]) -> SyncConfigError:
    """What the operator is told when the hub refused the code as another site's
    (``site_mismatch``): the records, and the two ways on."""
    sites = " or ".join(records.site for records in unsent)
    return SyncConfigError(
        f"not registered: {reason}; this store holds unsent records of site"
        f" {', '.join(records.words() for records in unsent)}: get a code for site {sites}"
        f" (`jaga hub create-device --site {sites} --name NAME`, or the hub's admin), or"
        " register with --strand-records to leave them unsent"
    )


def _counted(kind: str, count: int) -> str:
    """``2 catches``; ``1 catch quarantined`` for a kind ending with ``QUARANTINED``."""
    entity = kind.removesuffix(QUARANTINED)
    one, many = _ENTITY_WORDS.get(entity, (entity, entity))
    said = plural.counted(count, one, many)
    return said if entity == kind else f"{said} quarantined"
