"""The sync panel's words and buttons follow each phase of the service and each check."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtWidgets import QApplication

from desktop import sync_text
from desktop.species import PackState
from desktop.store_check import CheckResult, StoreCheck
from desktop.sync_bridge import Backlog, SyncSnapshot
from desktop.sync_panel import SyncPanel
from sync.client.config import SitePolicy
from sync.client.pack_status import PackStatus
from sync.client.pull import PullReport
from sync.client.push import PushReport
from sync.client.report import SyncReport
from sync.client.service import Phase, ServiceState
from sync.client.state import LastResult, Unfinished
from sync.client.status import SyncStatus
from sync.client.uploads import UploadReport

AT = datetime(2026, 3, 1, 8, 15, 0, tzinfo=UTC)
REPORT = SyncReport(PushReport(1, 7, 0), PullReport(1, 3, cursor=42), UploadReport(), 0.25)


def snapshot(state: ServiceState, backlog: Backlog | None = None) -> SyncSnapshot:
    return SyncSnapshot(state, AT, AT if state.last_report else None, backlog)


def panel(qapp: QApplication) -> SyncPanel:
    widget = SyncPanel(Path("/data/jaga.db"))
    widget.show()
    qapp.processEvents()
    return widget


def buttons(widget: SyncPanel) -> tuple[bool, bool]:
    return widget.sync_now.isEnabled(), widget.resume.isEnabled()


def test_syncing_shows_progress_and_offers_sync_now_only(qapp: QApplication) -> None:
    widget = panel(qapp)
    widget.show_snapshot(snapshot(ServiceState(Phase.SYNCING), Backlog(12, 0)))
    assert widget.phase.text() == "syncing…"
    assert widget.backlog.text() == "12 waiting, 0 quarantined"
    assert buttons(widget) == (True, False)


def test_idle_shows_the_reports_summary_its_time_and_the_backlog(qapp: QApplication) -> None:
    widget = panel(qapp)
    widget.show_snapshot(snapshot(ServiceState(Phase.IDLE, last_report=REPORT), Backlog(0, 2)))
    assert widget.phase.text() == "idle"
    assert "pushed 7 acknowledged, 0 quarantined in 1 batch;" in widget.last_sync.text()
    assert "pulled 3 changes" in widget.last_sync.text()
    assert AT.astimezone().strftime("%Y-%m-%d %H:%M:%S") in widget.last_sync.text()
    assert widget.last_error.text() == "-"
    assert widget.backlog.text() == "0 waiting, 2 quarantined"
    assert buttons(widget) == (True, False)


def test_backing_off_says_when_it_retries_and_why(qapp: QApplication) -> None:
    widget = panel(qapp)
    state = ServiceState(
        Phase.BACKING_OFF, failures=3, retry_in_s=12.4, last_error="HubUnavailableError: refused"
    )
    widget.show_snapshot(snapshot(state))
    assert widget.phase.text().startswith("backing off after 3 failures: retry in 12 s (at ")
    assert widget.last_error.text() == "HubUnavailableError: refused"
    assert buttons(widget) == (True, False)  # Sync now cuts the back-off short


def test_backing_off_for_a_proxys_limit_does_not_say_failures(qapp: QApplication) -> None:
    """A sync a proxy's body limit held something back from ran (the rest went through), yet
    the state line said "backing off after 1 failure", as for a hub out of reach."""
    widget = panel(qapp)
    state = ServiceState(
        Phase.BACKING_OFF,
        failures=1,
        retry_in_s=60.0,
        last_error="ProxyBodyLimitError: audit entries wait: ...",
        held_back=True,
    )
    widget.show_snapshot(snapshot(state))
    assert widget.phase.text().startswith("held back by a proxy's body limit: retry in 60 s")
    assert "failure" not in widget.phase.text()


def test_paused_gives_the_reason_and_enables_resume_only(qapp: QApplication) -> None:
    widget = panel(qapp)
    widget.show_snapshot(snapshot(ServiceState(Phase.IDLE), Backlog(4, 0)))
    reason = "hub refused (401 unknown_token): the token was revoked"
    widget.show_snapshot(snapshot(ServiceState(Phase.PAUSED, last_error=reason)))
    assert widget.phase.text() == f"paused: {reason}; fix it, then press Resume"
    assert widget.backlog.text() == "4 waiting, 0 quarantined"  # kept: not counted while paused
    assert buttons(widget) == (False, True)


def test_stopped_disables_both_buttons(qapp: QApplication) -> None:
    widget = panel(qapp)
    widget.show_snapshot(snapshot(ServiceState(Phase.STOPPED)))
    assert widget.phase.text() == "stopped"
    assert buttons(widget) == (False, False)


def test_a_locked_store_says_how_to_unlock_it_and_offers_nothing(qapp: QApplication) -> None:
    widget = panel(qapp)
    message = "store locked: set $JAGA_STORE_PASSPHRASE or start with --key-file FILE"
    widget.show_check(StoreCheck(CheckResult.LOCKED, message))
    assert widget.phase.text() == message
    assert buttons(widget) == (False, False)


def test_not_registered_names_the_command_and_offers_a_recheck(qapp: QApplication) -> None:
    widget = panel(qapp)
    message = "not registered: run `jaga sync register --hub URL --db /data/jaga.db`"
    widget.show_check(StoreCheck(CheckResult.NOT_REGISTERED, message))
    assert widget.phase.text() == message
    assert buttons(widget) == (False, True)


def test_pack_version_and_refusal_are_shown(qapp: QApplication) -> None:
    widget = panel(qapp)
    assert widget.species_pack.text() == "none loaded"
    widget.show_pack(PackState("2026.11.0", None))
    assert widget.species_pack.text() == "2026.11.0"
    assert not widget.pack_refused.isVisible()
    widget.show_pack(PackState("2026.11.0", "pack 2026.12.0: species.json does not match"))
    assert widget.species_pack.text() == "2026.11.0"
    assert widget.pack_refused.isVisible()
    assert "species.json does not match" in widget.pack_refused.text()


def remembered(last: LastResult) -> StoreCheck:
    status = SyncStatus(
        hub_url="https://hub.test", site="north-gate", device_id=None, token="missing",
        policy=SitePolicy(), outbox=(), quarantined=(), cursor=None, pending_uploads=0,
        withheld_face_images=0, last=last, species_pack=PackStatus(),
    )  # fmt: skip
    return StoreCheck(CheckResult.REGISTERED, "https://hub.test", status)


def test_a_remembered_sync_a_stop_ended_is_shown_as_stopped_not_as_a_success() -> None:
    ok, stopped = "2026-03-01T08:00:00.000000Z", "2026-03-01T08:15:00.000000Z"
    text = sync_text.stored_last_sync(remembered(LastResult(stopped, ok, None, 80)))
    assert text.startswith("stopped ") and "(80 entries still queued)" in text
    assert text.endswith(f"last success {sync_text.local_time(AT.replace(minute=0))}")
    text = sync_text.stored_last_sync(remembered(LastResult(ok, ok, None)))
    assert text.endswith("(before this start)")


def test_a_remembered_sync_that_reached_its_limits_is_shown_with_what_it_left() -> None:
    ok, limited = "2026-03-01T08:00:00.000000Z", "2026-03-01T08:15:00.000000Z"
    last = LastResult(limited, ok, None, unfinished=Unfinished(9, True, 1))
    text = sync_text.stored_last_sync(remembered(last))
    assert text.startswith("unfinished ") and "(before this start)" not in text
    assert "(9 entries still queued, more changes on the hub, 1 photo still to upload)" in text
    assert text.endswith(f"last success {sync_text.local_time(AT.replace(minute=0))}")


def test_a_remembered_sync_a_proxy_held_photos_back_from_is_shown_as_ran_with_why() -> None:
    """It was shown as "failed ...; last success never" on a kiosk that synced all else, then
    as the last success even when it pushed nothing: it ran, and is no success."""
    ok, ran = "2026-03-01T08:00:00.000000Z", "2026-03-01T08:15:00.000000Z"
    why = "photos wait: something between this device and the hub refuses request bodies"
    text = sync_text.stored_last_sync(remembered(LastResult(ran, ok, None, held_back=why)))
    assert text.startswith(f"ran {sync_text.local_time(AT.replace(minute=15))}"), text
    assert f"; held back: {why};" in text and "failed" not in text, text
    assert text.endswith(f"last success {sync_text.local_time(AT.replace(minute=0))}"), text
    text = sync_text.stored_last_sync(remembered(LastResult(ran, None, None, held_back=why)))
    assert text.endswith("last success never"), text


def test_the_backlog_counts_the_entries_held_for_another_hub(qapp: QApplication) -> None:
    """'0 waiting' alone read as nothing left on a device that still holds erasures or catches
    for a hub it was registered with before (``sync.store.outbox_hub``)."""
    widget = panel(qapp)
    check = remembered(LastResult(None, None, None))
    assert check.status is not None
    widget.show_check(replace(check, status=replace(check.status, held=2)))
    assert widget.backlog.text() == "0 waiting, 0 quarantined, 2 held for another hub"
    widget.show_snapshot(snapshot(ServiceState(Phase.IDLE), Backlog(0, 0, held=1)))
    assert widget.backlog.text() == "0 waiting, 0 quarantined, 1 held for another hub"


def test_the_backlog_counts_photos_the_hub_refused_to_take(qapp: QApplication) -> None:
    """Their bytes are only on this device (``sync.client.failed_uploads``): the panel
    counts them, as ``jaga sync status`` names them."""
    widget = panel(qapp)
    check = remembered(LastResult(None, None, None))
    assert check.status is not None
    widget.show_check(replace(check, status=replace(check.status, failed_uploads=2)))
    failed = "2 photos failed to upload (only on this device: see `jaga sync status`)"
    assert widget.backlog.text() == f"0 waiting, 0 quarantined, {failed}"
    widget.show_snapshot(snapshot(ServiceState(Phase.IDLE), Backlog(0, 0, failed_uploads=1)))
    assert "1 photo failed to upload" in widget.backlog.text()
