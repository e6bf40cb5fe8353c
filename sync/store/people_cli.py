"""``jaga store people`` and ``jaga store erase``: who is enrolled on this device, and the
erasure of one of them, here and (through its tombstone) on the hub and every device.

An erasure request reaches a kiosk that may be offline for days; the operator must be able
to carry it out there, not only in the hub's admin. The listing shows no biometric data:
ids, names, the consent and how many templates there are.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from sync.errors import RecordNotFoundError
from sync.store.clock import format_timestamp

Command = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def add_people_commands(command: Command) -> None:
    people = command("people", _people, "who is enrolled here, with their consent")
    people.add_argument("--json", action="store_true", help="one JSON object per person")
    erase = command("erase", _erase, "erase a person here; a tombstone takes it everywhere")
    erase.add_argument("external_id", metavar="ID", help="their badge or staff number")
    erase.add_argument("--reason", required=True, help="why (kept in the audit trail)")


def _people(args: argparse.Namespace) -> int:
    from sync.store.cli import open_store_of

    with open_store_of(args) as store:
        listing = store.people.listing()
    for person, templates in listing:
        row = _row(person, templates)
        print(json.dumps(row) if args.json else "  ".join(str(v) for v in row.values()))
    if not args.json:
        print(f"{len(listing)} people enrolled")
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
    from sync.store.cli import _operator, open_store_of

    with open_store_of(args) as store:
        person = store.people.by_external_id(args.external_id)
        if person is None:
            raise RecordNotFoundError(f"nobody enrolled here has the id {args.external_id!r}")
        store.people.erase(person.person_uid, operator=_operator(), reason=args.reason)
    print(f"erased {args.external_id} ({person.person_uid}): templates and photos removed; "
          "a tombstone is queued for the hub and every device")  # fmt: skip
    return 0
