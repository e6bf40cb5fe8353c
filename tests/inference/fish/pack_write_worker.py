"""A process that writes a species pack and is killed half-way, run from the repository root as

    python -m tests.inference.fish.pack_write_worker staging|swap SOURCE DESTINATION GATE

It writes the pack at ``SOURCE`` again into ``DESTINATION`` with ``write_pack`` and stops —
``staging``: with the new pack staged, before it is flushed; ``swap``: between the two
renames, the pack before retired aside and the new one not yet in its place — after
creating ``GATE.reached``; the test then kills it (SIGKILL: a power cut runs no cleanup).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from unittest import mock

from inference.fish import pack as pack_module
from inference.fish.pack import load_pack, write_pack
from tests.inference.pack.pack_worker import wait_at


def pause_staging(gate: Path) -> None:
    mock.patch.object(pack_module, "sync_folder", lambda folder: wait_at(gate)).start()


def pause_swap(gate: Path) -> None:
    rename = Path.rename

    def gated(self: Path, target: Any) -> Path:
        moved = rename(self, target)
        if str(target).endswith(".old"):  # the pack before, retired aside
            wait_at(gate)
        return moved

    mock.patch.object(Path, "rename", gated).start()


def main(argv: list[str]) -> int:
    where, source, destination, gate = argv
    {"staging": pause_staging, "swap": pause_swap}[where](Path(gate))
    pack = load_pack(Path(source))
    write_pack(
        Path(destination), name=pack.name, version=pack.version,
        backbone_sha256=pack.backbone_sha256, build={n: pack.root / n for n in pack.sha256},
        input_sizes=pack.input_sizes,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
