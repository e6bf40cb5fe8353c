"""Fixtures of the runtime tests: a fake ``nvidia-smi`` that hangs, as on a wedged driver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inference.runtime import hardware


@pytest.fixture
def hung_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real ``nvidia-smi`` first on PATH that never answers within the probe's timeout
    (shortened, so the test takes a fraction of a second)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text("#!/bin/sh\nexec sleep 5\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{Path('/usr/bin')}:{Path('/bin')}")
    monkeypatch.setattr(hardware, "_NVIDIA_SMI_TIMEOUT_S", 0.2)
    hardware.gpu_name.cache_clear()  # the probe runs once per process; run it again here
    yield
    hardware.gpu_name.cache_clear()
