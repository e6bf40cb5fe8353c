"""Which generation the GUI thread's collector collects (``desktop.gui_gc``): the one the
interpreter would have, from the same counts and thresholds."""

from __future__ import annotations

import pytest

from desktop.gui_gc import due_generation


@pytest.mark.parametrize(
    ("counts", "thresholds", "due"),
    [
        ((10, 0, 0), (700, 10, 10), None),
        ((701, 0, 0), (700, 10, 10), 0),
        ((701, 11, 0), (700, 10, 10), 1),
        ((701, 11, 11), (700, 10, 10), 2),
        ((5, 0, 11), (700, 10, 10), 2),
        ((10_000, 50, 50), (0, 10, 10), None),  # gc.set_threshold(0): never automatic
    ],
)
def test_the_oldest_generation_past_its_threshold_is_due(
    counts: tuple[int, int, int], thresholds: tuple[int, int, int], due: int | None
) -> None:
    assert due_generation(counts, thresholds) == due
