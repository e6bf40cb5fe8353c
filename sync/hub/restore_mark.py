"""A ``jaga hub restore`` that stopped before it finished, kept in the data folder.

``pg_restore`` commits the backup before the steps that follow it (``renew-log-epoch``:
the erasure journal applied again, every site's epoch renewed). A restore killed between
the two (a power cut, Ctrl-C, ``kill``) left a database rewound with the old epochs, and
``jaga hub run`` served it: a device that pushed since the backup keeps its checkpoint past
the rewound log, never sends again what the hub lost, and an erasure the backup lacks
stays undone. So the restore marks the folder before it loads (``RESTORE_MARK``), durably;
``renew-log-epoch`` (the restore's own, or one run by hand) notes on the mark that it
renewed, and the mark goes once ``purge-expired`` then succeeded (a backup holds what
retention deleted since: a hub served before the purge handed it out again), or when the
load was rolled back; ``jaga hub run`` refuses while it is there. A pg_restore that outlived
a killed restore may still commit, so a mark is never taken as "nothing was loaded".

A ``renew-log-epoch`` run by hand beside a restore would renew before the load rewinds the
epochs again, then take the mark away; a ``purge-expired`` (the daily timer's) begun before
the load purges the database the load replaces, then takes the mark away once the restore
renewed, though the restore's own purge never ran (cut off, or refused by the clock check).
The restore holds ``RESTORE_LOCK_FILE`` exclusive from before it marks until it is done,
and either command holds it shared while it runs, so each refuses while a restore works,
and a restore while either does (``RestoreUnderWayError``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sync.errors import SyncError

if TYPE_CHECKING:
    from sync.filelock import HeldLock

RESTORE_MARK = "restore-unfinished"
RESTORE_LOCK_FILE = "hub-restore.lock"  # a restore exclusive; renew-log-epoch, purge-expired shared
_RENEWED = "renewed"  # the mark's second line once renew-log-epoch succeeded


class RestoreUnfinishedError(SyncError):
    """A ``jaga hub restore`` of the data folder stopped before ``renew-log-epoch`` and
    ``purge-expired`` both succeeded."""


class RestoreUnderWayError(SyncError):
    """A ``jaga hub restore`` and a ``renew-log-epoch`` of one data folder at once."""


def renewing_apart_from_a_restore(data: Path) -> AbstractContextManager[None]:
    """Held through a ``renew-log-epoch`` run as a command; ``RestoreUnderWayError``, nothing
    done, while a ``jaga hub restore`` of ``data`` is under way."""
    return _apart_from_a_restore(
        data,
        "it renews the epochs itself once its backup is loaded (renewed now, they would be"
        " rewound by the load); renewed nothing",
    )


def purging_apart_from_a_restore(data: Path) -> AbstractContextManager[None]:
    """Held through a ``purge-expired`` run as a command; ``RestoreUnderWayError``, nothing
    done, while a ``jaga hub restore`` of ``data`` is under way."""
    return _apart_from_a_restore(
        data,
        "it purges itself once its backup is loaded (purged now, the load would bring back"
        " what this purge deleted); purged nothing",
    )


@contextmanager
def _apart_from_a_restore(data: Path, refused: str) -> Iterator[None]:
    from sync.filelock import HeldLock

    data.mkdir(parents=True, exist_ok=True)
    lock = HeldLock(data / RESTORE_LOCK_FILE)
    try:
        if not lock.take(exclusive=False):
            raise RestoreUnderWayError(f"a `jaga hub restore` of {data} is under way: {refused}")
        yield
    finally:
        lock.release()


def take_restore_lock(data: Path) -> HeldLock:
    """The lock a restore holds until it is done; ``RestoreUnderWayError`` while a
    ``renew-log-epoch`` runs on ``data`` (its renewal would be rewound by the load, then
    take the mark away), or a ``purge-expired`` (its purge would be undone by the load, and
    it would take the mark away all the same)."""
    from sync.filelock import HeldLock

    lock = HeldLock(data / RESTORE_LOCK_FILE)
    if not lock.take(exclusive=True):
        lock.release()
        raise RestoreUnderWayError(
            f"`jaga hub renew-log-epoch` or `jaga hub purge-expired` runs on {data}: wait for"
            " it to end; restored nothing"
        )
    return lock


def mark_restore(data: Path, backup: Path) -> None:
    """Note, durably, that a restore of ``backup`` into ``data``'s database begins.
    Raises OSError (nothing is loaded then)."""
    from sync.durable import replace_private

    started = datetime.now(UTC).isoformat(timespec="seconds")
    replace_private(data / RESTORE_MARK, f"{started} {backup.absolute()}\n", folder_owner=True)


def clear_restore_mark(data: Path) -> None:
    """The restore is done with (rolled back). Raises OSError."""
    from sync.durable import fsync_path

    mark = data / RESTORE_MARK
    if mark.exists():
        mark.unlink()
        fsync_path(data)


def note_renewed(data: Path) -> None:
    """``renew-log-epoch`` succeeded: a restore's mark (when there is one) now asks only for
    ``purge-expired``. Raises OSError."""
    from sync.durable import replace_private

    begun = _read_mark(data)
    if begun is None:
        return
    renewed = datetime.now(UTC).isoformat(timespec="seconds")
    text = f"{begun[0]} {begun[1]}\n{_RENEWED} {renewed}\n"
    replace_private(data / RESTORE_MARK, text, folder_owner=True)


def clear_after_purge(data: Path) -> None:
    """``purge-expired`` succeeded: a restore's mark goes when its renewal is done too (a
    purge before the renewal finishes nothing). Raises OSError."""
    begun = _read_mark(data)
    if begun is not None and begun[2]:
        clear_restore_mark(data)


def _read_mark(data: Path) -> tuple[str, str, bool] | None:
    """When the restore began, its backup, and whether renew-log-epoch succeeded since;
    None without a mark. An unreadable mark reads as a restore not renewed."""
    try:
        lines = (data / RESTORE_MARK).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return "?", "?", False
    started, _, backup = (lines[0] if lines else "").strip().partition(" ")
    renewed = any(line.startswith(f"{_RENEWED} ") for line in lines[1:])
    return started or "?", backup or "?", renewed


def check_no_unfinished_restore(data: Path) -> None:
    """``RestoreUnfinishedError`` naming the restore and what to run when ``data`` holds a
    restore that stopped before it finished."""
    begun = _read_mark(data)
    if begun is None:
        return
    started, backup, renewed = begun
    if renewed:
        raise RestoreUnfinishedError(
            f"a `jaga hub restore` of {data} from {backup} (begun {started}) is renewed but"
            f" not purged: run `jaga hub purge-expired --data {data}` (with --trust-clock"
            " once you checked the host's clock, when it says the clock is not trusted)"
            " before serving (the backup holds decisions retention deleted since, and"
            " erasure reasons it forgot)"
        )
    raise RestoreUnfinishedError(
        f"a `jaga hub restore` of {data} from {backup} (begun {started}) stopped"
        " before it finished: run it again, or run `jaga hub renew-log-epoch --data"
        f" {data}` then `jaga hub purge-expired --data {data}`, before serving (devices"
        " would otherwise never resend what the rewound database lost)"
    )
