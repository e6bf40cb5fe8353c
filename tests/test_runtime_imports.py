"""The app runs on ONNX Runtime alone: its modules import without the ``models`` extra.

A device installs ``jaga`` without torch, timm or onnx (those build packs, on a workstation);
an import of any of them on the app's path would break it only there, never in a dev venv
that has everything. So each check runs in a fresh interpreter where they cannot be imported.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

BUILD_ONLY = ("torch", "torchvision", "timm", "onnx", "onnxscript", "tflite2onnx")
APP_MODULES = (
    "main",  # the `jaga` command (its full parser: test_the_full_parser_builds_...)
    "desktop.app",
    "desktop.catch_cli",
    "inference.fish.installed",
    "inference.fish.classify",
    "inference.face.pipeline",
    "inference.runtime",
    "sync.client",
)


def _import_without_build_packages(module: str, then: str = "") -> subprocess.CompletedProcess[str]:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in BUILD_ONLY)
    code = f"import sys; {blocked}; import {module}; {then}"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("module", APP_MODULES)
def test_app_module_imports_with_onnx_runtime_alone(module: str) -> None:
    result = _import_without_build_packages(module)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_check_catches_a_build_package_import() -> None:
    result = _import_without_build_packages("inference.fish.export")
    assert result.returncode != 0
    assert "import of onnx halted" in result.stderr


def test_the_full_parser_builds_with_onnx_runtime_alone() -> None:
    """`jaga --help` imports every command's module (a command alone imports its own)."""
    result = _import_without_build_packages("main", then="main.build_parser()")
    assert result.returncode == 0, result.stderr[-2000:]
