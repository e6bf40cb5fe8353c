"""Real species packs for the app's tests, and a classifier that notes where it switched.

``make_packs`` rebuilds the default pack from its head in ``assets/fish/default`` and the
installed backbone (what ``jaga fish build-pack`` does), re-issues it under a new version as
a hub operator would publish one, and copies that one with its species list changed after
its manifest was made (a pack damaged in transit or altered: it must be refused).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any, ClassVar

from inference.fish.classify import SpeciesClassifier
from inference.fish.default_pack import build_from_head
from inference.fish.installed import DEFAULT_ASSETS
from inference.fish.pack import SpeciesPack, load_pack, write_pack
from inference.pack.install import FISH_BACKBONE_ID
from inference.pack.installed import ModelPack
from inference.runtime import ThreadBudget
from inference.runtime.providers import CPU, plan_providers


class RecordingClassifier(SpeciesClassifier):
    """The real classifier on the CPU, noting the thread each pack switch ran on."""

    switch_threads: ClassVar[list[threading.Thread]] = []

    def switch_pack(self, root: Path) -> SpeciesPack:
        self.switch_threads.append(threading.current_thread())
        return super().switch_pack(root)


def build_on_cpu(root: Path) -> SpeciesClassifier:
    return RecordingClassifier.from_path(root, plan=plan_providers([CPU]), threads=ThreadBudget(1))


def reissue(pack: Path, destination: Path, version: str) -> Path:
    """The same pack under another version, with its own manifest (so it verifies)."""
    source = load_pack(pack)
    files: dict[str, Path | dict[str, Any] | str] = {n: source.root / n for n in source.sha256}
    return write_pack(
        destination, name=source.name, version=version,
        backbone_sha256=source.backbone_sha256, build=files, input_sizes=source.input_sizes,
    ).root  # fmt: skip


def make_packs(model_pack: ModelPack, root: Path) -> dict[str, Path]:
    """``first`` (the default pack), ``next`` (a newer version) and ``damaged``."""
    backbone = model_pack.model(FISH_BACKBONE_ID).path
    first = build_from_head(DEFAULT_ASSETS, root / "first", backbone)
    following = reissue(first.root, root / "next", f"{first.version}.1")
    damaged = root / "damaged"
    shutil.copytree(following, damaged)
    species = damaged / "species.json"
    species.write_text(species.read_text().replace('"name": "', '"name": "Not ', 1))
    return {"first": first.root, "next": following, "damaged": damaged}


def version(pack: Path) -> str:
    return load_pack(pack).version
