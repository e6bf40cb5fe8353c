"""Which site and device a kiosk's access events belong to.

The hub accepts an event only from a device of the event's site, so a registered kiosk
records under its registration, whatever it is told. An unregistered one needs both named
(``--site``, ``--device``); its events wait in the outbox and are accepted once it is
registered with that site. A site given that differs from the registration is refused now
rather than quarantined by the hub later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from desktop.kiosk.errors import KioskError
from sync.client.config import resolve_config
from sync.client.errors import SyncConfigError
from sync.client.state import read_values
from sync.protocol.names import hidden_characters_problem
from sync.protocol.types import NAME_MAX_LENGTH, SLUG_PATTERN
from sync.store import Store

_SLUG = re.compile(SLUG_PATTERN)  # the wire protocol's site slug


@dataclass(frozen=True)
class KioskIdentity:
    site: str
    device: str

    def __post_init__(self) -> None:
        if not _SLUG.match(self.site):
            raise KioskError(f"not a site slug (lower-case letters, digits, - and _): "
                             f"{self.site!r}")  # fmt: skip
        if not self.device.strip():
            raise KioskError("the device needs a name")
        if len(self.device) > NAME_MAX_LENGTH or "\x00" in self.device:  # the hub's limits
            raise KioskError(f"a device name has at most {NAME_MAX_LENGTH} characters, no NUL")
        if problem := hidden_characters_problem(self.device, "the device's name"):
            raise KioskError(problem)  # every event it records would be refused


def kiosk_identity(
    store: Store, env: Mapping[str, str], site: str | None = None, device: str | None = None
) -> KioskIdentity:
    """The registration's site and device id, else ``site`` and ``device`` as given."""
    registered = _registration(store, env)
    if registered is not None:
        if site is not None and site != registered.site:
            raise KioskError(f"this device is registered with site {registered.site!r}, not "
                             f"{site!r}: its events would be refused by the hub")  # fmt: skip
        return registered
    if site is None or device is None:
        raise KioskError("this device is not registered: run `jaga sync register --hub URL`, "
                         "or name the site and the device (--site, --device)")  # fmt: skip
    return KioskIdentity(site, device)


def enrolment_site(store: Store, env: Mapping[str, str], site: str | None = None) -> str:
    """The site a person is enrolled at: the registration's, else ``site`` as given."""
    registered = _registration(store, env)
    if registered is None:
        if site is None:
            raise KioskError("this device is not registered: run `jaga sync register --hub "
                             "URL`, or name the person's site (--site)")  # fmt: skip
        return KioskIdentity(site, "-").site
    return kiosk_identity(store, env, site).site


def _registration(store: Store, env: Mapping[str, str]) -> KioskIdentity | None:
    try:
        config = resolve_config(env, read_values(store.database))
    except SyncConfigError:  # not registered (or only partly): the caller names the site
        return None
    return KioskIdentity(config.site, str(config.device_id))
