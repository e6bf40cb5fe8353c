"""The layering of DESIGN.md is executable: import-linter contracts in pyproject.toml.

The second test proves the contracts can fail: a throwaway tree that breaks each rule
must be reported broken by the same configuration.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))

VIOLATIONS = {
    "inference/__init__.py": "import sqlite3\nimport PySide6\n",
    "sync/__init__.py": "import onnxruntime\nimport inference\n",
    "desktop/__init__.py": "",
    "sync/hub/__init__.py": "import sync.store\nimport sync.client\n",
    "sync/store/__init__.py": "",
    "sync/client/__init__.py": "",
    "sync/client/errors.py": "",
    "sync/cli_errors.py": "import sync.client.errors\n",  # the one import let through
    "sync/hub/thumbnails.py": "import cv2\n",  # OpenCV as the hub's image codec, let through
}


def run_lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, capture_output=True, text=True, check=False,
        env={"PYTHONPATH": str(root), "PATH": ""},
    )  # fmt: skip


def test_the_real_tree_keeps_every_contract() -> None:
    result = run_lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.split("Contracts:")[-1].replace("0 broken", "")


def test_the_contracts_catch_each_kind_of_violation(tmp_path: Path) -> None:
    shutil.copyfile(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    for relative, source in VIOLATIONS.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(source)
    result = run_lint_imports(tmp_path)
    assert result.returncode == 1
    assert "Contracts: 0 kept, 6 broken." in result.stdout, result.stdout
