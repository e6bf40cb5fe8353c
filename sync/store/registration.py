"""A restored store stays registered as this device.

The device's registration with the hub (``REGISTRATION_NAMES``: its hub, site, device id and
token, and the hub's id, ``HUB_ID_NAME``, kept in ``sync_state`` by
``sync.client.state.save_registration``, with the face images policy it came with) is who the
device is, not its data as of the backup. A backup made before ``jaga sync register`` holds
none: restored as it is, the device would be unregistered, its one-time code spent, and only a
new code from the hub's admin would bring it back. A backup made under an earlier registration,
or by another device, would make the store that one (two devices holding one token). So a
restore over a registered store writes the replaced store's registration into the restored
copy, rows as they were (their ``updated_at`` is when the device registered, which
``sync.store.resend`` reads), whenever the backup's differs (a backup of another site or hub is
refused before this: ``sync.store.restore_site``). The hub judges the restored audit chain as
any restore's: a break the operator acknowledges in its admin.

The pull cursors and log tips stay the backup's: they say which of the hub's changes the
restored data holds, and the next pull goes on from there.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.store.state_rows import FACE_IMAGES_NAME, HUB_ID_NAME, REGISTRATION_NAMES
from sync.store.store import Store

_NAMES = (*REGISTRATION_NAMES, HUB_ID_NAME, FACE_IMAGES_NAME)
Rows = dict[str, tuple[str, str]]  # name: (value, updated_at)


@dataclass(frozen=True)
class Identity:
    """Which device of which hub a registration makes a store."""

    hub_url: str
    site: str
    device_id: str

    def words(self) -> str:
        return f"device {self.device_id} of site {self.site} at {self.hub_url}"


@dataclass(frozen=True)
class KeptRegistration:
    """This device's registration, written into the restored copy; ``backup_had``: the
    backup's own, when it named another device (another hub, site or device id)."""

    identity: Identity
    backup_had: Identity | None

    def words(self) -> str:
        """What ``jaga store restore`` says of it: a warning when the backup was another
        device's (of this site and hub: another's is refused, ``sync.store.restore_site``;
        its records now sync as this device's)."""
        here = self.identity.words()
        if self.backup_had is None:
            return f"the restored store stays registered with the hub as this device ({here})"
        return (
            f"WARNING: the backup was registered as {self.backup_had.words()}; the restored"
            f" store stays registered as this device ({here}) and syncs as it"
        )


def registration_rows(store: Store) -> Rows:
    """The store's registration rows; empty when it is not registered (no token)."""
    marks = ",".join("?" * len(_NAMES))
    rows = store.database.query(
        f"SELECT name, value, updated_at FROM sync_state WHERE name IN ({marks})", _NAMES
    )
    found = {str(name): (str(value), str(at)) for name, value, at in rows}
    return found if "device_token" in found and "device_id" in found else {}


def registered_as(store: Store) -> Identity | None:
    """Which device ``store`` is registered as; None when it is not registered."""
    rows = registration_rows(store)
    return _identity(rows) if rows else None


def keep_registration(restored: Store, rows: Rows) -> KeptRegistration | None:
    """Write ``rows`` (the replaced store's registration) into ``restored`` when its own
    differs; None when there is nothing to write (no registration, or the same one)."""
    own = registration_rows(restored)
    if not rows or _values(own) == _values(rows):
        return None
    with restored.database.write() as connection:
        connection.execute(
            f"DELETE FROM sync_state WHERE name IN ({','.join('?' * len(_NAMES))})", _NAMES
        )
        connection.executemany(
            "INSERT INTO sync_state (name, value, updated_at) VALUES (?, ?, ?)",
            [(name, value, at) for name, (value, at) in rows.items()],
        )
    here, there = _identity(rows), _identity(own) if own else None
    return KeptRegistration(here, there if there is not None and there != here else None)


def _values(rows: Rows) -> dict[str, str]:
    return {name: value for name, (value, _) in rows.items()}


def row_value(rows: Rows, name: str) -> str:
    """The value of ``name`` in ``rows``, "" when absent."""
    return rows.get(name, ("", ""))[0]


def _identity(rows: Rows) -> Identity:
    def value(name: str) -> str:
        return row_value(rows, name)

    return Identity(value("hub_url"), value("site"), value("device_id"))
