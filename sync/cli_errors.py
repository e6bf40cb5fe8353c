"""How every ``jaga`` command of the sync package reports a failure (one line, exit code 1;
130 for Ctrl-C at a prompt for a passphrase or code), and reads a count, a moment, a file to
write or a data folder given on its command line.

A ``SyncError`` is the user's to act on (a wrong key, a dead hub), so it gets its message, not
a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

Handler = Callable[[argparse.Namespace], int]


def deferred(module: str, name: str) -> Handler:
    """The handler ``name`` of ``module``, imported when the command runs: a command's module
    may load SQLCipher, numpy or the wire models, which building ``jaga``'s parser (for
    every command, ``--help`` too) needs none of."""

    def run(args: argparse.Namespace) -> int:
        handler: Handler = getattr(importlib.import_module(module), name)
        return handler(args)

    run.__name__ = run.__qualname__ = name
    return run


def reporting(handler: Handler) -> Handler:
    """``handler`` with the sync package's errors as one line on stderr and exit code 1."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        from sync.errors import PromptInterrupted, SyncError

        try:
            return handler(args)
        except SyncError as error:
            print(f"jaga: {_line(error)}", file=sys.stderr)
            return 1
        except PromptInterrupted as stopped:  # Ctrl-C at a passphrase or code prompt
            print(f"jaga: {stopped}", file=sys.stderr)
            return 130

    return run


def _line(error: Exception) -> str:
    from sync.client.errors import HubAuthError

    if isinstance(error, HubAuthError):  # retrying cannot help: say what can
        return f"sync paused: {error}; register the device again"
    return f"error: {error}"


def iso_moment(text: str) -> datetime:
    """An argparse ``type``: an ISO day (from its start) or time; UTC unless it says."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a day like 2026-03-01 or a time like 2026-03-01T14:30:00Z"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# How far past this machine's clock a time typed from another one (a laptop's, a little
# ahead) may be before ``past_moment`` takes it for a typo of the future.
CLOCK_SLACK = timedelta(minutes=5)


def past_moment(text: str) -> datetime:
    """An argparse ``type``: a time that says its offset from UTC, not in the future (up to
    :data:`CLOCK_SLACK`). For a moment a guess would get wrong in a way that costs data: a
    day read from its start, or a local time read as UTC, is hours off for anyone not in
    UTC; a time in the future is a typo."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time that says its offset from UTC: write"
            " 2026-03-01T14:30:00Z (UTC) or 2026-03-01T16:30:00+02:00 (the same time,"
            " two hours east of UTC)"
        )
    now = datetime.now(UTC)
    if moment > now + CLOCK_SLACK:
        raise argparse.ArgumentTypeError(
            f"{text!r} is in the future (this machine's clock says"
            f" {now.isoformat(timespec='seconds')})"
        )
    return moment


# More than any store holds or any run lasts, and well inside a SQLite INTEGER (2**63 - 1) with
# room for the one more row a query asks for: a count beyond that (typed as "all of them") was
# an OverflowError traceback once it reached the store.
MAX_COUNT = 10**12


def whole_number(low: int, high: int | None = None, *, expected: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` (to ``high``, where given), refused
    when the command line is read, in one line: "expected ``expected``, got '...'".

    Without ``expected`` a number under ``low`` is told the floor alone ("a whole number of
    at least 1"), as a ceiling kept only to stay inside a SQLite INTEGER means nothing to
    someone who typed 0; one over ``high`` is told the whole range. Thousands of digits are
    refused as not a number is, not as an error of Python's. The twin of
    ``inference.cli_numbers.whole_number``: the packages share no code.
    """
    floor = expected or f"a whole number of at least {low}"
    ceiling = expected or f"a whole number from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # not a number, or thousands of digits
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {floor}, got {text!r}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"expected {ceiling}, got {text!r}")
        return value

    return parse


positive_count = whole_number(1, MAX_COUNT)
"""An argparse ``type``: a whole number from 1 to :data:`MAX_COUNT`."""


def output_file(text: str) -> Path:
    """An argparse ``type``: a file the command writes (an export, a backup, metrics).

    A path it cannot write (a folder, one inside a file, a read-only place, a folder that is
    not there) is refused when the command line is read, in one line (argparse's exit status
    2), before the store's key is asked for or any work is done. A missing folder is not
    made: a backup or an export of personal data meant for a drive that is not mounted
    (``/media/usb/...``) must not land on the device's own disk instead. The twin of
    ``inference.output_paths.output_file`` (whose reports and packs make their folders): the
    packages share no code.
    """
    path = Path(text)
    folder = path.absolute().parent
    if path.is_dir():
        problem: str | None = "it is a folder"
    elif not folder.exists() and _unwritable(path) is None:
        problem = f"there is no folder {folder} (make it first, or mount the drive)"
    else:
        problem = _unwritable(path)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"cannot write {text}: {problem}")
    return path


def data_folder(text: str) -> Path:
    """An argparse ``type``: a folder the command keeps its data in (made when missing),
    made absolute now: a program it starts there (PostgreSQL runs in its own data folder)
    would read a relative path from elsewhere. One that cannot be (a file, a path below a
    file, a read-only place) is refused when the command line is read, in one line. So is one
    whose name the embedded PostgreSQL cannot take (``unusable_folder_name``)."""
    path = Path(text).resolve()
    refusal = unusable_folder_name(path)
    if refusal is not None:
        raise argparse.ArgumentTypeError(refusal)
    if path.is_dir():
        problem = None if os.access(path, os.W_OK | os.X_OK) else f"cannot write in {path}"
    elif path.exists():
        problem = "it is not a folder"
    else:
        problem = _unwritable(path)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"cannot use {path}: {problem}")
    return path


def unusable_folder_name(path: Path) -> str | None:
    """Why the data folder ``path`` cannot be used for its name, else None: a name that is
    not UTF-8 (a Latin-1 terminal's: the hub names its embedded PostgreSQL's socket folder in
    the database URL, UTF-8 text), or one holding what a shell expands inside double quotes
    (``pg_ctl`` starts PostgreSQL through ``/bin/sh`` with the data folder so quoted: with a
    ``$`` in the path it never started)."""
    shown = os.fsencode(path).decode("utf-8", "backslashreplace")
    if not _is_utf8(str(path)):
        return (
            f"cannot use {shown}: its name is not UTF-8 text, which the database's address"
            " needs: choose a folder named in UTF-8"
        )
    special = sorted(set(_SHELL_SPECIAL) & set(str(path)))
    if special:
        return (
            f"cannot use {shown}: its path holds {' '.join(special)}, which the shell that"
            " starts PostgreSQL would expand: choose a folder without them"
        )
    return None


_SHELL_SPECIAL = '$`"\\'  # what /bin/sh still reads inside double quotes


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8, which Python keeps as surrogates
        return False
    return True


def _unwritable(path: Path) -> str | None:
    if path.is_file():
        return None if os.access(path, os.W_OK) else "permission denied"
    above = path.absolute().parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        return f"{above} is not a folder"
    if not os.access(above, os.W_OK | os.X_OK):
        return f"cannot write in {above}"
    return None
