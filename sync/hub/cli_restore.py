"""``jaga hub renew-log-epoch``, after a restore of the hub's database, and the erasure
journal applied again (``sync.hub.erasure_replay``) by it and at each ``jaga hub run`` start,
then the erasures the journal lacks journaled (``sync.hub.erasure_catchup``);
``jaga hub rejournal-erasures``, after a restore of the journal from an older copy."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sync import plural
from sync.hub.data_dir import default_data_dir
from sync.hub.restore_mark import note_renewed, renewing_apart_from_a_restore

if TYPE_CHECKING:
    from sync.hub.erasure_replay import Reapplied
    from sync.hub.log_epoch import Renewals


def renew_log_epoch(args: argparse.Namespace) -> int:
    """The command: refused while a ``jaga hub restore`` of the folder is under way."""
    from sync.hub.bootstrap import check_data_dir, check_database_url, check_hub_exists

    data = args.data or default_data_dir()
    check_database_url()
    check_data_dir(data)
    check_hub_exists(data)  # before the lock file is made: no folder of no hub is touched
    with renewing_apart_from_a_restore(data):
        return renew_after_restore(data, args)


def renew_after_restore(data: Path, args: argparse.Namespace) -> int:
    """Renew the epochs of ``data``'s hub, the erasure journal applied again first; 1 when
    the journal could not be read whole. A restore's mark then asks only for the purge."""
    from sync.hub.bootstrap import prepare

    environment = prepare(data)
    try:
        from sync.hub.log_epoch import renew_log_epochs

        replayed = reapply_erasures(data, at_start=False, other_hubs=args.accept_other_hubs)
        done = renew_log_epochs(args.restored_at, again=args.again)
    finally:
        environment.stop()
    if done.already is not None:
        _say_already(done.already)
    else:
        _say_renewed(done, args.restored_at is not None)
    # Lines skipped as another hub's may be this hub's own (its hub-id file lost): the
    # command fails so the operator looks, as it does when the journal cannot be read.
    if replayed is None or replayed.other_hub:
        return 1
    note_renewed(data)  # a restore stopped before this step waits for the purge now
    return 0


def _say_already(at: datetime) -> None:
    print(
        "the change log's epochs are already renewed for this restore (by this command at"
        f" {at.isoformat()}; PostgreSQL shows no restore of the database since): renewed"
        " none again, which would only have every device push again all it holds and pull"
        " its site from the start a second time. After a restore PostgreSQL cannot show (a"
        " file-system snapshot of its data folder put back), run it with --again"
    )


def _say_renewed(done: Renewals, restored_at_given: bool) -> None:
    print(
        f"renewed the change log's epoch of {plural.counted(len(done.renewed), 'site')}: at their"
        " next sync,"
        " devices push again what they authored and pull their site again from the start"
    )
    for slug, at in done.kept.items():
        print(
            f"  site {slug}: kept, renewed by the hub itself at {at.isoformat()},"
            " not before the --restored-at given"
        )
    for slug, at in done.by_hub.items():
        if slug not in done.renewed:
            continue
        if not restored_at_given:
            print(
                f"  site {slug}: renewed again (the hub itself had renewed it at"
                f" {at.isoformat()}; if that was after the restore, --restored-at would have"
                " kept it)"
            )
        else:
            print(
                f"  site {slug}: renewed again (the hub itself had renewed it at"
                f" {at.isoformat()}, before the --restored-at given)"
            )


def rejournal_erasures(args: argparse.Namespace) -> int:
    """Clear every erased person's journaled mark, then replay the journal (which marks
    again those its lines name) and catch it up (which writes the rest): the step after an
    older copy of the journal was put in place, instead of SQL typed by hand. Exit 1 when
    the journal could not be written (the marks stay cleared: the next start, or this
    command again, journals them). Exit 1, clearing nothing, when the journal cannot be
    read, or its lines name another hub (``--accept-other-hubs`` not given): both looked
    for first, with the flag too; cleared marks would have the next start's catch-up
    journal the people those lines name a second time, under this hub's id."""
    from sync.hub.bootstrap import prepare

    data = args.data or default_data_dir()
    environment = prepare(data)
    try:
        # Not at the top: its Django models can be imported only once prepare() set Django up.
        from sync.hub.erasure_catchup import forget_journaled

        if not _read_first(data, accept_other_hubs=args.accept_other_hubs):
            return 1
        cleared = forget_journaled()
        print(f"cleared the journaled mark of {plural.people(cleared)} erased")
        replayed = reapply_erasures(
            data, at_start=False, other_hubs=args.accept_other_hubs, rejournal=True
        )
    finally:
        environment.stop()
    return 0 if replayed is not None and not replayed.other_hub else 1


