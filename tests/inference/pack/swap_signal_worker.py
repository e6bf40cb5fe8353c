"""``jaga ARGS`` that signals itself the instant a species pack write swaps packs, run from the
repository root as

    python -m tests.inference.pack.swap_signal_worker KILL|INT ARGS...

The signal comes when ``write_pack`` has set the pack before aside and is about to rename
the new one into ``fish-default`` (an audit hook on that rename): ``KILL`` is a power cut
(no cleanup runs), ``INT`` is Ctrl-C (a KeyboardInterrupt, raised before the rename).
"""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

STAGING = re.compile(r"\.fish-default\.[a-z0-9_]{8}")


def signal_at_swap(signum: int) -> None:
    sent = False

    def hook(event: str, args: tuple[Any, ...]) -> None:
        nonlocal sent
        if event != "os.rename" or sent:
            return
        source, target = Path(os.fsdecode(args[0])).name, Path(os.fsdecode(args[1])).name
        if STAGING.fullmatch(source) and target == "fish-default":
            sent = True
            os.kill(os.getpid(), signum)

    sys.addaudithook(hook)


def main(argv: list[str]) -> int:
    # A test run in the background starts this with SIGINT ignored: take Ctrl-C as a terminal would.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal_at_swap(getattr(signal, f"SIG{argv[0]}"))
    from main import main as jaga

    return jaga(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
