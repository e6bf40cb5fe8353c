"""Serve the hub with gunicorn (threaded workers) inside the ``jaga hub run`` process.

Each start gets a fresh folder for the workers' Prometheus counts (``metrics_process``).
The master runs in this process, so a SIGKILL of it takes the workers down too (they
watch their parent) and a restart can bind the same port; an embedded PostgreSQL outlives
a kill and is adopted by the next start. A worker that cannot boot (a broken setting)
stops the master with gunicorn's exit status 3, so systemd sees the hub fail.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

from gunicorn.app.base import BaseApplication

from sync.hub.metrics_process import child_exit, multiprocess_metrics


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 4
    timeout_s: int = 60
    # Longer than devices keep an idle connection (sync.client.transport
    # IDLE_CONNECTION_REUSE_S), so the hub never closes one a device is about to reuse.
    # An idle kept connection holds no thread of the threaded workers.
    keepalive_s: int = 10
    access_log: bool = False


class HubServer(BaseApplication):
    def __init__(self, options: ServeOptions) -> None:
        self._settings = {
            "bind": f"{options.host}:{options.port}",
            "workers": options.workers,
            # Threads: a boat on a slow link uploading a chunk must not hold a whole worker.
            "worker_class": "gthread",
            "threads": options.threads,
            "timeout": options.timeout_s,
            "keepalive": options.keepalive_s,
            "graceful_timeout": 10,
            "accesslog": "-" if options.access_log else None,
            "errorlog": "-",
            "proc_name": "jaga-hub",
            # gunicorn's control socket has one default path per user: two hubs on one
            # machine (tests, a second site) would fight over it, and we do not use it.
            "control_socket_disable": True,
            "child_exit": child_exit,  # Prometheus: a dead worker's live values go
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from sync.hub.wsgi import application

        return application


def serve(options: ServeOptions) -> int:
    """Run until SIGTERM / SIGINT; returns the exit status."""
    _say_why_metrics_are_off()
    master = os.getpid()
    try:
        # Before the first worker is forked: every worker then counts into the same folder.
        with multiprocess_metrics():
            HubServer(options).run()
    except SystemExit as exit_:
        if os.getpid() != master:
            _leave_worker(exit_.code)
        return int(exit_.code or 0)
    return 0


def _leave_worker(code: object) -> NoReturn:
    """End a forked worker now, as gunicorn asked, without the exit handlers it inherited.

    They are the master's: onnxruntime's (the jaga CLI loads it) waits forever for a thread
    pool that only the master has, so a worker that failed to boot never ended, gunicorn
    never saw its boot error (it stops the hub on one), and the hub stayed up serving
    nothing. Nothing of the worker's needs them: its log lines are written as they come.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0 if code is None else code if isinstance(code, int) else 1)  # as sys.exit


def _say_why_metrics_are_off() -> None:
    """A metrics token that was set but cannot be used is said at start, not only to the
    Prometheus that gets 403 (Django is set up by now)."""
    from sync.hub.metrics_http import token_problem

    token = os.environ.get("JAGA_HUB_METRICS_TOKEN", "")
    problem = token_problem(token)
    if token and problem is not None:
        print(f"jaga hub: {problem}", file=sys.stderr)
