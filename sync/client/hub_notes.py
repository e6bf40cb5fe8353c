"""What a device notes of its hub's answers, forgotten when it is registered with another
hub: the species pack the hub announced (and the one it stopped announcing), why that pack
failed to install and the tries counted, the tries to fetch a damaged pack again, and the
audit chain's problem. Kept, ``jaga sync status`` would tell of the old hub as of the new
one: the new hub "no longer offers" a pack it never announced (the first answer that names
none drops the old hub's), an audit break waits for an admin who never saw it. The packs
installed stay (they are on this device, and in use), and so does the list of packs
replaced (``sync.client.replaced_packs``: whatever hub). The audit chain's problem is the
old device's too: a new registration is a new device, whose chain the next sync checks."""

from __future__ import annotations

from typing import Any

from sync.client.audit import BREAK_NAME, PROBLEM_NAME
from sync.client.kept_pack import KEPT_ERROR_NAME, KEPT_REPAIRS_NAME
from sync.client.packs import ERROR_NAME, FAILURES_NAME, REPAIRS_NAME
from sync.client.state import SPECIES_PACK_NAME, WITHDRAWN_PACK_NAME

HUB_PACK_NOTES = (
    SPECIES_PACK_NAME,
    WITHDRAWN_PACK_NAME,
    ERROR_NAME,
    FAILURES_NAME,
    REPAIRS_NAME,
    KEPT_ERROR_NAME,
    KEPT_REPAIRS_NAME,
)
DEVICE_NOTES = (PROBLEM_NAME, BREAK_NAME)


def forget_hub_notes(connection: Any, *, another_hub: bool) -> None:
    """Inside the caller's write transaction of a new registration: forget the audit
    chain's problem, and with ``another_hub`` the old hub's pack notes too."""
    names = (*DEVICE_NOTES, *HUB_PACK_NOTES) if another_hub else DEVICE_NOTES
    connection.execute(
        f"DELETE FROM sync_state WHERE name IN ({', '.join('?' * len(names))})", names
    )
