"""``jaga hub manage``: a Django management command, run on the hub's data folder, which
``--data`` names even when given after the command's name.

Not those that write the hub's rows directly (``REFUSED``): every other route to them goes
through the hub's checks (a badge, a consent, a site a device may write), its change log
(what devices pull), its erasure journal and its audit. ``loaddata`` of an older
``dumpdata`` would bring erased people back, on the hub only; ``flush`` would empty every
table, tombstones and audit chains with them, and no device would ever hear of it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sync.cli_errors import data_folder
from sync.hub.data_dir import default_data_dir

REFUSED = {
    "loaddata": "writes rows past the hub's checks, change log, erasure journal and audit"
    " (an older dumpdata brings erased people back): people and records come from the"
    " devices' pushes, sites and devices from the hub's admin or `jaga hub create-device`,"
    " a whole database from `jaga hub restore`",
    "flush": "deletes every row past the hub's erasure journal and audit, and no device"
    " would hear of it: erase people in the hub's admin (People, Erase) or with `jaga hub"
    " purge-expired`; for an empty hub, give `jaga hub run` a new --data folder",
}


def manage_hub(args: argparse.Namespace) -> int:
    from django.core.management import execute_from_command_line

    from sync.hub.bootstrap import prepare

    try:
        data, arguments = _data_among(args.data, args.arguments)
    except argparse.ArgumentTypeError as error:
        print(f"jaga hub manage: error: argument --data: {error}", file=sys.stderr)
        return 2
    refusal = _refusal(arguments)
    if refusal is not None:  # before any database starts, or a data folder is made
        print(f"jaga hub manage: error: {refusal}", file=sys.stderr)
        return 2
    # Any Django command, servers among them (runserver signs sessions as the hub does).
    environment = prepare(data or default_data_dir(), serves=True, makes_hub=True)
    try:
        execute_from_command_line(["jaga hub manage", *arguments])
    finally:
        environment.stop()
    return 0


def _refusal(arguments: list[str]) -> str | None:
    """Why the command ``arguments`` name (Django's is the first word) is refused, or None."""
    command = arguments[0] if arguments else ""
    reason = REFUSED.get(command)
    return None if reason is None else f"{command} {reason}"


def _data_among(data: Path | None, arguments: list[str]) -> tuple[Path | None, list[str]]:
    """``--data`` given after the Django command's name (``manage createsuperuser --data
    DIR``), taken as the hub's: left to Django, its parser read it as ``--database`` (an
    abbreviation) and refused the folder, after the default data folder's PostgreSQL had
    started. Only before a ``--`` (what follows is the command's own, a client's for
    ``dbshell``); given twice, or with an option for a value, it is refused."""
    rest: list[str] = []
    found: list[str] = []
    words = iter(arguments)
    for word in words:
        if word == "--":
            rest += [word, *words]
        elif word == "--data":
            found.append(next(words, ""))
        elif word.startswith("--data="):
            found.append(word.removeprefix("--data="))
        else:
            rest.append(word)
    if not found:
        return data, arguments
    if len(found) > 1 or data is not None:
        raise argparse.ArgumentTypeError("given twice")
    if not found[0] or found[0].startswith("-"):
        raise argparse.ArgumentTypeError("expected a folder")
    return data_folder(found[0]), rest
