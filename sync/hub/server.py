"""Serve the hub with gunicorn (threaded workers) inside the ``jaga hub run`` process.

The master runs in this process, so a SIGKILL of it takes the workers down too (they
watch their parent) and a restart can bind the same port; an embedded PostgreSQL outlives
a kill and is adopted by the next start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 4
    timeout_s: int = 60
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
            "graceful_timeout": 10,
            "accesslog": "-" if options.access_log else None,
            "errorlog": "-",
            "proc_name": "jaga-hub",
            # gunicorn's control socket has one default path per user: two hubs on one
            # machine (tests, a second site) would fight over it, and we do not use it.
            "control_socket_disable": True,
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
    master = os.getpid()
    try:
        HubServer(options).run()
    except SystemExit as exit_:
        if os.getpid() != master:
            raise  # a worker leaving: nothing of the master's to clean up
        return int(exit_.code or 0)
    return 0
