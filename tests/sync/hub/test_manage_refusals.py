"""``jaga hub manage`` refuses the Django commands that write the hub's rows directly,
past the checks, change log, erasure journal and audit every other route goes through."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from sync.hub.models import Person, Site
from tests.sync.hub.hubkit import REPO


def _manage(tmp: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), "hub", "manage", "--data", str(tmp / "hub"),
         *args],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp), "DATABASE_URL": database_url,
             "JAGA_HUB_ALLOWED_HOSTS": "127.0.0.1"},
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp,
    )  # fmt: skip


def test_loaddata_is_refused_naming_the_routes_and_writes_nothing(
    hub_database: str, tmp_path: Path, site_slug: str
) -> None:
    """``manage loaddata`` wrote any site and person (a badge no kiosk checked, a consent no
    one gave, an erased person back from an old ``dumpdata``), logged in no change log,
    journal or audit, and pulled by no device."""
    person_uid = str(uuid.uuid4())
    fixture = tmp_path / "rows.json"
    fixture.write_text(
        json.dumps(
            [
                {
                    "model": "hub.site",
                    "pk": 900_000_001,
                    "fields": {"slug": site_slug, "created_at": "2026-01-01T00:00:00Z"},
                },
                {
                    "model": "hub.person",
                    "fields": {
                        "uid": person_uid,
                        "site": 900_000_001,
                        "external_id": "B-1",
                        "display_name": "Typed In",
                        "consent": {},
                        "created_at": "2026-01-01T00:00:00Z",
                        "updated_at": "2026-01-01T00:00:00Z",
                    },
                },
            ]
        )
    )
    done = _manage(tmp_path, hub_database, "loaddata", str(fixture))
    assert done.returncode == 2, (done.stdout, done.stderr)
    said = done.stderr.strip()
    assert "Traceback" not in said
    assert said.startswith("jaga hub manage: error: loaddata"), said
    assert "jaga hub restore" in said and "create-device" in said, said
    assert not Person.objects.filter(uid=person_uid).exists()
    assert not Site.objects.filter(slug=site_slug).exists()
    assert not (tmp_path / "hub").exists()  # refused before a hub was made or started


@pytest.mark.parametrize("command", ["flush", "loaddata"])
def test_refused_commands_stop_before_the_database(tmp_path: Path, command: str) -> None:
    """Refused on the command line: no PostgreSQL started, no data folder made, whatever
    follows the name (``flush --no-input`` would have emptied every table)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "hub", "manage", command, "--no-input"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip().startswith(f"jaga hub manage: error: {command}"), done.stderr
    assert not (tmp_path / ".local").exists()
