"""A second process for the tests of concurrent installs, run from the repository root as

    python -m tests.inference.pack.pack_worker install|reinstall|record PACK MIRROR MODEL_ID [GATE]

It installs (``reinstall``: with ``--force``, over the one there; ``record``: only records)
one model of ``two_model_manifest()``. Given ``GATE``, it stops half-way — in the
conversion for ``install``, as the built file is about to replace the one in place for
``reinstall``, between reading and writing installed.json for ``record`` — after creating
``GATE.reached``, and goes on once ``GATE`` exists: the test decides when the other process
gets in.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from unittest import mock

from inference.pack import install as install_module
from inference.pack import installed as installed_module
from inference.pack.converters import copy_onnx
from inference.pack.files import replace_durably, write_json_atomically
from inference.pack.install import install
from inference.pack.installed import ModelPack
from tests.inference.pack.helpers import two_model_manifest

# A test that never opens the gate must not hang the run; but a test that opens it only
# once a training has reached its wait takes far longer than 20 s on a loaded machine.
_GATE_DEADLINE_S = 300


def wait_at(gate: Path) -> None:
    gate.with_name(gate.name + ".reached").touch()
    deadline = time.monotonic() + _GATE_DEADLINE_S
    while not gate.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{gate} was never created")
        time.sleep(0.01)


def pause_conversions(gate: Path) -> None:
    def gated_copy(
        sources: Mapping[str, Path], output: Path, options: Mapping[str, object]
    ) -> None:
        copy_onnx(sources, output, options)
        wait_at(gate)

    mock.patch.object(install_module, "get_converter", lambda name: gated_copy).start()


def pause_record_writes(gate: Path) -> None:
    def gated_write(data: object, final: Path) -> None:
        wait_at(gate)
        write_json_atomically(data, final)

    mock.patch.object(installed_module, "write_json_atomically", gated_write).start()


def pause_replacements(gate: Path) -> None:
    def gated_replace(temporary: Path, final: Path) -> None:
        wait_at(gate)
        replace_durably(temporary, final)

    mock.patch.object(install_module, "replace_durably", gated_replace).start()


def main(argv: list[str]) -> int:
    action, root, mirror, model_id, *gate = argv
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    pack = ModelPack(Path(root), two_model_manifest())
    spec = pack.manifest.model(model_id)
    if action == "record":
        if gate:
            pause_record_writes(Path(gate[0]))
        pack.write_record(spec, "0" * 64)
        return 0
    if gate:
        pause = pause_replacements if action == "reinstall" else pause_conversions
        pause(Path(gate[0]))
    install(
        pack, [spec], mirror=Path(mirror), force=action == "reinstall",
        progress=lambda line: print(line, flush=True),
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
