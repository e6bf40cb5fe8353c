"""A device registered to another site (or hub) keeps none of the old site's people.

A device pulls only its own site's log. Registered again with a code of another site (a
kiosk moved from gate X to gate Y), the people it pulled from X, and those it enrolled there
that the hub holds, would stay on it for good: X's erasures never reach it any more, and
their templates would verify at Y's gate. So ``jaga sync register``, in the transaction that
keeps the new registration, removes every person not of the new site (every person, when the
hub is another one) as an erasure does (``sync.store.person_removal.remove_person``: templates and
photos with them, and a purge owed, so the bytes leave the store's files), each with a
``person.left_site`` audit entry saying why. They are not erased anywhere else: the hub holds
them, and a device registered back to X pulls them again, since what it pulled of X goes
too (``write_registration``, through ``sync.client.site_state.forget_sites``).

A person with records still to push is kept: the register check lets that happen only for
records the operator left unsent on purpose (``--strand-records``), and those exist nowhere
but here; removing them would lose them. ``jaga sync register`` says how many it kept.
A registration to the same site of the same hub (a new device id, say) removes nothing, the
hub reached at a new address included: hubs are told apart by their ids, or by address when
either is unknown (``sync.store.hub_keys.same_hub``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync import plural
from sync.client.audit_start import begin_at_registration
from sync.client.config import Registration
from sync.client.state import write_registration
from sync.hub_url import kept_hub_url
from sync.store import Store
from sync.store.hub_keys import same_hub
from sync.store.person_removal import remove_person
from sync.store.state_rows import HUB_ID_NAME, get_value

LEFT_SITE_ACTION = "person.left_site"

# People named by an entry still to push (queued, or sent without an answer yet): a person
# entry by its uid, a template or photo by the person it belongs to.
_UNSENT_PEOPLE = """
SELECT coalesce(json_extract(payload, '$.person_uid'), entity_uid) FROM outbox
WHERE state IN ('queued', 'sent') AND entity IN ('person', 'face_template', 'photo')
"""


@dataclass(frozen=True)
class LeftSite:
    """What registering to another site removed: ``removed`` people of the old registration
    (``site``), ``kept`` with records still to push."""

    site: str
    removed: int
    kept: int

    def words(self) -> str:
        """The one line ``jaga sync register`` prints."""
        said = (
            f"removed {plural.counted(self.removed, 'person', 'people')} of site {self.site}"
            " from this store (the hub holds them; this device no longer pulls their site)"
        )
        if self.kept:
            said += (
                f"; kept {plural.counted(self.kept, 'person', 'people')} of site {self.site}"
                " with records still to push (--strand-records)"
            )
        return said


def register_moving(
    store: Store,
    registration: Registration,
    now: datetime,
    *,
    send_face_images: bool,
    operator: str,
) -> LeftSite | None:
    """Keep ``registration`` (``sync.client.state.write_registration``, which forgets what was
    pulled of other sites) and, when the store was registered to another site or hub, remove
    the old site's people in the same transaction; None when it was not (first registration,
    or the same site again). The registration's audit entry comes last, where the new
    device's anchoring begins (``sync.client.audit_start``)."""
    left = None
    with store.database.write() as connection:
        old = _registered(connection)
        registered_as = get_value(connection, "device_id")  # before the new one replaces it
        if old is not None and not (_same_hub(old, registration) and old.site == registration.site):
            left = _leave(connection, store, old, registration, operator)
        dropped = write_registration(
            connection, registration, now, send_face_images=send_face_images
        )
        begin_at_registration(
            connection, store, registration, operator, now, registered_as=registered_as
        )
    if dropped or (left is not None and left.removed):
        store.database.purge(wait=True)
    return left


@dataclass(frozen=True)
class _Registered:
    """The hub (its address, and its id when known) and site the store is registered to."""

    hub_url: str
    hub_id: str | None
    site: str


def _registered(connection: Any) -> _Registered | None:
    """What the store is registered to now; None if it is not."""
    hub, site = get_value(connection, "hub_url"), get_value(connection, "site")
    if hub is None or site is None or get_value(connection, "device_token") is None:
        return None
    return _Registered(kept_hub_url(hub), get_value(connection, HUB_ID_NAME), site)


def _same_hub(old: _Registered, new: Registration) -> bool:
    new_id = None if new.hub_id is None else str(new.hub_id)
    return same_hub(old.hub_url, old.hub_id, new.hub_url, new_id)


def _leave(
    connection: Any, store: Store, old: _Registered, new: Registration, operator: str
) -> LeftSite:
    old_hub, old_site = old.hub_url, old.site
    hub_kept = _same_hub(old, new)
    # Another hub's site of the same slug is another site: everyone goes then.
    query = "SELECT person_uid FROM people" + (" WHERE site != ?" if hub_kept else "")
    rows = connection.execute(query, (new.site,) if hub_kept else ()).fetchall()
    unsent = {str(uid) for (uid,) in connection.execute(_UNSENT_PEOPLE).fetchall()}
    reason = (
        f"registered to site {new.site} at {kept_hub_url(new.hub_url)}: this device no longer pulls"
        f" site {old_site} at {old_hub}, whose hub holds this person"
    )
    removed = kept = 0
    for (uid,) in rows:
        if str(uid) in unsent:
            kept += 1
            continue
        removal = remove_person(connection, store.outbox, str(uid))
        if removal is None:
            continue
        store.audit.append(
            connection,
            actor=operator,
            action=LEFT_SITE_ACTION,
            subject=str(uid),
            details=removal.details(reason),
        )
        removed += 1
    return LeftSite(old_site, removed, kept)
