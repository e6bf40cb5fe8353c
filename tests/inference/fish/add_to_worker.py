"""A ``jaga fish export-training-set --add-to`` killed half-way, run from the repository
root as

    python -m tests.inference.fish.add_to_worker groups|species|cleanup GATE CORRECTIONS DATA

It runs the real command and stops — ``groups``: the photos moved in and those taken back
moved out, ``groups.csv`` not yet rewritten; ``species``: ``groups.csv`` rewritten,
``species.csv`` not; ``cleanup``: the add done, its hidden working folder not yet deleted —
after creating ``GATE.reached``; the test then kills it (SIGKILL: a power cut runs no
cleanup).
"""

from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path
from typing import Any
from unittest import mock

from inference.fish import merge
from main import main as jaga
from tests.inference.pack.pack_worker import wait_at


def pause_before(name: str, gate: Path) -> None:
    real = getattr(merge, name)

    def gated(*args: Any, **kwargs: Any) -> Any:
        wait_at(gate)
        return real(*args, **kwargs)

    mock.patch.object(merge, name, gated).start()


def pause_cleanup(gate: Path) -> None:
    real = shutil.rmtree

    def gated(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path).name.startswith((".adding-", ".added-")):
            wait_at(gate)
        real(path, *args, **kwargs)

    mock.patch.object(shutil, "rmtree", gated).start()


def main(argv: list[str]) -> int:
    # A shell that runs the tests in the background (``cmd &``, as CI may) starts them with
    # SIGINT ignored, which a child inherits: the tests' Ctrl-C must reach the add.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    where, gate, corrections, data = argv
    if where == "cleanup":
        pause_cleanup(Path(gate))
    else:
        pause_before({"groups": "_extend_groups", "species": "_extend_species"}[where], Path(gate))
    command = ["fish", "export-training-set", "--corrections", corrections, "--add-to", data]
    return jaga(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
