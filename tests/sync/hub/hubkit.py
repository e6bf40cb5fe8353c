"""Helpers to talk to a hub in tests: in-process (Django's test client) or a real process.

``start_hub_process`` runs ``jaga hub run`` (gunicorn) on a free loopback port against a
given ``DATABASE_URL`` and waits until it answers; the returned ``HubProcess`` can be
stopped, SIGKILLed mid-request and restarted on the same port — what fault tests need.
Django objects are imported inside functions: this module is imported before Django is set
up (by ``conftest``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sync.protocol import PROTOCOL_VERSION, OutboxEntry
from tests.sync.hub.entries import batch

REPO = Path(__file__).resolve().parents[3]


def example_env() -> dict[str, str]:
    """The settings packaging/systemd/hub.env.example ships (its uncommented lines)."""
    lines = (REPO / "packaging" / "systemd" / "hub.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def one_shot_token(page: str) -> str:
    """The one-shot token (``sync.hub.admin.once``) of the admin form on ``page`` (its HTML)."""
    token = re.search(r'name="_once" value="([^"]+)"', page)
    assert token, "the form carries no one-shot token"
    return token.group(1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class HubProcess:
    """A ``jaga hub run`` child process serving on ``127.0.0.1:port``."""

    database_url: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)  # on top of this process's environment

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "hub.log"

    def start(self, timeout_s: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # It listens on loopback and is reached by that address (it will not start unnamed).
        hosts = os.environ.get("JAGA_HUB_ALLOWED_HOSTS") or "127.0.0.1"
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "JAGA_HUB_ALLOWED_HOSTS": hosts,
            **self.env,
        }
        command = [
            sys.executable,
            str(REPO / "main.py"),
            "hub",
            "run",
            "--data",
            str(self.data_dir),
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with self.log_path.open("ab") as log:
            # Own process group: stop() can take the gunicorn workers down with the master.
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log, stderr=log, start_new_session=True
            )
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"hub exited ({self.process.returncode}):\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/v1/status", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"hub not ready after {timeout_s}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: a crash, not a shutdown.

        (Killing only the master leaves workers serving until they notice, seconds later.)
        """
        if self.process is None:
            return
        _kill_group(self.process.pid)
        self.process.wait(10)
        self.process = None
        self._wait_port_closed()

    def _wait_port_closed(self, timeout_s: float = 10.0) -> None:
        """Until nothing answers on the port (a dying worker may still hold it briefly)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL the whole group if it lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        _kill_group(self.process.pid)  # leftover workers of this group
        self.process = None
        self._wait_port_closed()

    def restart(self, timeout_s: float = 60.0) -> None:
        self.stop()
        self.start(timeout_s)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


def _kill_group(pid: int) -> None:
    """SIGKILL the process group this helper created (the hub was started as its leader)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def start_hub_process(database_url: str, tmp_dir: Path, workers: int = 1) -> HubProcess:
    hub = HubProcess(database_url, tmp_dir, workers=workers)
    hub.start()
    return hub


@dataclass
class Api:
    """A registered device calling the hub in-process through Django's test client."""

    site: str
    device_id: str
    token: str
    client: Any

    @classmethod
    def register_new(cls, site: str, name: str = "device") -> Api:
        from django.test import Client

        from sync.hub.auth import create_device

        issued = create_device(site, name)
        client = Client()
        response = client.post(
            "/api/v1/devices/register", {"code": issued.code}, content_type="application/json"
        )
        assert response.status_code == 200, response.content
        body = response.json()
        return cls(site, body["device_id"], body["token"], client)

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token if token is None else token}"}

    def post(
        self,
        path: str,
        body: Any,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Any:
        data = (
            json.dumps(body)
            if content_type == "application/json" and not isinstance(body, bytes | str)
            else body
        )
        return self.client.post(
            path,
            data,
            content_type=content_type,
            headers=headers if headers is not None else self.auth(),
        )

    def get(
        self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        return self.client.get(
            path, params or {}, headers=self.auth() if headers is None else headers
        )

    def site_path(self, tail: str, site: str | None = None) -> str:
        return f"/api/v1/sites/{site or self.site}/{tail}"

    def push(self, *entries: OutboxEntry, site: str | None = None) -> dict[str, Any]:
        response = self.push_response(*entries, site=site)
        assert response.status_code == 200, response.content
        result: dict[str, Any] = response.json()
        return result

    def push_response(self, *entries: OutboxEntry, site: str | None = None) -> Any:
        body = batch(self.device_id, entries).model_dump(mode="json")
        return self.post(self.site_path("push", site), body)

    def pull(self, cursor: int = 0, limit: int | None = None) -> dict[str, Any]:
        params = {"cursor": cursor, "protocol_version": PROTOCOL_VERSION}
        params |= {"limit": limit} if limit else {}
        response = self.get(self.site_path("changes"), params)
        assert response.status_code == 200, response.content
        result: dict[str, Any] = response.json()
        return result

    def pull_all(self) -> list[dict[str, Any]]:
        changes: list[dict[str, Any]] = []
        cursor = 0
        while True:
            page = self.pull(cursor)
            changes.extend(page["changes"])
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return changes


def jaga_hub(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """``jaga hub ARGS`` as its own process, against ``database_url``."""
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), "hub", *args],
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )


DJANGO = (sys.executable, "-m", "django")
MIGRATE = (*DJANGO, "migrate", "--no-input")


def django_env(env: dict[str, str]) -> dict[str, str]:
    """A ``django-admin`` process's environment on the hub's settings: ``env`` and nothing of
    the tests' own (no secret key unless it names one)."""
    return {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "sync.hub.settings", **env}


def migrate_env(database_url: str) -> dict[str, str]:
    """The environment of a ``migrate`` process against ``database_url``, as a hub's start
    migrates (``start_migrate``, ``run_migrate``)."""
    secret = {"JAGA_HUB_SECRET_KEY": "x" * 50, "PYTHONPATH": str(REPO)}
    return django_env({"DATABASE_URL": database_url, **secret})


def start_migrate(database_url: str) -> subprocess.Popen[bytes]:
    """A ``migrate`` process against ``database_url``, left running (a test kills it midway)."""
    return subprocess.Popen(
        MIGRATE, env=migrate_env(database_url), cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def run_migrate(database_url: str) -> subprocess.CompletedProcess[str]:
    """A ``migrate`` process against ``database_url``, run to its end (its log on stderr)."""
    return subprocess.run(
        MIGRATE, env=migrate_env(database_url), cwd=REPO, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


def django_admin(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``django-admin ARGS`` on the hub's settings as its own process, in an environment of
    ``env`` only (no secret key unless it names one)."""
    return subprocess.run(
        [*DJANGO, *args],
        env=django_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
