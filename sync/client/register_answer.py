"""Which hub a registration is with: the one the register answer names.

``jaga sync register`` asks the hub's status page for its id (``probe_hub_id``) so it can
refuse another hub while the old hub's records wait, before the one-time code is spent. But
the status page is unauthenticated: a proxy's cached copy, a misrouted load balancer or a
lying hub may name another hub's id, and a failed one names none. Taken as the hub's, a
status naming the old hub's id made another hub pass as the same one (nothing held, the old
hub's records queued for the new one), and a failed one made the same hub at a new address
another (its own records held for it for good). The register answer came to the code, from
the hub that took it: its id (``Registered.hub_id``) is the one kept, and is checked before
anything is saved (``answered_hub``):

- the status named an id and the answer another (or none): which hub took the code is not
  known, so nothing is saved, and the code is spent: the operator asks for a new one;
- the status named none (it failed, or a hub before ids): what was decided by address is
  decided again by the answer's id, as the saved registration will tell the hubs apart
  (``sync.store.hub_keys.same_hub``): the same hub after all holds nothing; another
  hub while the old hub's records wait is refused, as before the code, unless
  ``--strand-records``.

Either refusal comes after the code was spent: the token the answer carries is given back
first (``sync.client.give_back``), so the hub holds no live token nobody keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import httpx

from sync.client.errors import SyncConfigError
from sync.client.give_back import code_spent, give_back
from sync.client.site_records import (
    SiteRecords,
    held_words,
    hub_left,
    noted_by_site,
    queue_noted_decisions,
    unsent_for_the_hub,
)
from sync.client.transport import Registered
from sync.store.store import Store


@dataclass(frozen=True)
class HubLeft:
    """What registering with ``hub_url`` leaves of the registered hub: that hub (None: the
    same hub, or none), the records held for it, the noted decisions not sent to it."""

    hub_url: str
    old_hub: str | None
    held: list[SiteRecords]
    not_sent: list[SiteRecords]


def answered_hub(
    store: Store,
    left: HubLeft,
    probed: str | None,
    registered: Registered,
    *,
    strand: bool,
    http: httpx.Client,
) -> HubLeft:
    """``left`` (decided with the status page's id, ``probed``) as the register answer's id
    decides it; raises ``SyncConfigError``, nothing saved and the answer's token given back
    through ``http`` (``give_back``), when the two name other hubs, or when the answer shows
    another hub than the address did while its records wait (and not ``strand``)."""
    answered = registered.hub_id
    if probed is not None:
        if answered != probed:
            spent = code_spent(registered, given_back=give_back(http, left.hub_url, registered))
            raise _named_apart(left.hub_url, probed, answered, spent)
        return left
    if answered is None:
        return left  # a hub before ids: the address decided, and decides
    old_hub = hub_left(store.database, left.hub_url, answered)
    if old_hub is None and left.old_hub is not None:  # the same hub after all
        queue_noted_decisions(store, left.hub_url, answered)  # as its next sync would
        return replace(left, old_hub=None, held=[], not_sent=[])
    if old_hub is not None and left.old_hub is None:  # another hub after all
        held = unsent_for_the_hub(store.database)
        if held and not strand:
            spent = code_spent(registered, given_back=give_back(http, left.hub_url, registered))
            raise _another_after_all(left.hub_url, old_hub, held, registered, spent)
        return replace(left, old_hub=old_hub, held=held, not_sent=noted_by_site(store.database))
    return left


def _named_apart(hub_url: str, probed: str, answered: str | None, spent: str) -> SyncConfigError:
    return SyncConfigError(
        f"not registered: {hub_url} named itself {probed} in its status page but"
        f" {answered or 'no hub id'} in its answer to the code: a proxy's copy of the page, or"
        " another hub's, answered one of them, so which hub took the code is not known and"
        f" this device saved nothing; {spent}"
    )


def _another_after_all(
    hub_url: str, old_hub: str, held: list[SiteRecords], registered: Registered, spent: str
) -> SyncConfigError:
    return SyncConfigError(
        f"not registered: {hub_url} names itself {registered.hub_id} in its answer to the"
        f" code, another hub than {old_hub} (its status page did not answer, so the address"
        f" decided before the code was sent); this store holds records still to push to"
        f" {old_hub}: {held_words(held)}, never sent to another hub; this device saved"
        f" nothing; {spent}, then sync them to {old_hub} first, or register"
        " with --strand-records to leave them unsent in this store, held for that hub"
    )
