"""Where a photo lies in its scaled preview, and the fish boxes dragged over it (no Qt here).

The Catch panel shows the photo scaled to fit a square and centred in it; the officer drags a
rectangle over each fish. These pure functions turn the two corners of a drag, in the
preview widget's coordinates, into a ``Crop`` in the photo's own pixels (what is classified
and recorded), and a ``Crop`` back into the rectangle to draw, so both are tested without a
mouse.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.store import Crop

# A drag shorter than this on screen is a click, not a box.
MIN_DRAG_PIXELS = 4
Size = tuple[int, int]  # width, height


@dataclass(frozen=True)
class Preview:
    """A photo of ``photo`` pixels drawn at ``shown`` pixels, centred in a ``widget``."""

    widget: Size
    shown: Size
    photo: Size

    def __post_init__(self) -> None:
        if min(*self.widget, *self.shown, *self.photo) < 1:
            raise ValueError(f"a preview has sizes of at least 1 pixel: {self}")

    @property
    def offset(self) -> tuple[int, int]:
        """The shown photo's top-left corner in the widget (centred as Qt aligns it)."""
        return (self.widget[0] - self.shown[0]) // 2, (self.widget[1] - self.shown[1]) // 2

    def to_photo(self, x: float, y: float) -> tuple[int, int]:
        """A widget point as the photo pixel under it, held to the photo's edges."""
        left, top = self.offset
        photo_x = round((x - left) * self.photo[0] / self.shown[0])
        photo_y = round((y - top) * self.photo[1] / self.shown[1])
        return min(max(photo_x, 0), self.photo[0]), min(max(photo_y, 0), self.photo[1])

    def crop_between(self, start: tuple[float, float], end: tuple[float, float]) -> Crop | None:
        """The box a drag from ``start`` to ``end`` (either way round) marks in the photo;
        None for a click, or a drag that covers no pixel of the photo."""
        if max(abs(end[0] - start[0]), abs(end[1] - start[1])) < MIN_DRAG_PIXELS:
            return None
        (x0, y0), (x1, y1) = self.to_photo(*start), self.to_photo(*end)
        left, top, right, bottom = min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)
        if right <= left or bottom <= top:
            return None
        return Crop(left, top, right - left, bottom - top)

    def to_widget(self, crop: Crop) -> tuple[float, float, float, float]:
        """The rectangle (x, y, width, height) where ``crop`` is drawn in the widget."""
        left, top = self.offset
        scale_x, scale_y = self.shown[0] / self.photo[0], self.shown[1] / self.photo[1]
        return (
            left + crop.x * scale_x,
            top + crop.y * scale_y,
            crop.width * scale_x,
            crop.height * scale_y,
        )
