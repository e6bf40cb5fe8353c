"""ISO/IEC 30107-3 presentation-attack measures over liveness scores.

* **APCER** of one attack type (PAI species): the share of its attack presentations that
  were accepted as live. The standard reports it per type; the system's APCER is the worst.
* **BPCER**: the share of bona fide (live) presentations rejected as attacks.
* **ACER** = (worst APCER + BPCER) / 2, the single figure many benchmarks quote.

A presentation is accepted when its score reaches the threshold. Presentations the system
made no liveness decision on (no face found) are counted apart by the caller, as the
standard counts failures to acquire apart from classification errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AttackErrors:
    """APCER of one attack type at one threshold."""

    attacks: int
    accepted: int

    @property
    def apcer(self) -> float:
        return self.accepted / self.attacks if self.attacks else 0.0


@dataclass(frozen=True)
class IsoErrors:
    """The ISO/IEC 30107-3 measures at one threshold."""

    threshold: float
    per_type: Mapping[str, AttackErrors]
    live: int
    rejected: int

    @property
    def apcer(self) -> float:
        """The worst attack type's APCER (0 when there are no attacks)."""
        return max((errors.apcer for errors in self.per_type.values()), default=0.0)

    @property
    def apcer_pooled(self) -> float:
        """All attacks as one type; hides a weak type behind a strong one, so only a context
        figure next to :attr:`apcer`."""
        attacks = sum(errors.attacks for errors in self.per_type.values())
        accepted = sum(errors.accepted for errors in self.per_type.values())
        return accepted / attacks if attacks else 0.0

    @property
    def bpcer(self) -> float:
        return self.rejected / self.live if self.live else 0.0

    @property
    def acer(self) -> float:
        return (self.apcer + self.bpcer) / 2


def iso_errors(
    live_scores: FloatArray, attack_scores: Mapping[str, FloatArray], threshold: float
) -> IsoErrors:
    """The measures at ``threshold`` ("live" when a score reaches it)."""
    per_type = {
        name: AttackErrors(len(scores), int(np.sum(scores >= threshold)))
        for name, scores in attack_scores.items()
    }
    rejected = int(np.sum(live_scores < threshold))
    return IsoErrors(threshold, per_type, len(live_scores), rejected)


@dataclass(frozen=True)
class DetCurve:
    """APCER and BPCER at every distinct threshold, thresholds increasing."""

    thresholds: FloatArray
    apcer: FloatArray
    bpcer: FloatArray


def det_curve(live_scores: FloatArray, attack_scores: FloatArray) -> DetCurve:
    """Operating points at each distinct score (and above the highest)."""
    candidates = np.unique(np.r_[live_scores, attack_scores])
    thresholds = np.r_[candidates, np.inf]
    attack_sorted, live_sorted = np.sort(attack_scores), np.sort(live_scores)
    accepted = len(attack_sorted) - np.searchsorted(attack_sorted, thresholds, side="left")
    rejected = np.searchsorted(live_sorted, thresholds, side="left")
    apcer = np.asarray(accepted / max(len(attack_sorted), 1), np.float64)
    bpcer = np.asarray(rejected / max(len(live_sorted), 1), np.float64)
    return DetCurve(np.asarray(thresholds, np.float64), apcer, bpcer)


def equal_error(curve: DetCurve) -> tuple[float, float]:
    """(error rate, threshold) where APCER and BPCER are closest; the rate is their mean."""
    index = int(np.argmin(np.abs(curve.apcer - curve.bpcer)))
    rate = float((curve.apcer[index] + curve.bpcer[index]) / 2)
    return rate, float(curve.thresholds[index])
