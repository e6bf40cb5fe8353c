"""What a fixture makes once for the whole run, shared by the run's pytest-xdist workers."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def made_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], T],
    load: Callable[[Path], T],
) -> T:  # fmt: skip
    """``make(folder)`` in the first xdist worker to ask, ``load(folder)`` in the others.

    The folder is in the temporary folder the run's workers share, its making under an
    exclusive lock there (a worker that asks meanwhile waits for it), and what is made is a
    function of the fixture's inputs alone, which are the same in every worker. Outside
    xdist the folder is the session's own, as before."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return make(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent / "made-once"
    shared.mkdir(exist_ok=True)
    folder, made = shared / name, shared / f"{name}.made"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if made.exists():
            return load(folder)
        shutil.rmtree(folder, ignore_errors=True)  # a worker's making that failed half way
        folder.mkdir()
        result = make(folder)
        made.touch()
        return result
