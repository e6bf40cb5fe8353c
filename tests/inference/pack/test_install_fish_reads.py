"""`jaga models install` reads each installed file through sha256 once, whether it finds the
species pack current or rebuilds it: a Jetson reads the pack's 90 MB from its SD card each
time."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from inference.fish import installed as fish_installed
from inference.fish.installed import DEFAULT_ASSETS
from inference.pack.install import FISH_BACKBONE_ID, install
from inference.pack.installed import ModelPack
from tests.inference.pack.test_install_fish import backbone_only, calibrated, changed_assets

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]
__all__ = ["backbone_only", "calibrated"]  # fixtures: imported for pytest to find them here


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> Counter[Path]:
    """How often each file is read through sha256 from here on."""
    from inference.fish import default_pack, pack_reading
    from inference.fish import pack as fish_pack
    from inference.pack import files
    from inference.pack import install as pack_install
    from inference.pack import installed as pack_installed

    counts: Counter[Path] = Counter()
    real = files.sha256_of

    def counting(path: Path) -> str:
        counts[Path(path).resolve()] += 1
        return real(path)

    for module in (fish_installed, pack_reading, default_pack, fish_pack, pack_install,
                   pack_installed, files):  # fmt: skip
        monkeypatch.setattr(module, "sha256_of", counting)
    return counts


def test_an_install_with_all_current_reads_each_file_once(
    backbone_only: ModelPack, hashed: Counter[Path]
) -> None:
    install(backbone_only, backbone_only.manifest.models)
    hashed.clear()
    assert [o.action for o in install(backbone_only, backbone_only.manifest.models)] == [
        "up to date", "up to date",
    ]  # fmt: skip
    assert hashed and twice(hashed, set(hashed)) == {}


def test_an_outdated_species_pack_is_read_once_to_find_it_outdated(
    backbone_only: ModelPack, calibrated: Path, tmp_path: Path, hashed: Counter[Path]
) -> None:
    """A release with a new card: the pack installed is whole but not these assets', found
    so by reading each of its files once, and rebuilt with its INT8 model kept."""
    from inference.fish.default_pack import ensure_default_pack

    backbone = backbone_only.model(FISH_BACKBONE_ID).path
    older = changed_assets(tmp_path, "card.md", lambda card: card + "\nAn older line.\n")
    ensure_default_pack(backbone, calibrated, assets=older)
    installed = {p.resolve() for p in calibrated.iterdir()}
    hashed.clear()
    lines: list[str] = []
    outcomes = install(backbone_only, backbone_only.manifest.models, progress=lines.append)
    assert [o.action for o in outcomes] == ["up to date", "built"]
    assert any("kept the INT8 model" in line for line in lines), lines
    inputs = installed | {backbone.resolve()} | {p.resolve() for p in DEFAULT_ASSETS.iterdir()}
    assert twice(hashed, inputs) == {}


def twice(hashed: Counter[Path], among: set[Path]) -> dict[str, int]:
    """The files of ``among`` read through sha256 more than once, and how often."""
    return {
        f"{path.parent.name}/{path.name}": n
        for path, n in hashed.items()
        if n > 1 and path in among
    }
