"""Drags on the scaled, centred preview map to the photo's own pixels (no Qt, no mouse)."""

from __future__ import annotations

import pytest

from desktop.catch_boxes import Preview
from sync.store import Crop

# A 400 x 200 photo shown at 240 x 120 in a 240 x 240 square: 60 px of margin above.
WIDE = Preview(widget=(240, 240), shown=(240, 120), photo=(400, 200))
# A 100 x 150 photo scaled up to 160 x 240: 40 px of margin on the left.
TALL = Preview(widget=(240, 240), shown=(160, 240), photo=(100, 150))


def test_the_shown_photo_is_centred() -> None:
    assert WIDE.offset == (0, 60)
    assert TALL.offset == (40, 0)


@pytest.mark.parametrize(
    ("preview", "point", "pixel"),
    [
        (WIDE, (0, 60), (0, 0)),  # the photo's top-left corner
        (WIDE, (240, 180), (400, 200)),  # its bottom-right corner
        (WIDE, (120, 120), (200, 100)),  # its centre
        (WIDE, (30, 10), (50, 0)),  # in the margin above: held to the top edge
        (WIDE, (-5, 239), (0, 200)),
        (TALL, (40, 0), (0, 0)),
        (TALL, (200, 240), (100, 150)),
        (TALL, (120, 120), (50, 75)),
        (TALL, (10, 100), (0, 62)),  # in the margin on the left: held to the left edge
    ],
)
def test_a_widget_point_is_the_photo_pixel_under_it(
    preview: Preview, point: tuple[float, float], pixel: tuple[int, int]
) -> None:
    assert preview.to_photo(*point) == pixel


def test_a_drag_either_way_round_is_the_same_box() -> None:
    box = Crop(50, 20, 150, 100)
    assert WIDE.crop_between((30, 72), (120, 132)) == box
    assert WIDE.crop_between((120, 132), (30, 72)) == box
    assert WIDE.crop_between((120, 72), (30, 132)) == box


def test_a_drag_past_the_photo_stops_at_its_edges() -> None:
    assert WIDE.crop_between((180, 100), (300, 300)) == Crop(300, 67, 100, 133)


def test_a_click_or_a_drag_outside_the_photo_is_no_box() -> None:
    assert WIDE.crop_between((100, 100), (102, 103)) is None  # a click
    assert WIDE.crop_between((10, 5), (200, 50)) is None  # all in the margin above
    assert TALL.crop_between((0, 10), (39, 200)) is None  # all in the margin on the left


def test_a_box_is_drawn_where_it_was_dragged() -> None:
    for preview, drag in (
        (WIDE, ((30.0, 72.0), (120.0, 132.0))),
        (TALL, ((56.0, 16.0), (136.0, 176.0))),
    ):
        crop = preview.crop_between(*drag)
        assert crop is not None
        x, y, width, height = preview.to_widget(crop)
        assert (x, y, x + width, y + height) == pytest.approx((*drag[0], *drag[1]))


def test_a_preview_has_sizes() -> None:
    with pytest.raises(ValueError, match="at least 1 pixel"):
        Preview(widget=(240, 240), shown=(0, 120), photo=(400, 200))
