"""Attempts limited per client (or other key) in fixed windows of the clock, each counted
atomically before the work it guards.

DRF's own throttles read a client's history of requests, decide, and write it back: a
read-modify-write, so attempts that arrive at once all read the same history and all get
through. Here each attempt takes one counter per key and window with the cache's atomic
``add`` and ``incr`` (Redis' INCR; local memory under its lock), so however many arrive at
once, at most N get through per key in a window. An attempt over the limit is not counted
(it is given back), and one from a key already over its limit is refused before anything is
counted: it adds no counter to the cache, so no number of them can make the cache drop the
counts that lock others.

The windows are fixed, aligned to the clock (each whole minute for ``/minute``), not
sliding: a lock ends with its window, and a client that times the boundary gets up to 2N
attempts within a short span around it. The rates are DRF's ``"N/period"``
(``DEFAULT_THROTTLE_RATES``) and the client is DRF's (``get_ident``, which trusts
``NUM_PROXIES`` proxies); the counts are shared by every worker only with ``REDIS_URL``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from django.core.cache import caches
from django.utils.connection import ConnectionProxy
from rest_framework.throttling import SimpleRateThrottle


class FixedWindowThrottle(SimpleRateThrottle):
    """Counts attempts against named counters in the current window (``take``)."""

    # A room of their own (settings.caches_for): in the default's 300 entries, a flood of
    # other keys would drop a count, and with it a lock.
    cache = ConnectionProxy(caches, "limits")
    keys: list[str]  # this attempt's counters, set by take

    def take(self, names: Sequence[str]) -> float:
        """Count an attempt against each counter ``names`` names; 0: counted, let it
        through. Over a limit: the seconds until this window ends, the attempt not counted."""
        now = self.timer()
        window = int(now // self.duration)
        self.keys = [f"{name}_{window}" for name in names]
        wait_s = float((window + 1) * self.duration - now)
        # Read before counting, in order: an attempt already over a limit adds and changes
        # no counter (so refused attempts can neither crowd others' counters out of the
        # cache nor lift another's count over the limit), and stops at the first it is over.
        if any(self._locked(key) for key in self.keys):
            self.keys = []
            return wait_s
        if max(self._count(key) for key in self.keys) <= self.num_requests:
            return 0.0
        self.give_back()  # a refused attempt is no attempt; counted, it would lock others out
        return wait_s

    def give_back(self) -> None:
        """Uncount the attempt ``take`` counted (refused, or one that is not to count)."""
        for key in self.keys:
            with contextlib.suppress(ValueError):  # the window is over: nothing to give back
                self.cache.decr(key)

    def _locked(self, key: str) -> bool:
        return bool(int(self.cache.get(key, 0)) >= self.num_requests)

    def _count(self, key: str) -> int:
        # Atomic, unlike _locked: of attempts that all read a count below the limit, only
        # as many as it has left get through.
        while True:
            # A key outlives its window; expired or evicted between the two calls, add again.
            self.cache.add(key, 0, self.duration)
            with contextlib.suppress(ValueError):
                return int(self.cache.incr(key))

    def client_key(self, request: Any, scope: str) -> str:
        """The counter of this request's client for ``scope``."""
        return str(self.cache_format % {"scope": scope, "ident": self.get_ident(request)})


class RegisterThrottle(FixedWindowThrottle):
    """Device registrations per client (``JAGA_HUB_REGISTER_RATE``): every attempt counts,
    whatever its code, since a code is guessable only by brute force."""

    scope = "register"
    wait_s = 0.0

    def allow_request(self, request: Any, view: Any) -> bool:
        self.wait_s = self.take([self.client_key(request, self.scope)])
        return self.wait_s == 0

    def wait(self) -> float:
        """Seconds until the window ends (the 429's ``Retry-After``)."""
        return self.wait_s
