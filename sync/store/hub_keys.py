"""How a device names a hub in its stamps (``outbox.for_hub``, ``access_events.for_hub``,
``fish_observations.for_hub``) and tells two hubs apart.

A hub is named by the id it names itself by (``HUB_ID_HEADER``) when the device knows it,
else by its address (``hub_key``); two hubs are one when their ids match, or, when either id
is unknown, their addresses (``same_hub``). A stamp made by address before the device
learned its hub's id is rewritten with the id once learned (``sync.client.state.keep_hub_id``),
so the hub at a new address is still that hub. ``UNKNOWN_HUB`` stamps what a store upgraded
from before it kept which hub a record is of cannot vouch for (``sync.store.catch_hub``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sync.hub_url import kept_hub_url

# Neither a uuid nor an address: the stamp of records whose hub this store cannot tell. It
# matches no hub, so what it holds is sent to none.
UNKNOWN_HUB = "unknown"


def hub_key(url: str) -> str:
    """``url`` as the hub it names, for comparing: scheme and host in lower case, the
    default port written, no trailing slash. ``http://HUB.test`` and ``http://hub.test:80/``
    are one hub; a hub reached by its address and by its name cannot be told to be one."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # not a port: compared as written
        return kept_hub_url(url)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}{parts.path.rstrip('/')}"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def same_hub(url: str, hub_id: str | None, other_url: str, other_id: str | None) -> bool:
    """Whether the hub at ``url`` named ``hub_id`` is the one at ``other_url`` named
    ``other_id``. The hubs' ids decide when both are known (``HUB_ID_HEADER``), whatever the
    addresses: a hub that moved to a new name or port is the same hub, and another hub
    answering at a known address is another. When either is unknown (a hub of a release
    before ids, a registration saved before them), the address decides (``hub_key``)."""
    if hub_id and other_id:
        return hub_id.lower() == other_id.lower()
    return hub_key(url) == hub_key(other_url)


def hub_stamp(url: str, hub_id: str | None) -> str:
    """What names the hub at ``url`` in a stamp (``outbox.for_hub``): its id when known,
    else its address (``hub_key``); a uuid and an address never read alike."""
    return hub_id.lower() if hub_id else hub_key(url)
