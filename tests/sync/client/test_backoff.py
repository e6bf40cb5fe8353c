"""Back-off: exponential ceilings, jitter within bounds, Retry-After as a floor."""

from __future__ import annotations

import random

import pytest

from sync.client import Backoff


def test_ceilings_double_up_to_the_cap() -> None:
    backoff = Backoff(base_s=1.0, cap_s=30.0)
    assert [backoff.ceiling_s(n) for n in range(8)] == [0, 1, 2, 4, 8, 16, 30, 30]
    assert backoff.ceiling_s(10_000) == 30.0  # no overflow after days offline


def test_delays_are_jittered_between_half_and_all_of_the_ceiling() -> None:
    backoff, rng = Backoff(base_s=2.0, cap_s=300.0), random.Random(7)
    for failures in range(1, 12):
        delays = [backoff.delay_s(failures, rng) for _ in range(200)]
        ceiling = backoff.ceiling_s(failures)
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        assert len(set(delays)) > 150  # devices that failed together spread out


def test_the_same_seed_gives_the_same_delays() -> None:
    backoff = Backoff()
    first = [backoff.delay_s(n, random.Random(3)) for n in range(1, 6)]
    assert first == [backoff.delay_s(n, random.Random(3)) for n in range(1, 6)]


def test_retry_after_is_a_floor_within_the_cap() -> None:
    backoff, rng = Backoff(base_s=1.0, cap_s=60.0), random.Random(1)
    assert 5.0 <= backoff.delay_s(1, rng, retry_after_s=5.0) <= 5.5  # and the jitter
    assert backoff.delay_s(1, rng, retry_after_s=3600.0) == 60.0
    with pytest.raises(ValueError, match="base_s"):
        Backoff(base_s=0.0)


@pytest.mark.parametrize("failures", [1, 2, 3])
def test_devices_told_the_same_retry_after_still_spread_out(failures: int) -> None:
    """The hub says ``Retry-After: 5`` to every device while its database is away: a floor
    that simply replaced the back-off's jittered delay sent every device that failed
    together back at the same instant, the herd the jitter is there to spread."""
    backoff = Backoff(base_s=2.0, cap_s=300.0)
    delays = [backoff.delay_s(failures, random.Random(seed), 5.0) for seed in range(200)]
    ceiling = backoff.ceiling_s(failures)
    assert len(set(delays)) > 150, f"{len(set(delays))} distinct delays of 200"
    assert min(delays) >= 5.0 and max(delays) <= max(5.0, ceiling) + ceiling / 2
