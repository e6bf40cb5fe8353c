"""Attempts limited per client (or other key) over any span of the window's length, each
counted atomically before the work it guards.

DRF's own throttles read a client's history of requests, decide, and write it back: a
read-modify-write, so attempts that arrive at once all read the same history and all get
through. Here each attempt takes counters with the cache's atomic ``add`` and ``incr``
(Redis' INCR; local memory under its lock), so however many arrive at once, at most N get
through per key in a span. An attempt over the limit is not counted (it is given back), and
one from a key already over its limit is refused before anything is counted: it adds no
counter to the cache, so no number of them can make the cache drop the counts that lock
others.

Counted in windows fixed to the clock, a client that timed a window's end would get 2N
attempts within a short span around it. So the clock is cut into slices (``SLICES`` a
window), and each attempt is counted in every span of ``SLICES + 1`` slices it falls in
(the span ending with its slice, and the ``SLICES`` after): it gets through only if none of
them is over N. Any span of the window's length lies within one such span, so it never
holds more than N attempts that got through; the price is that a lock lasts from one
window to a slice more (until the last full span ends), and a client at the limit all the
time gets N per window and a slice. The rates are DRF's ``"N/period"``
(``DEFAULT_THROTTLE_RATES``) and the client is DRF's (``get_ident``, which trusts
``NUM_PROXIES`` proxies), taken as its network where one client holds many addresses
(``client_network``); the counts are shared by every worker only with ``REDIS_URL``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
from collections.abc import Sequence
from typing import Any

from django.core.cache import caches
from django.utils.connection import ConnectionProxy
from rest_framework.throttling import SimpleRateThrottle


class SlidingWindowThrottle(SimpleRateThrottle):
    """Counts attempts against named counters in every span holding now (``take``)."""

    # A room of their own (settings.caches_for): in the default's 300 entries, a flood of
    # other keys would drop a count, and with it a lock.
    cache = ConnectionProxy(caches, "limits")
    # Slices a window: more make a lock end closer to a window after the attempts, at a
    # counter a slice more for each key (so many fewer clients in the cache's room).
    SLICES = 2
    keys: list[str]  # this attempt's counters, set by take

    def take(self, names: Sequence[str]) -> float:
        """Count an attempt against each counter ``names`` names; 0: counted, let it
        through. Over a limit: the seconds until it would get through, not counted."""
        now = self.timer()
        width = self.duration / self.SLICES
        first = math.floor(now / width)
        spans = range(first, first + self.SLICES + 1)  # each named by its last slice
        self.keys = [f"{name}_{span}" for name in names for span in spans]
        # Read before counting: an attempt already over a limit adds and changes no counter
        # (so refused attempts can neither crowd others' counters out of the cache nor lift
        # another's count over the limit).
        held = self.cache.get_many(self.keys)
        full = [key for key in self.keys if int(held.get(key, 0)) >= self.num_requests]
        if not full:
            # Atomic, unlike the read: of attempts that all read counts below the limit,
            # only as many as it has left get through.
            full = [key for key in self.keys if self._count(key, width) > self.num_requests]
            if not full:
                return 0.0
            self.give_back()  # a refused attempt is no attempt; counted, it would lock others
        self.keys = []
        # It gets through in the slice after the last full span's.
        last = max(int(key.rsplit("_", 1)[1]) for key in full)
        return float((last + 1) * width - now)

    def give_back(self) -> None:
        """Uncount the attempt ``take`` counted (refused, or one that is not to count)."""
        for key in self.keys:
            with contextlib.suppress(ValueError):  # the span is over: nothing to give back
                self.cache.decr(key)

    def _count(self, key: str, width: float) -> int:
        while True:
            # A key outlives its span (at most SLICES + 1 slices from now); expired or
            # evicted between the two calls, add again.
            self.cache.add(key, 0, math.ceil(width * (self.SLICES + 1)))
            with contextlib.suppress(ValueError):
                return int(self.cache.incr(key))

    def client_key(self, request: Any, scope: str) -> str:
        """The counter of this request's client for ``scope``."""
        ident = client_network(self.get_ident(request))
        return str(self.cache_format % {"scope": scope, "ident": ident})


def client_network(ident: str | None) -> str | None:
    """The client an address stands for: an IPv6 address's /64, which one client (a home,
    a phone) holds whole and may send from any of 2^64 addresses, each of them a fresh
    limit if counted alone; an IPv4-mapped IPv6 address's IPv4 address. Anything else (not
    an address, or None where the server gave none) as it is."""
    try:
        address = ipaddress.ip_address((ident or "").strip())
    except ValueError:
        return ident
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class RegisterThrottle(SlidingWindowThrottle):
    """Device registrations per client (``JAGA_HUB_REGISTER_RATE``): every attempt counts,
    whatever its code, since a code is guessable only by brute force."""

    scope = "register"
    wait_s = 0.0

    def allow_request(self, request: Any, view: Any) -> bool:
        self.wait_s = self.take([self.client_key(request, self.scope)])
        return self.wait_s == 0

    def wait(self) -> float:
        """Seconds until an attempt would get through (the 429's ``Retry-After``)."""
        return self.wait_s
