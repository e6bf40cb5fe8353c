"""The hub's signing key: a bare ``gunicorn sync.hub.wsgi:application`` (a scaled-out
worker, DESIGN) refuses to start without ``JAGA_HUB_SECRET_KEY`` rather than sign with a
public one; commands that sign nothing still run without it."""

from __future__ import annotations

import subprocess
import sys

from tests.sync.hub.hubkit import REPO, django_admin, free_port


def test_a_bare_gunicorn_without_the_secret_key_refuses_to_start() -> None:
    """The WSGI entry point would sign sessions, CSRF tokens and messages with a key anyone
    can read in this repository."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "--workers",
            "1",
            "sync.hub.wsgi:application",
        ],
        env={"PATH": "/usr/bin:/bin", "JAGA_HUB_ALLOWED_HOSTS": "hub.example.org"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert done.returncode != 0
    assert "JAGA_HUB_SECRET_KEY" in done.stderr


def test_commands_that_sign_nothing_run_without_the_secret_key(hub_database: str) -> None:
    for command in (["check"], ["makemigrations", "hub", "--check", "--dry-run"]):
        done = django_admin(*command, env={"DATABASE_URL": hub_database})
        assert done.returncode == 0, (command, done.stdout, done.stderr)
