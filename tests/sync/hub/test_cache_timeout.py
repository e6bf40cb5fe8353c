"""The hub's Redis cache (``REDIS_URL``, ``settings.caches_for``) gives up on a Redis that
takes connections and never answers, instead of holding the request for ever."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import TimeoutError as RedisTimeout

from sync.hub import settings as hub_settings
from sync.hub.settings import caches_for


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A TCP port that accepts connections (the kernel's backlog) and never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


def test_a_redis_that_never_answers_fails_the_call_instead_of_holding_it(
    silent_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_settings, "REDIS_TIMEOUT_S", 0.2)
    config = caches_for(silent_redis)["default"]
    cache = RedisCache(config["LOCATION"], {"OPTIONS": config["OPTIONS"]})
    outcome: list[Any] = []

    def add() -> None:
        try:
            outcome.append(cache.add("jaga.test", 1, 60))
        except Exception as error:  # what the call raised is the result
            outcome.append(error)

    call = threading.Thread(target=add, daemon=True)
    call.start()
    call.join(60)  # a guard: without the timeout the call would never return
    assert outcome, "the cache call still waits on a Redis that never answers"
    assert isinstance(outcome[0], RedisTimeout)
