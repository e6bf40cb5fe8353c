"""PNG figures for ``jaga fish eval``, drawn with OpenCV (no plotting library at run time)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from inference.fish.errors import DatasetError
from inference.fish.metrics import IntArray, Reliability
from inference.image_file import write_image_file

WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (160, 160, 160)
BLUE, RED = (200, 110, 40), (40, 40, 210)  # BGR
FONT = cv2.FONT_HERSHEY_SIMPLEX


def confusion_png(matrix: IntArray, names: Sequence[str], path: Path, cell: int = 34) -> None:
    """Rows: true species; columns: predicted. Colour: share of the row; text: the count."""
    n = len(names)
    margin = 70
    canvas = np.full((margin + n * cell + 20, margin + n * cell + 20, 3), 255, np.uint8)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, float), where=rows > 0)
    for i in range(n):
        for j in range(n):
            x, y = margin + j * cell, margin + i * cell
            shade = int(255 * (1 - share[i, j]))
            colour = (255, shade, shade) if i == j else (shade, shade, 255)
            cv2.rectangle(canvas, (x, y), (x + cell, y + cell), colour, -1)
            cv2.rectangle(canvas, (x, y), (x + cell, y + cell), GREY, 1)
            if matrix[i, j]:
                text_colour = WHITE if share[i, j] > 0.6 else BLACK
                _text(canvas, str(matrix[i, j]), (x + 3, y + cell // 2 + 4), 0.33, text_colour)
        _text(canvas, names[i][:9], (4, margin + i * cell + cell // 2 + 4), 0.33)
        _vertical_label(canvas, names[i][:9], margin + i * cell + cell // 2 - 4, margin - 4)
    _text(canvas, "true (rows) x predicted (columns)", (margin, 16), 0.45)
    _write(canvas, path)


def reliability_png(rel: Reliability, path: Path, size: int = 420) -> None:
    """Accuracy per confidence bin (bars) against the diagonal of perfect calibration."""
    pad = 50
    canvas = np.full((size + 2 * pad, size + 2 * pad, 3), 255, np.uint8)

    def point(conf: float, acc: float) -> tuple[int, int]:
        return pad + round(conf * size), pad + size - round(acc * size)

    bins = len(rel.counts)
    for b in np.flatnonzero(rel.counts):
        left, right = float(rel.edges[b]), float(rel.edges[b + 1])
        cv2.rectangle(canvas, point(left, float(rel.accuracy[b])), point(right, 0), BLUE, -1)
        cv2.rectangle(canvas, point(left, float(rel.accuracy[b])), point(right, 0), WHITE, 1)
        gap_top = point(left, float(rel.confidence[b]))
        cv2.line(canvas, gap_top, (point(right, 0)[0], gap_top[1]), RED, 2)
    cv2.line(canvas, point(0, 0), point(1, 1), GREY, 1, cv2.LINE_AA)
    cv2.rectangle(canvas, point(0, 1), point(1, 0), BLACK, 1)
    for tick in np.linspace(0, 1, 6):
        _text(canvas, f"{tick:.1f}", (point(tick, 0)[0] - 10, pad + size + 18), 0.4)
        _text(canvas, f"{tick:.1f}", (pad - 32, point(0, tick)[1] + 4), 0.4)
    title = f"ECE {rel.ece:.4f} ({bins} bins); blue: accuracy, red: mean confidence"
    _text(canvas, title, (pad, 30), 0.42)
    _text(canvas, "confidence (top-1 probability)", (pad + size // 4, pad + size + 40), 0.42)
    _write(canvas, path)


def _text(
    canvas: np.ndarray,
    text: str,
    origin: tuple[int, int],
    scale: float,
    colour: tuple[int, ...] = BLACK,
) -> None:
    cv2.putText(canvas, text, origin, FONT, scale, colour, 1, cv2.LINE_AA)


def _vertical_label(canvas: np.ndarray, text: str, x: int, bottom: int) -> None:
    (width, height), _ = cv2.getTextSize(text, FONT, 0.33, 1)
    label = np.full((height + 6, width + 4, 3), 255, np.uint8)
    _text(label, text, (2, height + 2), 0.33)
    rotated = cv2.rotate(label, cv2.ROTATE_90_COUNTERCLOCKWISE)
    top = max(0, bottom - rotated.shape[0])
    canvas[top : top + rotated.shape[0], x : x + rotated.shape[1]] = rotated[: bottom - top]


def _write(canvas: np.ndarray, path: Path) -> None:
    if not write_image_file(path, canvas):
        raise DatasetError(f"cannot write {path}")