def _read_first(data: Path, *, accept_other_hubs: bool) -> bool:
    """Whether the journal of ``data`` can be read and every line of it is this hub's (or
    ``accept_other_hubs``); when not, False, said on stderr with the way on (no mark cleared
    yet). Read with the flag too: a journal it cannot read would leave every mark cleared."""
    from sync.hub.erasure_journal import JOURNAL_FILE
    from sync.hub.erasure_replay import other_hub_lines

    path = data / JOURNAL_FILE
    try:
        found = other_hub_lines(path)
    except Exception as error:  # whatever the cause, no mark may be cleared
        print(
            f"jaga hub: could not read the erasure journal {path} or the files naming its"
            f" hub ({type(error).__name__}: {error}): cleared no journaled mark; make them"
            " readable, then run `jaga hub rejournal-erasures` again",
            file=sys.stderr,
        )
        return False
    if found.other_hub and not accept_other_hubs:
        print("jaga hub: cleared no journaled mark: the journal names another hub", file=sys.stderr)
        _say_other_hub(data, found, "rejournal-erasures")
        return False
    return True


def reapply_erasures(
    data: Path, *, at_start: bool, other_hubs: bool = False, rejournal: bool = False
) -> Reapplied | None:
    """Erase again the people the hub's erasure journal names and the database holds live
    (``sync.hub.erasure_replay``), saying how many, and record what it did for
    ``/metrics`` (``erasure_journal.record_replay``); None, said on stderr, when the journal
    could not be read or applied, whatever the error (a start goes on to serve, the command
    renews the epochs and fails). ``at_start``: by ``jaga hub run`` before it serves, which
    says nothing when there was nothing to do, and closes its connections (none may cross a
    fork). ``other_hubs``: apply the lines of another hub too, and keep their hubs as this
    hub's own for every later replay (``erasure_journal.accept_hubs``; None, said, when
    they cannot be kept). Then journals the erasures the database holds and the journal
    lacks (``catch_up``; None when it cannot). ``rejournal``: by ``rejournal-erasures``,
    after every journaled mark was cleared: no catch-up when lines of another hub were
    skipped (it would journal the people they name again, under this hub's id)."""
    from django.db import connections

    from sync.hub.erasure_journal import (
        ACCEPTED_FILE,
        JOURNAL_FILE,
        JournalFileError,
        accept_hubs,
        record_replay,
    )
    from sync.hub.erasure_replay import reapply_journal

    path = data / JOURNAL_FILE
    try:
        done = reapply_journal(path, other_hubs=other_hubs)
        caught_up = _catch_up_unless_held(data, held=rejournal and done.other_hub > 0)
    except Exception as error:
        record_replay(data, None)
        # The file at fault first: hub-id or accepted-hubs (JournalFileError), else the journal.
        if isinstance(error, JournalFileError):
            what, fix = f"{error.path}, which the erasure journal's replay needs", "fix it"
            cause = str(error)
        else:
            what, fix = f"the erasure journal {path}", "make it a readable file"
            cause = f"{type(error).__name__}: {error}"
        print(
            f"jaga hub: could not read {what} ({cause}): erasures the restored database lost"
            f" are not applied again; {fix}, then run `jaga hub renew-log-epoch` (again) if"
            " the database was restored",
            file=sys.stderr,
        )
        return None
    finally:
        if at_start:
            connections.close_all()
    counts = {"applied": done.count, "unreadable": done.unreadable, "other_hub": done.other_hub,
              "no_site": done.no_site + done.still_kept}  # fmt: skip
    record_replay(data, counts)
    if done.accepted:
        try:
            accept_hubs(data, done.accepted)
        except (OSError, JournalFileError) as error:
            print(
                f"jaga hub: could not keep the hubs accepted in {data / ACCEPTED_FILE}"
                f" ({error}): their lines were applied, but the next replay skips them again;"
                " free the data folder, then run the command with --accept-other-hubs again",
                file=sys.stderr,
            )
            return None
        print(
            f"accepted the lines of {plural.counted(len(done.accepted), 'other hub')} as this"
            " hub's own, now and"
            f" at every later replay ({data / ACCEPTED_FILE})"
        )
    _say_applied(path, done, at_start=at_start, rejournal=rejournal)
    for slug, count in done.by_site.items():
        print(f"  site {slug}: {plural.counted(count, 'erasure')} applied again")
    if done.unreadable:
        print(
            f"jaga hub: skipped {plural.counted(done.unreadable, 'line')} of the erasure journal"
            f" {path} that could not be read (torn by a crash, or damaged)",
            file=sys.stderr,
        )
    if done.no_site:
        print(
            f"jaga hub: kept {plural.counted(done.no_site, 'journaled erasure')} of sites the"
            " database does not hold (made after the backup), applied when a site of that slug"
            " is made",
            file=sys.stderr,
        )
    if done.other_hub:
        _say_other_hub(data, done, "rejournal-erasures" if rejournal else "renew-log-epoch")
    return done if caught_up else None


