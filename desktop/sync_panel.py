"""The sync panel: what the background sync is doing, what waits, and two buttons.

The audit chain's row says what ``jaga sync status`` says of it (the same ``AuditStatus``,
from the store check and after each sync); a reason it is not anchored stands out under it
in red, and an open audit break says to ask the hub's admin to acknowledge it. A clock that
reads behind the hub time this device has seen, or behind the date of its jaga release (a
device that never synced), is called wrong there too, in red: every catch and decision it
times is wrong until someone sets it.

A view only: it is told a ``StoreCheck``, ``SyncSnapshot`` values and ``PackState`` values
(always on the GUI thread) and shows them; the controller connects its buttons.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop import sync_text
from desktop.labels import plain_label
from desktop.species import PackState
from desktop.store_check import CheckResult, StoreCheck, registration_text
from desktop.sync_bridge import Backlog, SyncSnapshot
from sync.client.service import Phase
from sync.client.status import AuditStatus

_SYNCABLE = {Phase.STARTING, Phase.SYNCING, Phase.IDLE, Phase.BACKING_OFF}
# Fixable without restarting the app (register the device, create the store): Resume checks
# again. A missing or wrong key is not: it comes from the command line or the environment.
_RECHECKABLE = {CheckResult.NOT_REGISTERED, CheckResult.UNAVAILABLE}
_PROBLEM_STYLE = "color: #b00020;"
_ALERT_STYLE = "color: #b00020; font-weight: bold;"
_CHECKING = "checking the store…"


def _value(name: str, text: str = sync_text.NONE) -> QLabel:
    label = plain_label(text, name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # copy commands
    return label


class SyncPanel(QGroupBox):
    def __init__(self, store_path: Path, parent: QWidget | None = None) -> None:
        super().__init__("Sync with the hub", parent)
        self.setObjectName("syncPanel")
        self.store = _value("syncStore", str(store_path))
        self.hub = _value("syncHub")
        self.phase = _value("syncPhase", _CHECKING)
        self.last_sync = _value("syncLast")
        self.last_error = _value("syncError")
        self.backlog = _value("syncBacklog")
        self.species_pack = _value("packActive", sync_text.pack_text(PackState()))
        self.pack_refused = _value("packRefused")
        self.pack_refused.setStyleSheet(_PROBLEM_STYLE)
        self.audit = _value("syncAudit")
        self.audit_issue = _value("syncAuditIssue")
        self.audit_issue.setStyleSheet(_ALERT_STYLE)
        self.audit_issue.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.clock = _value("syncClock")
        self.clock.setStyleSheet(_ALERT_STYLE)
        self.clock.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.sync_now = QPushButton("Sync now")
        self.sync_now.setObjectName("syncNow")
        self.resume = QPushButton("Resume")
        self.resume.setObjectName("syncResume")
        self._stored_last = sync_text.NONE
        self._set_buttons(sync_now=False, resume=False)
        self._lay_out()

    def show_checking(self) -> None:
        self.phase.setText(_CHECKING)
        self._set_buttons(sync_now=False, resume=False)

    def show_check(self, check: StoreCheck) -> None:
        self.phase.setText(sync_text.check_phase_text(check))
        self.hub.setText(check.message if check.registered else sync_text.NONE)
        self._stored_last = sync_text.stored_last_sync(check)
        self.last_sync.setText(self._stored_last)
        self._show_error(None)
        if check.status is not None:
            status = check.status
            backlog = Backlog.of(
                dict(status.outbox), status.held, status.held_unknown, status.failed_uploads
            )
            self.backlog.setText(sync_text.backlog_text(backlog))
            self.show_audit(check.status.audit)
            self.show_clock(check.status.clock)
        self._set_buttons(sync_now=check.registered, resume=check.result in _RECHECKABLE)

    def show_snapshot(self, snapshot: SyncSnapshot) -> None:
        state = snapshot.state
        self.phase.setText(sync_text.phase_text(snapshot))
        self.last_sync.setText(sync_text.report_text(snapshot) or self._stored_last)
        self._show_error(state.last_error)
        if snapshot.backlog is not None:  # else keep the last count
            self.backlog.setText(sync_text.backlog_text(snapshot.backlog))
        if snapshot.audit is not None:  # else keep the last read
            self.show_audit(snapshot.audit)
        if snapshot.clock is not None:  # else keep the last read
            self.show_clock(snapshot.clock.warning)
        if snapshot.registration is not None:  # else keep the hub last synced with
            self.hub.setText(registration_text(snapshot.registration))
        self._set_buttons(sync_now=state.phase in _SYNCABLE, resume=state.phase is Phase.PAUSED)

    def show_pack(self, state: PackState) -> None:
        self.species_pack.setText(sync_text.pack_text(state))
        self.pack_refused.setText(f"refused: {state.refused}" if state.refused else "")
        self.pack_refused.setVisible(bool(state.refused))

    def show_audit(self, audit: AuditStatus) -> None:
        self.audit.setText(sync_text.audit_text(audit))
        issue = sync_text.audit_issue_text(audit)
        self.audit_issue.setText(issue or "")
        self.audit_issue.setVisible(issue is not None)

    def show_clock(self, warning: str | None) -> None:
        text = sync_text.clock_text(warning)
        self.clock.setText(text or "")
        self.clock.setVisible(text is not None)

    def _show_error(self, error: str | None) -> None:
        self.last_error.setText(error or sync_text.NONE)
        self.last_error.setStyleSheet(_PROBLEM_STYLE if error else "")

    def _set_buttons(self, *, sync_now: bool, resume: bool) -> None:
        self.sync_now.setEnabled(sync_now)
        self.resume.setEnabled(resume)

    def _lay_out(self) -> None:
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        for caption, label in (
            ("Store", self.store),
            ("Hub", self.hub),
            ("State", self.phase),
            ("", self.clock),
            ("Last sync", self.last_sync),
            ("Last error", self.last_error),
            ("Outbox", self.backlog),
            ("Species pack", self.species_pack),
        ):
            form.addRow(caption, label)
        self.clock.setVisible(False)
        form.addRow("", self.pack_refused)
        self.pack_refused.setVisible(False)
        form.addRow("Audit chain", self.audit)
        form.addRow("", self.audit_issue)
        self.audit_issue.setVisible(False)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.sync_now)
        buttons.addWidget(self.resume)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)  # spare height below the rows, not between them
        layout.addLayout(buttons)
