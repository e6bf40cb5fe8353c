"""How every ``jaga`` command of the sync package reports a failure (one line, exit code 1),
and reads a moment given on its command line.

A ``SyncError`` is the user's to act on (a wrong key, a dead hub), so it gets its message, not
a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from datetime import UTC, datetime

Handler = Callable[[argparse.Namespace], int]


def reporting(handler: Handler) -> Handler:
    """``handler`` with the sync package's errors as one line on stderr and exit code 1."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        from sync.errors import SyncError

        try:
            return handler(args)
        except SyncError as error:
            print(f"jaga: {_line(error)}", file=sys.stderr)
            return 1

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
