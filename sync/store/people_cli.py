"""``jaga store people`` and ``jaga store erase``: who is enrolled on this device, and the
erasure of one of them, here and (through its tombstone) on the hub and every device.

An erasure request reaches a kiosk that may be offline for days; the operator must be able
to carry it out there, not only in the hub's admin. The listing shows no biometric data:
ids, names, the consent and how many templates there are. Its lines show control characters
escaped (``sync.store.audit.terminal_text``; ``--json`` escapes them as JSON does): an id or
a name pulled from the hub, or enrolled before badges were checked, may hold a line feed
that would forge a row, or an escape that would act on the terminal.

``erase`` takes a badge as ``People.by_external_id`` finds it (exactly, else as it reads:
another case, spaces around it), or a person's uid, as the listing shows it: the way to
name one of several people whose ids read alike, or an id that cannot be typed.

An erasure is committed at once, but the person's photo and templates leave the store's file
only when a checkpoint can fold it in, which another process reading the store (the kiosk,
an export, a backup) holds back. ``erase`` and ``purge-expired`` wait a while for it, then say
plainly that the data is still in the file and exit with ``PURGE_PENDING``: not 0, which a
scheduler would take for "done", and not 1, "refused", since the erasure stands (running it
again finds nobody to erase). The store remembers the purge it owes; the next open or write of
it, by any process, runs it, and ``jaga store info`` tells whether it has.

Both also delete a store that a restore replaced and was killed before deleting
(``sync.store.backup_files.replaced_stores``): it still holds everyone it held, under the same
key, and the erasure would not reach it. The restore it was kept for is over: it cannot run
while the store is open, as it is here.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sync import limits, plural
from sync.errors import RecordNotFoundError
from sync.store.clock import format_timestamp

# The store's modules (SQLCipher, numpy) and the protocol's (pydantic) are imported when a
# command runs, not with `jaga store`'s parser, which this module's options are part of.
if TYPE_CHECKING:
    from sync.store.database import StoreConfig
    from sync.store.store import Store

Command = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]
PURGE_PENDING = 3  # exit status: erased, but the data is still in the store's file


def add_purge_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--purge-wait",
        type=_seconds,
        default=limits.PURGE_WAIT_S,
        metavar="SECONDS",
        help="how long to wait for another process's read to end, so that the erased data"
        f" leaves the store's file now (default {limits.PURGE_WAIT_S:g})",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {text!r}")
    return value


def purge_config(args: argparse.Namespace) -> StoreConfig:
    from sync.store.database import StoreConfig

    return StoreConfig(purge_wait_s=args.purge_wait)


def purge_status(store: Store) -> int:
    """Say so when erased data is still in the store's file; the command's exit status."""
    since = store.database.owed_purge_since()
    if since is None:
        return 0
    print(
        "NOT YET PURGED: another process is reading the store (the kiosk, an export, a"
        " backup), so what was erased is still in the store's file, encrypted, since"
        f" {since}. It is purged once that read ends: the next open or write of the store, by"
        " any process, runs it; `jaga store info` tells when it has."
    )
    return PURGE_PENDING


def delete_replaced_stores(store: Store) -> None:
    """Delete, and name, the stores killed restores replaced and left beside ``store``."""
    from sync.store.backup_files import remove_replaced_stores

    if deleted := remove_replaced_stores(store.path):
        print(
            f"deleted {', '.join(path.name for path in deleted)}: a store a restore replaced"
            " and was stopped before deleting, which still held everyone it held"
        )


def add_people_commands(command: Command) -> None:
    people = command("people", _people, "who is enrolled here, with their consent")
    people.add_argument("--json", action="store_true", help="one JSON object per person")
    erase = command("erase", _erase, "erase a person here; a tombstone takes it everywhere")
    erase.add_argument(
        "external_id",
        metavar="ID",
        help="their badge or staff number, or their uid (as `jaga store people` lists it;"
        " for a person pulled but set aside here, their badge held by someone else, the"
        " uid the sync log names)",
    )
    erase.add_argument(
        "--reason",
        required=True,
        type=_erasure_reason,
        help=f"why (kept in the audit trail and the tombstone; at most"
        f" {limits.MAX_ERASURE_REASON_CHARS} characters)",
    )
    add_purge_wait(erase)


def _erasure_reason(text: str) -> str:
    """The reason as typed, unless it would show other words than stored: its tombstone
    carries it as written (an erasure applies whatever its reason says), so it is refused
    here, where it can be typed again (``sync.protocol.names``)."""
    from sync.protocol.names import free_text_problem

    if problem := free_text_problem(text, "the reason"):
        raise argparse.ArgumentTypeError(problem)
    return text


def _people(args: argparse.Namespace) -> int:
    from sync.store.audit import terminal_text
    from sync.store.cli_common import open_store_of

    with open_store_of(args) as store:
        listing = store.people.listing()
    for person, templates in listing:
        row = _row(person, templates)
        shown = "  ".join(terminal_text(str(value)) for value in row.values())
        print(json.dumps(row) if args.json else shown)
    if not args.json:
        print(f"{plural.people(len(listing))} enrolled")
    return 0


def _row(person: Any, templates: int) -> dict[str, Any]:
    return {
        "external_id": person.external_id,
        "name": person.display_name,
        "site": person.site,
        "consent": person.consent.text_version,
        "retain_until": format_timestamp(person.consent.retain_until),
        "templates": templates,
        "person_uid": person.person_uid,
    }


def _erase(args: argparse.Namespace) -> int:
    from sync.store.audit import terminal_text
    from sync.store.cli_common import open_store_of, operator_name

    with open_store_of(args, purge_config(args)) as store:
        person_uid = _person_uid_of(store, args.external_id)
        purged = store.people.erase(person_uid, operator=operator_name(), reason=args.reason)
        named = terminal_text(args.external_id)
        print(f"erased {named} ({person_uid}): templates and photos removed"
              f"{' from the store and its file' if purged else ' from the store'};"
              " a tombstone is queued for the hub and every device")  # fmt: skip
        delete_replaced_stores(store)
        return purge_status(store)


def _person_uid_of(store: Store, named: str) -> str:
    """The uid of the person ``named`` by their badge, else by their uid."""
    person = store.people.by_external_id(named)
    if person is not None:
        return person.person_uid
    if store.people.only_set_aside(named):  # pulled, set aside: their badge names its holder
        return named
    try:
        return store.people.get(named).person_uid
    except RecordNotFoundError:
        raise RecordNotFoundError(f"nobody enrolled here has the id {named!r}") from None
