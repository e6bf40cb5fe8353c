"""``jaga hub create-device --name``: a device operators cannot recognise, a blank name, is
refused when the command line is read (argparse's exit status 2, one line), before a
database starts; a name is kept without the spaces around it, as the admin's form keeps it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sync.hub.models import Device
from tests.sync.hub.hubkit import REPO
from tests.sync.hub.test_cli_args import _parse as parse
from tests.sync.hub.test_cli_args import _refused as refused


@pytest.mark.parametrize("name", ["", " ", "\t\n", "\u3000"])
def test_a_blank_device_name_is_refused_when_read(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    said = refused(capsys, "create-device", "--site", "gate", f"--name={name}")
    assert said.splitlines()[-1].endswith("a device needs a name operators recognise"), said


def test_a_blank_device_name_makes_no_device(
    hub_database: str, site_slug: str, tmp_path: Path
) -> None:
    """Run as an operator runs it, on the real hub: a device named "  " was created."""
    done = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "hub", "create-device", "--site", site_slug,
         "--name", "  "],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATABASE_URL": hub_database},
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done
    error = [line for line in done.stderr.splitlines() if "error:" in line]
    assert error == ["jaga hub create-device: error: argument --name: a device needs a name"
                     " operators recognise"], done.stderr  # fmt: skip
    assert not Device.objects.filter(site__slug=site_slug).exists()


def test_a_name_is_kept_without_the_spaces_around_it() -> None:
    assert parse("create-device", "--site", "gate", "--name", " gate kiosk ").name == "gate kiosk"
