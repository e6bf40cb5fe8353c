"""``jaga hub manage``: any Django management command, run on the hub's data folder, which
``--data`` names even when given after the command's name."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sync.cli_errors import data_folder
from sync.hub.data_dir import default_data_dir


def manage_hub(args: argparse.Namespace) -> int:
    from django.core.management import execute_from_command_line

    from sync.hub.bootstrap import prepare

    try:
        data, arguments = _data_among(args.data, args.arguments)
    except argparse.ArgumentTypeError as error:
        print(f"jaga hub manage: error: argument --data: {error}", file=sys.stderr)
        return 2
    # Any Django command, servers among them (runserver signs sessions as the hub does).
    environment = prepare(data or default_data_dir(), serves=True, makes_hub=True)
    try:
        execute_from_command_line(["jaga hub manage", *arguments])
    finally:
        environment.stop()
    return 0


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
