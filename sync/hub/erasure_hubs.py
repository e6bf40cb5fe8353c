"""Which hubs' journal lines a replay takes as this hub's own: its ``hub-id``, its key's
identity, lines that name no hub, and the hubs the operator accepted (``accepted-hubs``,
``jaga hub renew-log-epoch --accept-other-hubs``).

Apart from ``sync.hub.erasure_lines`` (the lines and the hub they name) because only a
replay and a restore ask it (``sync.hub.erasure_replay``, ``sync.hub.cli_restore``); a hub
that appends needs none of it.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from pathlib import Path

from sync.durable import replace_private
from sync.hub.erasure_lines import (
    JournalNotAFileError,
    at_fault,
    hub_identity,
    is_hub_id,
    key_identity,
)
from sync.regular_file import read_small_file

ACCEPTED_FILE = "accepted-hubs"  # other hubs' lines the operator took as this hub's own
_MAX_ACCEPTED = 1 << 16  # thousands of accepted hubs


def own_identities(data: Path) -> frozenset[str | None]:
    """The ``hub`` fields a replay of the journal in ``data`` takes as this hub's: its
    ``hub-id``, its current key's identity (lines written before the file), none (lines
    written before lines named their hub), and the hubs accepted (``accepted_hubs``).
    Raises ``JournalFileError`` naming the file at fault when either cannot be read, what
    reading the journal raises when ``hub-id`` is made (``_key_wrote``)."""
    return frozenset((hub_identity(data), key_identity(), None, *accepted_hubs(data)))


def accepted_hubs(data: Path) -> frozenset[str]:
    """The hubs whose lines the operator accepted as this hub's own (``jaga hub
    renew-log-epoch --accept-other-hubs``): the ``accepted-hubs`` file of ``data``, one
    identity a line (only hub ids: 16 lower hex digits); none without the file. Read as a
    small regular file only: raises ``JournalFileError`` (naming it) otherwise, or when it
    cannot be read."""
    path = data / ACCEPTED_FILE
    try:
        kept = read_small_file(path, "a list of accepted hubs", _MAX_ACCEPTED, JournalNotAFileError)
    except FileNotFoundError:
        return frozenset()
    except (OSError, JournalNotAFileError) as error:
        raise at_fault(path, error) from error
    lines = (line.strip() for line in kept.decode(errors="replace").splitlines())
    return frozenset(line for line in lines if is_hub_id(line))


def accept_hubs(data: Path, hubs: Iterable[str]) -> None:
    """Add ``hubs`` to the ``accepted-hubs`` file of ``data``, replaced whole (a synced
    temporary file renamed over it); only hub ids (16 lower hex digits): anything else
    would never match its line again once read back. Raises ``OSError`` when it cannot
    write it, ``JournalFileError`` when it cannot read it."""
    every = accepted_hubs(data) | {hub for hub in hubs if is_hub_id(hub)}
    text = "".join(f"{hub}\n" for hub in sorted(every))
    if len(text.encode()) > _MAX_ACCEPTED:  # it could not be read back
        raise OSError(errno.EFBIG, f"more accepted hubs than {ACCEPTED_FILE} may hold")
    replace_private(data / ACCEPTED_FILE, text, folder_owner=True)
