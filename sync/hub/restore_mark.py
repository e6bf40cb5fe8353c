"""A ``jaga hub restore`` that stopped before it finished, kept in the data folder.

``pg_restore`` commits the backup before the steps that follow it (``renew-log-epoch``:
the erasure journal applied again, every site's epoch renewed). A restore killed between
the two (a power cut, Ctrl-C, ``kill``) left a database rewound with the old epochs, and
``jaga hub run`` served it: a device that pushed since the backup keeps its checkpoint past
the rewound log, never sends again what the hub lost, and an erasure the backup lacks
stays undone. So the restore marks the folder before it loads (``RESTORE_MARK``), durably;
the mark goes once ``renew-log-epoch`` succeeded (the restore's own, or one run by hand),
or when the load was rolled back; ``jaga hub run`` refuses while it is there. A pg_restore
that outlived a killed restore may still commit, so a mark is never taken as "nothing was
loaded".
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sync.errors import SyncError

RESTORE_MARK = "restore-unfinished"


class RestoreUnfinishedError(SyncError):
    """A ``jaga hub restore`` of the data folder stopped before ``renew-log-epoch``."""


def mark_restore(data: Path, backup: Path) -> None:
    """Note, durably, that a restore of ``backup`` into ``data``'s database begins.
    Raises OSError (nothing is loaded then)."""
    from sync.durable import replace_private

    started = datetime.now(UTC).isoformat(timespec="seconds")
    replace_private(data / RESTORE_MARK, f"{started} {backup.absolute()}\n", folder_owner=True)


def clear_restore_mark(data: Path) -> None:
    """The restore is done with (renewed, or rolled back). Raises OSError."""
    from sync.durable import fsync_path

    mark = data / RESTORE_MARK
    if mark.exists():
        mark.unlink()
        fsync_path(data)


def check_no_unfinished_restore(data: Path) -> None:
    """``RestoreUnfinishedError`` naming the restore and what to run when ``data`` holds a
    restore that stopped before it finished."""
    mark = data / RESTORE_MARK
    try:
        started, _, backup = mark.read_text(encoding="utf-8").strip().partition(" ")
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError):
        started, backup = "?", "?"  # unreadable: still a restore that did not finish
    raise RestoreUnfinishedError(
        f"a `jaga hub restore` of {data} from {backup or '?'} (begun {started or '?'}) stopped"
        " before it finished: run it again, or run `jaga hub renew-log-epoch --data"
        f" {data}` then `jaga hub purge-expired --data {data}`, before serving (devices"
        " would otherwise never resend what the rewound database lost)"
    )
