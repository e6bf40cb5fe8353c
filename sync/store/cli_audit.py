"""``jaga audit verify`` and ``jaga audit show``: the store's audit trail from a shell.

``show`` only reads: it appends no entry for being run, as neither ``store export`` nor
``store people`` (which print names) does. The trail records what changes the store or copies
the whole of it (``store.backed_up``); it names no person verified (``sync.store.audit``), so
reading it shows less than those reads do, and an entry per reading would move the head an
operator records and grow the chain the hub anchors with every look at it.

Exit codes: 0 done, 1 the store refused or a check failed (the message says why), 2 usage,
4 ``audit verify --head``: the chain is whole, but the recorded head is one retention deleted
once the hub held it, so it cannot be checked here (check it on the hub; ``OUT_OF_REACH``),
130 Ctrl-C at the passphrase prompt ("no store passphrase given").
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

from sync import plural
from sync.cli_errors import MAX_COUNT, positive_count, reporting, whole_number
from sync.store.cli import common_options, open_store_of

# The audit trail's modules (SQLCipher, numpy, the wire models) load when a command runs,
# not for `jaga audit --help`.

OUT_OF_REACH = 4  # audit verify: the recorded head cannot be checked here, not a break
SHOWN = 50  # audit show: entries a page holds unless told


def register_audit(subparsers: argparse._SubParsersAction[Any]) -> None:
    audit = subparsers.add_parser("audit", help="the store's hash-chained audit trail")
    commands = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = commands.add_parser(
        "verify", parents=[common_options()], help="check every entry of the hash chain"
    )
    verify.add_argument(
        "--head",
        type=audit_head,
        metavar="SEQUENCE:HASH",
        help="a head this command printed before, recorded off the device: it must still be"
        " in the chain, unchanged (what shows the newest entries removed, or the chain rewritten)",
    )
    verify.set_defaults(handler=reporting(_audit_verify))
    _add_show(commands)


def audit_head(text: str) -> tuple[int, str]:
    sequence, _, digest = text.partition(":")
    if not (sequence.isdigit() and int(sequence) >= 1 and re.fullmatch("[0-9a-f]{64}", digest)):
        raise argparse.ArgumentTypeError(
            f"expected SEQUENCE:HASH as audit verify prints its head, got {text!r}"
        )
    return int(sequence), digest


def _audit_verify(args: argparse.Namespace) -> int:
    from sync.store.audit_times import time_warnings
    from sync.store.kiosk_waiting import waiting_note

    with open_store_of(args) as store:
        report = store.audit.verify(args.head)
        sequence, digest = store.audit.head()
        checkpoint = store.audit.checkpoint().sequence
        waiting = waiting_note(store.path, store.key, store.database.config, "kiosk decision")
        times = time_warnings(store)
    _print_events(report.events)
    if waiting is not None:  # decided and told at the door, not yet in the chain verified
        print(f"WARNING: outside the audit chain: {waiting}")
    for warning in times:  # the hashes vouch for the text, not for the clock that dated it
        print(f"WARNING: {warning}")
    if report.problem is not None:
        print(f"audit chain BROKEN at entry {report.first_bad_sequence}: {report.problem}")
        print(f"{plural.entries(report.entries)} verified before it")
        return 1
    since = (
        f" from entry {checkpoint + 1} (1-{checkpoint} deleted by retention once the hub held them)"
        if checkpoint
        else ""
    )
    if report.events:
        print(f"the audit chain itself is whole: {plural.entries(report.entries)}{since}")
        return 1
    print(f"audit chain ok: {plural.entries(report.entries)}{since}; head {sequence} {digest}")
    if report.out_of_reach is not None:
        print(
            f"recorded head {args.head[0]} cannot be checked here, check it on the hub:"
            f" {report.out_of_reach}; record a new head ({sequence}:{digest})"
        )
        return OUT_OF_REACH
    if args.head:
        print(f"recorded head {args.head[0]} found")
    else:
        print(
            "the chain alone does not show its newest entries removed, or all rewritten: a"
            " registered device's syncs anchor it at the hub (jaga sync status); otherwise record"
            f" the head off this device and check against it with --head {sequence}:{digest}"
        )
    return 0


def _print_events(problems: tuple[str, ...]) -> None:
    """The access events that do not match the chain: edited or added outside Jaga, what
    the attendance export and the hub would take for decisions the kiosk made."""
    from sync.store.audit import terminal_text

    if not problems:
        return
    events = plural.counted(len(problems), "access event")
    print(f"access events BROKEN: {events} not as the audit chain recorded")
    for problem in problems:
        print(f"  {terminal_text(problem)}")


def _add_show(commands: argparse._SubParsersAction[Any]) -> None:
    show: argparse.ArgumentParser = commands.add_parser(
        "show",
        parents=[common_options()],
        help=f"the entries, oldest first (default: the newest {SHOWN})",
    )
    where = show.add_mutually_exclusive_group()
    where.add_argument(
        "--last", type=positive_count, metavar="N", help=f"the newest N (default {SHOWN})"
    )
    where.add_argument(
        "--after", type=_sequence, metavar="SEQ", help="those after entry SEQ (0: from the first)"
    )
    show.add_argument(
        "--limit",
        type=positive_count,
        metavar="N",
        help=f"with --after: at most N (default {SHOWN})",
    )
    show.add_argument(
        "--json",
        action="store_true",
        help="one JSON object a line (sequence, at, actor, action, subject, details,"
        " entry_hash); notes go to stderr",
    )

    def checked(args: argparse.Namespace) -> int:
        if args.limit is not None and args.after is None:
            show.error("--limit pages forward with --after SEQ (--after 0: from the first)")
        return _audit_show(args)

    show.set_defaults(handler=reporting(checked))


# An entry's sequence, or 0 for before the first.
_sequence = whole_number(0, MAX_COUNT, expected="an entry's sequence (a whole number from 0)")


def _audit_show(args: argparse.Namespace) -> int:
    from sync.store.audit import page_problem

    with open_store_of(args) as store:
        checkpoint = store.audit.checkpoint().sequence
        head = store.audit.head()[0]
        if args.after is None:
            rows, more = store.audit.newest_links(args.last or SHOWN), False
        else:
            limit = args.limit or SHOWN
            page = store.audit.links(args.after, limit + 1)  # one more: is there more?
            rows, more = page[:limit], len(page) > limit
    note = _note_to(sys.stderr if args.json else sys.stdout)
    if checkpoint and rows and rows[0][0] == checkpoint + 1:
        note(
            f"entries 1-{checkpoint} were deleted by retention once the hub held them: the"
            f" kept chain begins at entry {checkpoint + 1}"
        )
    for row in rows:
        print(_json_line(row) if args.json else _text_line(row))
    if not rows:
        after = "" if args.after is None else f" after {args.after}"
        note(f"no entries{after} (the newest is {head})")
    elif more:
        note(f"more follow: jaga audit show --after {rows[-1][0]}")
    # Shown is not vouched for: entries edited in the file would read as genuine.
    problem = page_problem(rows)
    if problem is not None:
        print(
            f"audit chain BROKEN among these entries: {problem}; what is shown from there on"
            " is not what was recorded (jaga audit verify checks the whole chain)",
            file=sys.stderr,
        )
        return 1
    return 0


def _note_to(stream: TextIO) -> Callable[[str], None]:
    """Notes go to stderr under ``--json``, so that stdout holds only entries."""
    return lambda text: print(text, file=stream)


def _text_line(row: tuple[Any, ...]) -> str:
    """``SEQ  AT  ACTOR  ACTION  SUBJECT  DETAILS``, the time to the second, typed text
    escaped (:func:`~sync.store.audit.terminal_text`)."""
    from sync.store.audit import terminal_text

    sequence, at, actor, action, subject, details = row[:6]
    fields = (actor, action, subject, details)
    return "  ".join((str(sequence), f"{at[:19]}Z", *(terminal_text(str(f)) for f in fields)))


def _json_line(row: tuple[Any, ...]) -> str:
    """One entry as stored (``at`` as hashed: UTC, microseconds, ``Z``), ASCII only, so no
    character typed into it reaches a terminal raw."""
    sequence, at, actor, action, subject, details, _, entry_hash = row
    entry = {
        "sequence": sequence,
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": _details(details),
        "entry_hash": entry_hash,
    }
    return json.dumps(entry)


def _details(text: str) -> Any:
    """The entry's details as the object they were recorded as; as the text stored where
    that is no longer JSON (the file edited: the page check says where the chain broke)."""
    try:
        return json.loads(text)
    except ValueError:
        return text
