"""The words the sync panel shows, as plain functions of immutable values (no Qt here)."""

from __future__ import annotations

from datetime import datetime, timedelta

from desktop.species import PackState
from desktop.store_check import CheckResult, StoreCheck
from desktop.sync_bridge import Backlog, SyncSnapshot
from sync import plural
from sync.client.service import Phase
from sync.client.status import AuditStatus
from sync.store.clock import parse_timestamp
from sync.store.outbox_hub import NO_KNOWN_HUB_WORDS

NONE = "-"


def local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def phase_text(snapshot: SyncSnapshot) -> str:
    state = snapshot.state
    if state.phase is Phase.BACKING_OFF:
        retry = state.retry_in_s or 0.0
        when = local_time(snapshot.at + timedelta(seconds=retry))
        if state.held_back:  # it ran: only what the proxy refuses waits (Last error says what)
            return f"held back by a proxy's body limit: retry in {retry:.0f} s (at {when})"
        failures = plural.counted(state.failures, "failure")
        return f"backing off after {failures}: retry in {retry:.0f} s (at {when})"
    if state.phase is Phase.PAUSED:
        return f"paused: {state.last_error or 'no reason given'}; fix it, then press Resume"
    return {
        Phase.STARTING: "starting",
        Phase.SYNCING: "syncing…",
        Phase.IDLE: "idle",
        Phase.STOPPED: "stopped",
    }[state.phase]


def report_text(snapshot: SyncSnapshot) -> str | None:
    """The last sync's summary and time; None before the service's first report."""
    report = snapshot.state.last_report
    if report is None or snapshot.report_at is None:
        return None
    return f"{local_time(snapshot.report_at)}: {report.summary()}"


def check_phase_text(check: StoreCheck) -> str:
    """The state line before a service runs (or instead of one)."""
    if check.result is CheckResult.REGISTERED:
        return "starting"
    return check.message


def stored_last_sync(check: StoreCheck) -> str:
    """What the store remembers of the last sync (``jaga sync status``'s lines), with what a
    proxy's body limit held back, and why, after any that was not a failure: such a sync
    ran, but is no success (the last success is the last sync that held nothing back)."""
    if check.status is None:
        return NONE
    last = check.status.last
    if last.attempted_at is None:
        return "never"
    succeeded = _stored_time(last.succeeded_at) if last.succeeded_at else "never"
    if last.error:
        return f"failed {_stored_time(last.attempted_at)}; last success {succeeded}"
    attempted = _stored_time(last.attempted_at)
    if last.stopped_queued is not None:  # last.stopped, as mypy can see it
        queued = plural.entries(last.stopped_queued)
        what = f"stopped {attempted} before it finished ({queued} still queued)"
    elif last.unfinished is not None:
        what = f"unfinished {attempted}: it reached its limits ({last.unfinished.words()})"
    elif last.held_back:
        what = f"ran {attempted}"
    else:
        return f"{succeeded} (before this start)"
    held = f"; held back: {last.held_back}" if last.held_back else ""
    return f"{what}{held}; last success {succeeded}"


def backlog_text(backlog: Backlog | None) -> str:
    """The outbox counts, then the entries held for another hub, and apart from them those
    held as of no known hub, in the words of `jaga sync status`: no hub takes those; then the
    photos the hub refused to take (`jaga sync status` names them and why)."""
    if backlog is None:
        return NONE
    held = f", {backlog.held} held for another hub" if backlog.held else ""
    if backlog.held_unknown:
        held += f", {backlog.held_unknown} held {NO_KNOWN_HUB_WORDS}"
    if backlog.failed_uploads:
        photos = plural.counted(backlog.failed_uploads, "photo")
        held += f", {photos} failed to upload (only on this device: see `jaga sync status`)"
    return f"{backlog.waiting} waiting, {backlog.quarantined} quarantined{held}"


def audit_text(audit: AuditStatus) -> str:
    """How much of the audit chain waits for the hub, and when the hub last anchored it."""
    if not audit.entries:
        return "no entries yet"
    if not audit.anchored:
        return f"{_waiting(audit.waiting)} to be anchored; never anchored"
    last = _stored_time(audit.anchored_at) if audit.anchored_at else "at a time not recorded"
    if not audit.waiting:
        return f"all {plural.entries(audit.entries)} anchored; last anchored {last}"
    return (
        f"{_waiting(audit.waiting)} to be anchored; last anchored {last} "
        f"(up to entry {audit.anchored} of {audit.entries})"
    )


def audit_issue_text(audit: AuditStatus) -> str | None:
    """Why the chain is not anchored, and for an audit break what the operator does; None
    when nothing stands in the way."""
    if not audit.problem:
        return None
    if audit.break_open:
        return (
            "Open audit break at the hub: it refuses this device's audit chain until the "
            "break is acknowledged.\n"
            "What to do: ask the hub's admin to look into it and acknowledge the break (in the "
            "hub's admin, under Audit breaks). The next sync then anchors the chain again; "
            "records keep syncing meanwhile.\n"
            f"Details: {audit.problem}"
        )
    return f"Audit chain not anchored: {audit.problem}"


def _waiting(count: int) -> str:
    return f"{plural.entries(count)} wait{'s' if count == 1 else ''}"


def clock_text(warning: str | None) -> str | None:
    """The panel's words for a clock that looks wrong (``jaga sync status``'s), or None."""
    if warning is None:
        return None
    return warning[:1].upper() + warning[1:]


def pack_text(state: PackState) -> str:
    return state.active or "none loaded"


def _stored_time(text: str) -> str:
    try:
        return local_time(parse_timestamp(text))
    except ValueError:
        return text
