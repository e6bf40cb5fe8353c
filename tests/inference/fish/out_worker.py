"""A ``jaga fish export-training-set --out`` stopped with its staging folder written, run
from the repository root as

    python -m tests.inference.fish.out_worker killed|paused GATE CORRECTIONS OUT

``killed`` kills itself (SIGKILL: a power cut runs no cleanup) as it writes its record;
``paused`` creates ``GATE.reached`` there and waits for ``GATE``.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any
from unittest import mock

from inference.fish import added_record
from main import main as jaga
from tests.inference.pack.pack_worker import wait_at


def main(argv: list[str]) -> int:
    how, gate, corrections, out = argv
    real = added_record.write_record

    def stopped(*args: Any, **kwargs: Any) -> Any:
        if how == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        wait_at(Path(gate))
        return real(*args, **kwargs)

    mock.patch.object(added_record, "write_record", stopped).start()
    return jaga(["fish", "export-training-set", "--corrections", corrections, "--out", out])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
