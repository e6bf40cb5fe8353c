"""The Catch panel's photo preview, on which the officer drags a rectangle over each fish.

A view only: it draws the scaled photo and the boxes (numbered as the fish list numbers
them) and says when they change; ``desktop.catch_boxes.Preview`` maps the drag to the
photo's pixels. ``CatchController`` decides what the boxes mean.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QRubberBand, QWidget

from desktop.catch_boxes import Preview
from inference.fish.images import UInt8Image
from sync.store import Crop

THUMBNAIL_SIDE = 240  # room to drag a box over each fish
_BOX_COLOUR = QColor("#ffb000")  # amber: seen on sea water, deck paint and fish alike


def thumbnail(image: UInt8Image, side: int = THUMBNAIL_SIDE) -> QPixmap:
    """The RGB photo scaled to fit ``side`` (f4k crops are ~100 px: scaled up, smoothly).
    Give it a photo already scaled down on a worker: a large one takes seconds here."""
    height, width = image.shape[:2]
    qimage = QImage(image.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(qimage).scaled(
        side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


class BoxCanvas(QLabel):
    """A square preview of the photo; dragging marks a fish's box (``boxes_changed``)."""

    boxes_changed = Signal()

    def __init__(self, side: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)  # as every label: see desktop.labels
        self.setText("no photo")
        self.setFixedSize(side, side)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: #eeeeee; color: #777777;")
        self.preview: Preview | None = None  # None: no photo to mark
        self.boxes: list[Crop] = []
        self._band = QRubberBand(QRubberBand.Shape.Rectangle, self)
        self._start: QPoint | None = None

    def show_photo(self, pixmap: QPixmap, photo_size: tuple[int, int]) -> None:
        """A new photo: its boxes start empty."""
        self.setPixmap(pixmap)
        size = (self.width(), self.height())
        self.preview = Preview(size, (pixmap.width(), pixmap.height()), photo_size)
        self.setToolTip("drag over each fish to classify it on its own")
        self._set_boxes([])

    def clear_photo(self) -> None:
        self.setPixmap(QPixmap())
        self.preview = None
        self.setToolTip("")
        self._set_boxes([])

    def add_box(self, crop: Crop) -> None:
        """Mark one more fish (the same box twice is one fish)."""
        if crop not in self.boxes:
            self._set_boxes([*self.boxes, crop])

    def remove_box(self, index: int) -> None:
        if 0 <= index < len(self.boxes):
            self._set_boxes(self.boxes[:index] + self.boxes[index + 1 :])

    # --- the drag ---------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if self.preview is None or event.button() != Qt.MouseButton.LeftButton:
            return
        self._start = event.position().toPoint()
        self._band.setGeometry(QRect(self._start, QSize()))
        self._band.show()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._start is not None:
            self._band.setGeometry(QRect(self._start, event.position().toPoint()).normalized())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        start, self._start = self._start, None
        self._band.hide()
        if start is None or self.preview is None:
            return
        end = event.position()
        crop = self.preview.crop_between((start.x(), start.y()), (end.x(), end.y()))
        if crop is not None:
            self.add_box(crop)

    # --- drawing ----------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        super().paintEvent(event)
        if self.preview is None or not self.boxes:
            return
        painter = QPainter(self)
        box_pen, number_pen = QPen(_BOX_COLOUR, 2), QPen(QColor("black"))
        try:
            for number, crop in enumerate(self.boxes, start=1):
                rect = QRectF(*self.preview.to_widget(crop))
                painter.setPen(box_pen)
                painter.drawRect(rect)
                label = QRectF(rect.x(), rect.y(), 18.0, 16.0)  # the fish list's number
                painter.fillRect(label, _BOX_COLOUR)
                painter.setPen(number_pen)
                painter.drawText(label, Qt.AlignmentFlag.AlignCenter, str(number))
        finally:
            painter.end()

    def _set_boxes(self, boxes: list[Crop]) -> None:
        self.boxes = boxes
        self.update()
        self.boxes_changed.emit()
