"""Which hub a device talks to: the id the hub names itself by, kept with the registration.

The hub names itself in its status, register and pull answers (``HUB_ID_HEADER``); a device
tells hubs apart by that id whatever address it reaches them at, and by address when either
id is unknown (``sync.store.hub_keys.same_hub``). ``jaga sync register`` asks the new
hub's id (``probe_hub_id``) before it decides whether the hub is another one, since that
decision (refuse while the old hub's records wait) comes before the one-time code is spent.
The status page is unauthenticated, so the id kept is the register answer's, checked against
the page's before anything is saved (``sync.client.register_answer``).
A device registered before hub ids, or with a hub before them, learns its hub's id on its
next pull (``learn_hub_id``): the answer came to its token, so it is its hub's.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from sync.client.config import Registration
from sync.client.state import keep_hub_id
from sync.client.transport import named_hub_id, send
from sync.store.hub_keys import hub_stamp
from sync.store.state_rows import HUB_ID_NAME, get_value
from sync.store.store import Store

_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def probe_hub_id(http: httpx.Client, hub_url: str) -> str | None:
    """The id the hub at ``hub_url`` names itself by in its status answer; None when it
    names none (a hub before hub ids) or does not answer ``ok`` (the address then decides).
    Raises ``HubUnavailableError`` when it cannot be reached: nor could it be registered."""
    response = send(
        http, "GET", f"{hub_url}/api/v1/status", content=None, headers={}, params=None,
        timeout=_TIMEOUT,
    )  # fmt: skip
    return named_hub_id(response) if response.status_code == 200 else None


def learn_hub_id(store: Store, hub_id: str | None, hub_url: str, device_id: UUID) -> None:
    """Keep ``hub_id``, named in the answer to a pull made as device ``device_id`` of the hub
    at ``hub_url``, as the registered hub's, when it is not the one kept; a hub that named
    none leaves the kept one as it is, and so does a pull made with a registration replaced
    since (a sync under way while ``jaga sync register`` saved another hub's): the id is the
    old hub's."""
    if hub_id is None:
        return
    with store.database.read() as connection:
        if get_value(connection, HUB_ID_NAME) == hub_id:
            return  # each pull names it: written only when it is new
    with store.database.write() as connection:
        if _registered_as(connection, hub_url, device_id):
            keep_hub_id(connection, hub_id, store.clock.now())


def hub_of(store: Store, registration: Registration, named: str | None = None) -> str:
    """The stamp (``hub_stamp``) of the hub a request made with ``registration`` went to:
    by the id it ``named`` in its answer, or the one the registration has, or kept with it
    while the store is registered with that hub (the id the hub named before), else by its
    address: the store's registration may have been replaced since the request was made."""
    hub_id = named or (None if registration.hub_id is None else str(registration.hub_id))
    if hub_id is None:
        with store.database.read() as connection:
            if get_value(connection, "hub_url") == registration.hub_url:
                hub_id = get_value(connection, HUB_ID_NAME)
    return hub_stamp(registration.hub_url, hub_id)


def _registered_as(connection: Any, hub_url: str, device_id: UUID) -> bool:
    """Whether the store's registration is still the one with ``hub_url`` and ``device_id``."""
    return get_value(connection, "hub_url") == hub_url and get_value(
        connection, "device_id"
    ) == str(device_id)
