"""The Kiosk panel: the camera's picture with each face boxed, one large prompt for the
person at the kiosk, the state of the models, and the decisions recorded.

A view only: ``KioskController`` tells it what to show, on the GUI thread. The prompt's
colour says the answer at a glance (green: welcome, red: refused, amber: do something,
grey: nobody there); its words are :mod:`desktop.kiosk.prompts`'.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLineEdit, QListWidget, QVBoxLayout, QWidget

from desktop.kiosk.prompts import IDLE, Prompt, Tone
from desktop.labels import plain_label
from inference.face.decide import Status
from inference.face.pipeline import FaceObservation
from sync.store import AccessEvent

VIDEO_SIZE = (640, 480)
EVENTS_SHOWN = 50
# Said of a decision a run before this one left waiting for the store, which this run wrote
# (``jaga kiosk run`` marks it ``"earlier_run": true``).
EARLIER_RUN = "(from an earlier run)"
STARTING = "starting: loading and warming up the face models…"
TONE_COLOURS = {Tone.IDLE: "#5f6368", Tone.WORKING: "#8a5300", Tone.ACCEPTED: "#1b7f3b",
                Tone.REFUSED: "#b3261e"}  # fmt: skip
_ACCEPTED = (Status.VERIFIED,)
_REFUSED = (Status.NOT_MATCHED, Status.SPOOF_DETECTED, Status.LOW_QUALITY)


class KioskPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.video = plain_label("no picture yet", "kioskVideo")
        self.video.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.video.setMinimumSize(*VIDEO_SIZE)
        self.prompt = plain_label(name="kioskPrompt")
        self.prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prompt.setWordWrap(True)  # a long prompt wraps; the picture keeps its size
        font = QFont()
        font.setPointSize(22)
        font.setBold(True)
        self.prompt.setFont(font)
        self.state = plain_label(STARTING, "kioskState")
        self.state.setWordWrap(True)
        self.badge = QLineEdit()  # a badge reader types here as a keyboard does, then Enter
        self.badge.setObjectName("kioskBadge")
        self.badge.setPlaceholderText("Badge number, then Enter (optional: without one, the "
                                      "kiosk identifies you among everyone enrolled)")  # fmt: skip
        self.events = QListWidget()
        self.events.setObjectName("kioskEvents")
        self.events.setMaximumHeight(140)
        layout = QVBoxLayout(self)
        for widget in (self.video, self.prompt, self.badge, self.state, self.events):
            layout.addWidget(widget)
        self.show_prompt(IDLE)

    def show_prompt(self, prompt: Prompt) -> None:
        self.prompt.setText(prompt.text)
        self.prompt.setProperty("tone", str(prompt.tone))
        colour = TONE_COLOURS[prompt.tone]
        self.prompt.setStyleSheet(f"background: {colour}; color: white; padding: 12px;")

    def show_state(self, text: str, *, problem: bool = False) -> None:
        self.state.setText(text)
        self.state.setStyleSheet("color: #b3261e; font-weight: bold;" if problem else "")

    def clear_picture(self, text: str) -> None:
        """No picture to show, and why (a frozen last frame would look like a live one)."""
        self.video.clear()
        self.video.setText(text)

    def show_picture(self, bgr: np.ndarray, faces: Sequence[FaceObservation]) -> None:
        """The frame, scaled to the panel, each face boxed in its decision's colour."""
        height, width = bgr.shape[:2]
        image = QImage(bgr.data, width, height, bgr.strides[0], QImage.Format.Format_BGR888)
        pixmap = QPixmap.fromImage(image.copy())  # the copy owns its pixels; bgr may go
        painter = QPainter(pixmap)
        try:
            for face in faces:
                painter.setPen(QPen(QColor(_box_colour(face)), max(2, width // 200)))
                box = face.face
                painter.drawRect(QRectF(box.x1, box.y1, box.x2 - box.x1, box.y2 - box.y1))
        finally:
            painter.end()
        self.video.setPixmap(pixmap.scaled(self.video.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))  # fmt: skip

    def add_events(
        self,
        events: Sequence[AccessEvent],
        names: Mapping[str, str],
        earlier_run: Collection[str] = (),
    ) -> None:
        """Newest first; the list keeps the last ``EVENTS_SHOWN`` (the store keeps all). An
        event whose uid is in ``earlier_run`` was decided by a run before this one, which
        left it waiting for the store: it is said so, with its date (it may be days old), so
        that nobody takes it for the person now at the door."""
        for event in events:
            who = names.get(event.person_uid or "", "")
            text = f"{event.decision}" + (f"  {who}" if who else "")
            local = event.occurred_at.astimezone()
            if event.event_uid in earlier_run:
                text = f"{local:%Y-%m-%d %H:%M:%S}  {text}  {EARLIER_RUN}"
            else:
                text = f"{local:%H:%M:%S}  {text}"
            self.events.insertItem(0, text)
        while self.events.count() > EVENTS_SHOWN:
            self.events.takeItem(self.events.count() - 1)


def _box_colour(face: FaceObservation) -> str:
    status = face.decision.status if face.decision is not None else None
    if status in _ACCEPTED:
        return TONE_COLOURS[Tone.ACCEPTED]
    if status in _REFUSED:
        return TONE_COLOURS[Tone.REFUSED]
    return TONE_COLOURS[Tone.WORKING] if face.quality.ok else TONE_COLOURS[Tone.IDLE]
