"""``jaga hub new-id``: give this hub a new id (``sync.hub.identity.give_new_id``).

Devices tell hubs apart by the id each names itself by (``HUB_ID_HEADER``), and a copy of a
hub's database (a staging hub made from a production dump) names the production hub's: a
device registered with both takes them for one hub, and records queued for one would go to
the other. The copy is given its own id with this command, before it serves any device: a
device that synced with it under the old id stamped the catches it pulled from it, or that it
took, with the production hub's id (``sync.store.catch_hub``), and their reviews would go
there.

Refused without ``--confirm`` (``CONFIRM_NEEDED`` says what it does to devices). Safe while
``jaga hub run`` serves the same database: every answer reads the id from the database, so
the next answer of every worker names the new one, and nothing is cached to restart.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sync.hub.data_dir import default_data_dir

CONFIRM_NEEDED = (
    "jaga hub new-id: refused: this gives the hub a new id, by which devices tell hubs"
    " apart. Run it on a copy of a hub (a staging hub made from a production dump) BEFORE"
    " the copy serves any device: a device that synced with the copy under the old id took"
    " it for the hub it was copied from, and keeps the catches it pulled from the copy, and"
    " those the copy took from it, as that hub's: their reviews would go to it. Once it has"
    " a new id, a device registered with the hub it was copied from takes it for another"
    " hub, and so does one registered with this hub if it registers with it again before"
    " its next sync (the records it still has to push stay held for the old id); the others"
    " learn the new id at their next sync. Run it again with --confirm"
)


def add_new_id_parser(commands: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """``jaga hub new-id``; the caller adds ``--data`` as every ``jaga hub`` command's."""
    new_id: argparse.ArgumentParser = commands.add_parser(
        "new-id",
        help="give this hub a new id: a copy of a hub's database (a staging hub made from a"
        " production dump) shares the hub's id, and devices take the two for one hub",
    )
    new_id.add_argument(
        "--confirm",
        action="store_true",
        help="give the new id (without it, the command says what that does to devices)",
    )
    new_id.set_defaults(handler=new_hub_id)
    return new_id


def new_hub_id(args: argparse.Namespace) -> int:
    if not args.confirm:
        print(CONFIRM_NEEDED, file=sys.stderr)
        return 1
    from sync.hub.bootstrap import prepare

    environment = prepare(args.data or default_data_dir())
    try:
        from sync.hub.identity import give_new_id

        old, new = give_new_id()
    finally:
        environment.stop()
    print(f"this hub's id was {old}; it is now {new}")
    print(
        "devices registered with it learn the new id at their next sync; registered with it"
        " again before then, they take it for another hub"
    )
    return 0
