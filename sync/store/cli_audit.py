"""``jaga audit verify``: the store's audit trail from a shell.

Exit codes: 0 done, 1 the store refused or a check failed (the message says why), 2 usage,
4 ``audit verify --head``: the chain is whole, but the recorded head is one retention deleted
once the hub held it, so it cannot be checked here (check it on the hub; ``OUT_OF_REACH``),
130 Ctrl-C at the passphrase prompt ("no store passphrase given").
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from sync.cli_errors import reporting
from sync.store.cli import common_options, open_store_of

OUT_OF_REACH = 4  # audit verify: the recorded head cannot be checked here, not a break


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


def audit_head(text: str) -> tuple[int, str]:
    sequence, _, digest = text.partition(":")
    if not (sequence.isdigit() and int(sequence) >= 1 and re.fullmatch("[0-9a-f]{64}", digest)):
        raise argparse.ArgumentTypeError(
            f"expected SEQUENCE:HASH as audit verify prints its head, got {text!r}"
        )
    return int(sequence), digest


def _audit_verify(args: argparse.Namespace) -> int:
    with open_store_of(args) as store:
        report = store.audit.verify(args.head)
        sequence, digest = store.audit.head()
        checkpoint = store.audit.checkpoint().sequence
    if not report.ok:
        print(f"audit chain BROKEN at entry {report.first_bad_sequence}: {report.problem}")
        print(f"{report.entries} entries verified before it")
        return 1
    since = (
        f" from entry {checkpoint + 1} (1-{checkpoint} deleted by retention once the hub held them)"
        if checkpoint
        else ""
    )
    print(f"audit chain ok: {report.entries} entries{since}; head {sequence} {digest}")
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
