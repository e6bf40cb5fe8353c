"""The pictures ``jaga eval liveness`` writes: a DET curve and a score histogram (OpenCV).

The DET curve plots BPCER against APCER on log axes, one line per attack type and one for
all attacks together; the histogram shows where live and attack scores fall against the
threshold, which is what a deployer calibrating a site wants to see first.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import InferenceError
from inference.face.eval_common import Axis, curves_png
from inference.face.liveness_metrics import det_curve
from inference.image_file import write_image_file

FloatArray = npt.NDArray[np.float64]
DET_FLOOR = 1e-3  # log axes start here; a rate of 0 is drawn on the floor
HISTOGRAM_BINS = 20
PLOT_SIDE, PLOT_PAD = 480, 60
LIVE_COLOUR, ATTACK_COLOUR, THRESHOLD_COLOUR = (60, 160, 60), (50, 50, 210), (0, 0, 0)  # BGR
FONT = cv2.FONT_HERSHEY_SIMPLEX


def det_png(path: Path, live: FloatArray, attacks: Mapping[str, FloatArray]) -> None:
    """BPCER against APCER for each attack type, and for all attacks pooled."""
    series = []
    kinds = dict(attacks)
    if len(kinds) > 1:
        kinds["all attacks"] = np.concatenate(list(attacks.values()))
    for name, scores in kinds.items():
        curve = det_curve(live, scores)
        series.append((name, curve.apcer, curve.bpcer))
    x = Axis("APCER (attacks accepted)", DET_FLOOR, 1.0, log=True)
    y = Axis("BPCER (live rejected)", DET_FLOOR, 1.0, log=True)
    curves_png(path, "DET: passive liveness", x, y, series)


def histogram_png(path: Path, live: FloatArray, attack: FloatArray, threshold: float) -> None:
    """Share of live and of attack scores in each of 20 bins of [0, 1], with the threshold."""
    canvas = np.full((PLOT_SIDE + 2 * PLOT_PAD, PLOT_SIDE + 2 * PLOT_PAD, 3), 255, np.uint8)
    edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    shares = [_shares(scores, edges) for scores in (live, attack)]
    top = max(1e-9, *(float(share.max()) for share in shares))
    bar = PLOT_SIDE / HISTOGRAM_BINS / 2
    for offset, (share, colour) in enumerate(
        zip(shares, (LIVE_COLOUR, ATTACK_COLOUR), strict=True)
    ):
        for index, value in enumerate(share):
            left = PLOT_PAD + round((2 * index + offset) * bar)
            height = round(value / top * PLOT_SIDE)
            bottom = PLOT_PAD + PLOT_SIDE
            cv2.rectangle(
                canvas, (left, bottom - height), (left + round(bar) - 1, bottom), colour, -1
            )
    _frame(canvas, threshold, top, len(live), len(attack))
    path.parent.mkdir(parents=True, exist_ok=True)
    if not write_image_file(path, canvas):
        raise InferenceError(f"cannot write {path}")


def _shares(scores: FloatArray, edges: FloatArray) -> FloatArray:
    counts, _ = np.histogram(np.clip(scores, 0.0, 1.0), bins=edges)
    return np.asarray(counts / max(len(scores), 1), np.float64)


def _frame(
    canvas: npt.NDArray[np.uint8], threshold: float, top: float, live: int, attack: int
) -> None:
    pad, side = PLOT_PAD, PLOT_SIDE
    cv2.rectangle(canvas, (pad, pad), (pad + side, pad + side), (0, 0, 0), 1)
    x = pad + round(threshold * side)
    cv2.line(canvas, (x, pad), (x, pad + side), THRESHOLD_COLOUR, 1)
    for tick in np.linspace(0.0, 1.0, 6):
        px = pad + round(tick * side)
        cv2.putText(canvas, f"{tick:g}", (px - 8, pad + side + 18), FONT, 0.38, (0, 0, 0), 1)
    cv2.putText(canvas, f"{top:.0%}", (8, pad + 4), FONT, 0.38, (0, 0, 0), 1)
    cv2.putText(canvas, "liveness score histogram (share of each class)", (pad, pad - 35),
                FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
    labels = ((f"live ({live})", LIVE_COLOUR), (f"attack ({attack})", ATTACK_COLOUR),
              (f"threshold {threshold:g}", THRESHOLD_COLOUR))  # fmt: skip
    for index, (label, colour) in enumerate(labels):  # one row above the plot: bars stay clear
        cv2.putText(canvas, label, (pad + 160 * index, pad - 10), FONT, 0.45, colour, 1,
                    cv2.LINE_AA)  # fmt: skip
    cv2.putText(canvas, "score", (pad + side // 2 - 20, pad + side + 45), FONT, 0.45, (0, 0, 0), 1)
