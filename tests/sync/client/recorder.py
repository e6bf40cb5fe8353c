"""A service's ``on_state`` for tests: keeps every state published, and waits for one."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sync.client import ServiceState


class Recorder:
    """Collects the states a service publishes, and waits for one."""

    def __init__(self) -> None:
        self.states: list[ServiceState] = []
        self._changed = threading.Condition()

    def __call__(self, state: ServiceState) -> None:
        with self._changed:
            self.states.append(state)
            self._changed.notify_all()

    def wait_for(self, test: Callable[[ServiceState], bool], timeout_s: float = 10.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: any(map(test, self.states)), timeout_s):
                raise AssertionError(f"no such state in {[s.phase for s in self.states]}")
