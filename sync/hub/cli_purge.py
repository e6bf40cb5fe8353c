"""``jaga hub purge-expired``: consent retention, then decision retention, behind the clock
check (``sync.hub.retention.purge_all``), and what it did in words; then the erasures the
erasure journal lacks are journaled (``cli_restore.catch_up``), so a line lost since the
hub's start is written within a day even if it is not started again."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from sync import plural
from sync.hub.data_dir import default_data_dir
from sync.hub.restore_mark import clear_after_purge, purging_apart_from_a_restore

if TYPE_CHECKING:
    from sync.hub.clock_check import ClockVerdict
    from sync.hub.retention import DecisionReport


def purge_expired(args: argparse.Namespace) -> int:
    """The command: refused while a ``jaga hub restore`` of the folder is under way (begun
    before its load, it would purge the database the load replaces, then take the restore's
    mark away: ``sync.hub.restore_mark``)."""
    from sync.hub.bootstrap import check_data_dir, check_database_url, check_hub_exists

    data = args.data or default_data_dir()
    check_database_url()
    check_data_dir(data)
    check_hub_exists(data)  # before the lock file is made: no folder of no hub is touched
    with purging_apart_from_a_restore(data):
        return purge_data(data, args)


def purge_data(data: Path, args: argparse.Namespace) -> int:
    """Purge ``data``'s hub (the command's work, and a restore's last step); 1 when the
    clock check refused, or erasures could not be journaled."""
    from sync.hub.bootstrap import prepare
    from sync.hub.cli_restore import catch_up

    # systemd stops the run (TimeoutStartSec) with SIGTERM: end it as an error would, so
    # decision retention closes its record and the embedded PostgreSQL is stopped.
    signal.signal(signal.SIGTERM, _stopped)
    environment = prepare(data)
    try:
        from sync.hub.erasure_journal import unjournaled_erasures
        from sync.hub.reclaim import ERASED_DATA_TABLES, rewrite_due, rewrite_if_due
        from sync.hub.retention import purge_all

        with unjournaled_erasures() as unjournaled:
            outcome = purge_all(dry_run=args.dry_run, trust_clock=args.trust_clock)
        if not args.dry_run and catch_up(environment.data_dir):
            unjournaled.clear()  # every erasure the database holds is journaled now
        people, decisions, rewrote = outcome.people, outcome.decisions, False
        if decisions is not None:
            rewrote = rewrite_due() if args.dry_run else rewrite_if_due()
    finally:
        environment.stop()
    if decisions is not None and not args.dry_run:
        clear_after_purge(environment.data_dir)  # a restore's last step: it may be served
    if not outcome.clock.trusted:
        print(_clock_line(outcome.clock, args), file=sys.stderr)
    if decisions is None:
        return 1
    if args.dry_run:
        print(f"{plural.people(len(people))} past their retention date (dry run, nothing erased)")
    else:
        print(
            f"erased {plural.people(len(people))} past their retention date; devices pull it next"
        )
    for person in people:
        until = person.retain_until.strftime("%Y-%m-%d")
        print(f"  {person.person_uid} (site {person.site}, retained until {until})")
    _print_decisions(decisions, dry_run=args.dry_run)
    if rewrote:
        done = "would rewrite" if args.dry_run else "rewrote"
        print(f"{done} {', '.join(ERASED_DATA_TABLES)}: erased people's data leaves the files")
    if unjournaled:
        print(
            f"jaga hub: {plural.counted(len(unjournaled), 'erasure')} could not be journaled"
            " (above: why); they"
            " stand, but a restore of the database from a backup older than them would bring"
            " these people back: "
            + ", ".join(str(uid) for uid in unjournaled)
            + "; keep this list with the backups, and erase them again after a restore",
            file=sys.stderr,
        )
        return 1
    return 0


def _clock_line(clock: ClockVerdict, args: argparse.Namespace) -> str:
    """The clock check's refusal (or its override) in one line: which evidence, how far."""
    if args.trust_clock:
        told = "jaga hub: purging as told (--trust-clock), though the hub's clock is not trusted"
        return f"{told}: {clock.reason}"
    done = (
        "would erase and delete nothing (dry run)" if args.dry_run else "erased and deleted nothing"
    )
    return (
        f"jaga hub: purge-expired {done}, as the hub's clock is not trusted: {clock.reason}."
        " Set the clock right, or once you have checked it is, run it with --trust-clock (the"
        " next run compares with that one)"
    )


def _stopped(number: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + number)


def _print_decisions(report: DecisionReport, *, dry_run: bool) -> None:
    if report.cutoff is None:
        print("access events: kept for ever (JAGA_HUB_DECISION_KEEP_DAYS=0)")
        return
    done = "would delete" if dry_run else "deleted"
    print(
        f"{done} {plural.counted(report.access_events, 'access event')} that happened and reached"
        " the hub"
        f" before {report.cutoff:%Y-%m-%d %H:%M} UTC (kept {report.keep_days} days)"
    )
    for site, count in report.by_site.items():
        print(f"  site {site}: {plural.counted(count, 'access event')}")
    print(
        f"{done} {plural.counted(report.applied_entries, 'idempotency key')} taken two windows"
        " ago or earlier whose"
        " replay changes nothing (a deleted event's, a template's, a photo's, an erased person's)"
    )
    anchored = plural.counted(
        report.audit_entries, "anchored audit entry", "anchored audit entries"
    )
    print(
        f"{done} {anchored} as old (each chain's oldest, up to a checkpoint the rest verifies"
        " from; never a chain's newest)"
    )
    for site, count in report.audit_by_site.items():
        print(f"  site {site}: {plural.counted(count, 'audit entry', 'audit entries')}")
    forgot = "would forget" if dry_run else "forgot"
    print(
        f"{forgot} the reasons typed of {plural.counted(report.erasure_reasons, 'erasure')} as"
        " old (who was"
        " erased, and when, stay)"
    )
    if report.held_chains:
        print(
            f"kept whole the chains of {plural.counted(len(report.held_chains), 'device')} while"
            " a record of each"
            " is open (look into it, then acknowledge it in the admin's Audit breaks; until"
            " then its decisions outlive the window):"
        )
    for chain in report.held_chains:
        print(
            f"  device {chain.device_name} ({chain.device_uid}, site {chain.site}):"
            f" {chain.kind} record open since {chain.since:%Y-%m-%d %H:%M} UTC"
        )