def _say_applied(path: Path, done: Reapplied, *, at_start: bool, rejournal: bool) -> None:
    """How many people the replay of the journal at ``path`` erased again: said always by
    ``renew-log-epoch``, only when any by a start or ``rejournal-erasures``."""
    if rejournal and done.count:
        # The database was not restored: the copy named people it still held live.
        print(
            f"erased again {plural.people(done.count)} the erasure journal ({path}) names"
            " and the database held live; devices pull the tombstones"
        )
    elif done.count or not (at_start or rejournal):
        print(
            f"applied again {plural.counted(done.count, 'erasure')} from the erasure journal"
            f" ({path}) that the"
            " database had lost (restored from a backup older than them); devices pull the"
            " tombstones"
        )


def _say_other_hub(data: Path, done: Reapplied, command: str) -> None:
    """On stderr: the lines of another hub the replay skipped, their likely causes, and
    ``command`` with ``--accept-other-hubs`` as the way to apply them."""
    from sync.hub.erasure_journal import ACCEPTED_FILE, HUB_ID_FILE

    listed = ", ".join(str(uid) for uid in done.other_hub_listed)
    more = done.other_hub - len(done.other_hub_listed)
    print(
        f"jaga hub: skipped {plural.counted(done.other_hub, 'line')} of the erasure journal"
        f" naming another hub (those people are not erased again): {listed}"
        + (f" and {more} more" if more else "")
        + f". Likely causes: another hub's journal was joined to this one (a staging"
        f" hub's, the wrong file), or another host of this hub whose hub-id differs"
        f" (joined with `cat`: every host of one hub needs the same {HUB_ID_FILE} file),"
        f" or this hub's {data / HUB_ID_FILE} file was lost or replaced (put it back"
        " from the backup that holds the journal), or the lines"
        " were written before that file with an earlier secret key. If they are this"
        " hub's own erasures, or a journal you joined on purpose, run `jaga hub"
        f" {command} --accept-other-hubs` (their hubs are then kept as this"
        f" hub's own, in {data / ACCEPTED_FILE}); keep the lines either way",
        file=sys.stderr,
    )


def _catch_up_unless_held(data: Path, *, held: bool) -> bool:
    """``catch_up``, or when ``held`` (lines of another hub skipped after every journaled
    mark was cleared) False, saying why on stderr."""
    if not held:
        return catch_up(data)
    print(
        "jaga hub: journaled none of the erasures the journal lacks: the lines skipped as"
        " another hub's may name them, and they would be journaled a second time. Their marks"
        " stay cleared: put the hub-id file back, or accept their hubs, then run `jaga hub"
        " rejournal-erasures` again before the hub serves (a start journals them all)",
        file=sys.stderr,
    )
    return False


def catch_up(data: Path) -> bool:
    """Journal the erasures the database holds and the journal of ``data`` lacks (lost
    lines, erasures older than the journal: ``sync.hub.erasure_catchup``), saying how many
    when any; False, said on stderr, when they cannot be written (the batches before are
    kept), whatever the error: a start goes on to serve, the command fails."""
    from sync.hub.erasure_catchup import catch_up_journal
    from sync.hub.erasure_journal import JOURNAL_FILE, JournalFileError, JournalNotAFileError

    path = data / JOURNAL_FILE
    try:
        count = catch_up_journal(data)
    except (OSError, JournalFileError, JournalNotAFileError) as error:
        print(
            f"jaga hub: could not journal in {path} the erasures the database holds and the"
            f" journal lacks ({type(error).__name__}: {error}): they stand, but a restore of the"
            " database from a backup older than them would bring those people back; free the"
            " data folder (or put hub-id back), then run `jaga hub renew-log-epoch` or start"
            " the hub again",
            file=sys.stderr,
        )
        return False
    if count:
        print(
            f"journaled {plural.counted(count, 'erasure')} the erasure journal ({path}) lacked"
            " (their lines lost,"
            " or made before the journal existed)"
        )
    return True
