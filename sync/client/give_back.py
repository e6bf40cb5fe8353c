"""A registration the device refuses after the one-time code was spent, given back.

``jaga sync register`` refuses some registrations only once the hub's answer shows them
(``sync.client.register_answer``: another hub than the one expected; an older hub's code of
another site, ``sync.client.site_records``). The code is spent by then and the hub holds a
device with a live token that the device drops: nobody holds it, yet anyone who did could
sync as that device. So the device, holding the token for the moment, asks the hub to revoke
it (``POST /api/v1/devices/deregister``). A hub of a release before that endpoint (404), or
one that cannot be reached or refuses, leaves it as it was: the operator is told to revoke
the device in the hub's admin, as before.
"""

from __future__ import annotations

import httpx

from sync.client.errors import HubUnavailableError
from sync.client.transport import Registered, send

_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def give_back(http: httpx.Client, hub_url: str, registered: Registered) -> bool:
    """Whether the hub at ``hub_url`` revoked the device ``registered`` names, at its own
    token's request (``204``); False when it did not say so (any other answer, or none)."""
    headers = {"Authorization": f"Bearer {registered.result.token}"}
    try:
        response = send(
            http, "POST", f"{hub_url}/api/v1/devices/deregister", content=None,
            headers=headers, params=None, timeout=_TIMEOUT,
        )  # fmt: skip
    except HubUnavailableError:
        return False
    return response.status_code == 204


def code_spent(registered: Registered, *, given_back: bool) -> str:
    """What the operator is told of the spent code (``spent_device``), and what to do."""
    return (
        f"the code was used ({spent_device(registered, given_back=given_back)}):"
        " ask the hub's admin for a new code"
    )


def spent_device(registered: Registered, *, given_back: bool) -> str:
    """The device the spent code registered: revoked at this device's request
    (``given_back``), or left for the admin to revoke."""
    result = registered.result
    device = f"device {result.device_id} of site {result.site}"
    if given_back:
        return f"{device} was registered, then revoked by the hub at this device's request"
    return f"{device} now holds a token nobody keeps: revoke it in the hub's admin"
