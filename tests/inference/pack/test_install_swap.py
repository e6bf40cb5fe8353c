"""A forced install replacing a model while another process reads the pack: the reader
finds the model before or after, never missing nor altered in between."""

from __future__ import annotations

import logging
from pathlib import Path

from inference.pack import installed as installed_module
from inference.pack.install import install
from inference.pack.installed import ModelPack
from tests.inference.pack.helpers import PAYLOADS, two_model_manifest, write_mirror
from tests.inference.pack.test_install_lock import finish, start_worker, wait_until_reached


class OpenGateOnWait(logging.Handler):
    """Lets the writer go on once the reader says it waits for the replacement: the reader
    has then seen the model half-replaced, which is what the test is about."""

    def __init__(self, gate: Path) -> None:
        super().__init__()
        self.gate = gate

    def emit(self, record: logging.LogRecord) -> None:
        if "waiting" in record.getMessage():
            self.gate.touch()


def test_a_reader_never_finds_a_model_missing_while_a_forced_install_replaces_it(
    tmp_path: Path,
) -> None:
    mirror = write_mirror(tmp_path / "mirror")
    pack = ModelPack(tmp_path / "pack", two_model_manifest())
    install(pack, pack.manifest.models, mirror=mirror)
    gate = tmp_path / "gate"
    writer = start_worker("reinstall", tmp_path, "a", gate)
    wait_until_reached(gate, writer)  # its file built, about to take the place of the old
    opener = OpenGateOnWait(gate)
    installed_module.log.addHandler(opener)
    level = installed_module.log.level
    installed_module.log.setLevel(logging.INFO)
    try:
        model = ModelPack(tmp_path / "pack", two_model_manifest()).model("a")
    finally:
        installed_module.log.removeHandler(opener)
        installed_module.log.setLevel(level)
        gate.touch()  # a reader that did not wait must not leave the writer stuck
        finish(writer)
    assert model.read_checked() == PAYLOADS["a"]
