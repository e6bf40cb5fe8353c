"""Exponential back-off with jitter, for a fleet of devices coming back online at once.

"Equal jitter": the n-th consecutive failure waits between half and all of
``base * 2**(n-1)`` (capped), so no device retries sooner than half the ceiling (it never
hammers a recovering hub) and devices that failed together spread out instead of returning
in lockstep. A hub's ``Retry-After`` is honoured as a floor, spread above it by the same
jitter (the hub gives every device the same number). The random source is injected, so
tests replay exact delays.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_MAX_EXPONENT = 32  # 2**32 * base is far past any cap; avoids float overflow on long outages


@dataclass(frozen=True)
class Backoff:
    base_s: float = 2.0
    cap_s: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.cap_s:
            raise ValueError("back-off needs 0 < base_s <= cap_s")

    def ceiling_s(self, failures: int) -> float:
        if failures < 1:
            return 0.0
        return min(self.cap_s, self.base_s * 2.0 ** min(failures - 1, _MAX_EXPONENT))

    def delay_s(
        self, failures: int, rng: random.Random, retry_after_s: float | None = None
    ) -> float:
        """Seconds to wait after ``failures`` consecutive failures (0 after none)."""
        ceiling = self.ceiling_s(failures)
        jitter = rng.uniform(0.0, ceiling / 2) if ceiling else 0.0
        delay = ceiling / 2 + jitter
        floor = self.honouring(0.0, retry_after_s)
        if floor > delay:
            # The hub tells every device the same wait (5 s while its database is away):
            # taken as it is, devices that failed together would come back together.
            return min(self.cap_s, floor + jitter)
        return delay

    def honouring(self, delay_s: float, retry_after_s: float | None) -> float:
        """``delay_s``, or the hub's ``Retry-After`` where that is longer (at most the cap):
        a floor, so a hub that asks for more time gets it, and one that asks for none
        (0, or no header) never makes a device retry sooner than its back-off."""
        if retry_after_s is None:
            return delay_s
        return max(delay_s, min(retry_after_s, self.cap_s))
