"""Prometheus's multi-process mode for the hub's gunicorn workers.

Each worker counts in its own process; prometheus_client adds them up when every worker
writes to files in one folder named by ``PROMETHEUS_MULTIPROC_DIR``. That variable must be
set before prometheus_client is first imported (it picks its value store then), and the
folder must start empty, or counts of an earlier run would be added to this one. So
``jaga hub run`` makes a fresh folder per start, in the master, before the first worker is
forked, and removes it when the master exits. ``JAGA_HUB_METRICS_DIR`` names where the
folder is made (default: the system's temporary folder).

A server other than ``jaga hub run`` (gunicorn with its own config) must do the same: a
fresh ``PROMETHEUS_MULTIPROC_DIR`` per start and ``child_exit`` below as its hook.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PARENT_ENV = "JAGA_HUB_METRICS_DIR"


class MetricsSetupError(RuntimeError):
    """prometheus_client was imported before the folder was set: every worker would count
    on its own and a scrape would show one worker's share. A bug in the hub's start-up."""


@contextlib.contextmanager
def multiprocess_metrics() -> Iterator[Path]:
    """Set a fresh, empty ``PROMETHEUS_MULTIPROC_DIR`` for this run; remove it after."""
    if "prometheus_client" in sys.modules:
        raise MetricsSetupError(
            "prometheus_client was imported before the hub set PROMETHEUS_MULTIPROC_DIR"
        )
    parent = os.environ.get(PARENT_ENV) or None
    folder = Path(tempfile.mkdtemp(prefix="jaga-hub-metrics-", dir=parent))
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = str(folder)
    master = os.getpid()
    try:
        yield folder
    finally:
        # A forked worker leaves through here too (gunicorn ends it with SystemExit): the
        # folder is the master's to remove, once, with the counts of every worker in it.
        if os.getpid() == master:
            _forget(folder, previous)


def _forget(folder: Path, previous: str | None) -> None:
    if previous is None:
        os.environ.pop(MULTIPROC_ENV, None)
    else:
        os.environ[MULTIPROC_ENV] = previous
    shutil.rmtree(folder, ignore_errors=True)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn's hook, in the master, when a worker has exited: drop its live-only values
    (its counters stay: what it counted still happened)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]  # untyped upstream
