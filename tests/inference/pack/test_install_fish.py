"""Installing the fish backbone builds the default species pack on it: verified, idempotent."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from inference.fish import installed as fish_installed
from inference.fish.errors import SpeciesPackError
from inference.fish.installed import DEFAULT_ASSETS, INSTALLED_FOLDER, PACK_INFO
from inference.fish.pack import (
    INT8_FAMILIARITY_FILE,
    MODEL_FILES,
    SPECIES_FILE,
    load_pack,
    write_pack,
)
from inference.pack import install as install_module
from inference.pack.files import sha256_of
from inference.pack.install import FISH_BACKBONE_ID, install
from inference.pack.installed import ModelPack
from main import main
from tests.conftest import REPO
from tests.inference.pack.helpers import HOLD_INSTALL_LOCK, pack_of_one
from tests.inference.pack.test_install_lock import (
    WAITING,
    finish,
    output_until_waiting,
    wait_until_reached,
)

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]


@pytest.fixture
def backbone_only(model_pack: ModelPack, tmp_path: Path) -> ModelPack:
    """A model pack holding only the installed fish backbone (copied, with its record)."""
    return pack_of_one(model_pack, FISH_BACKBONE_ID, tmp_path / "models")


def test_install_builds_the_default_species_pack_once(backbone_only: ModelPack) -> None:
    pack = backbone_only
    outcomes = install(pack, pack.manifest.models)
    assert [(o.model_id, o.action) for o in outcomes] == [
        (FISH_BACKBONE_ID, "up to date"), ("fish-default", "built"),
    ]  # fmt: skip
    species = load_pack(pack.root / INSTALLED_FOLDER)  # verifies every file's sha256
    info = json.loads((DEFAULT_ASSETS / PACK_INFO).read_text())
    assert species.version == info["version"] and len(species.species) == 23
    assert species.sha256[MODEL_FILES["fp32"]] == info["fp32_sha256"]
    again = install(pack, pack.manifest.models)
    assert [o.action for o in again] == ["up to date", "up to date"]


def test_a_damaged_species_pack_is_rebuilt_by_the_next_install(backbone_only: ModelPack) -> None:
    pack = backbone_only
    install(pack, pack.manifest.models)
    species_file = pack.root / INSTALLED_FOLDER / SPECIES_FILE
    species_file.write_text(species_file.read_text().replace("Chromis", "Chromix"))
    with pytest.raises(SpeciesPackError, match="does not match its sha256"):
        load_pack(pack.root / INSTALLED_FOLDER)
    assert [o.action for o in install(pack, pack.manifest.models)][-1] == "built"
    assert "Chromis" in species_file.read_text()
    load_pack(pack.root / INSTALLED_FOLDER)


def test_a_head_for_another_backbone_leaves_the_installed_pack_alone(
    backbone_only: ModelPack, tmp_path: Path
) -> None:
    from inference.fish.default_pack import ensure_default_pack

    pack = backbone_only
    install(pack, pack.manifest.models)
    installed = pack.root / INSTALLED_FOLDER
    before = sha256_of(installed / "manifest.json")
    other = tmp_path / "other-assets"
    shutil.copytree(DEFAULT_ASSETS, other)
    info = json.loads((other / PACK_INFO).read_text())
    (other / PACK_INFO).write_text(json.dumps({**info, "backbone_sha256": "0" * 64}))
    with pytest.raises(SpeciesPackError, match="trained on backbone"):
        ensure_default_pack(pack.model(FISH_BACKBONE_ID).path, installed, assets=other)
    assert sha256_of(installed / "manifest.json") == before
    load_pack(installed)


@pytest.fixture
def calibrated(backbone_only: ModelPack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The installed default pack with an INT8 model and its familiarity threshold, as
    `jaga fish build-pack --calibration DIR --out <models>/fish-default` leaves it (the
    INT8 ranges are not under test: its model is the FP32 one's copy)."""
    from inference.fish import export
    from inference.fish.dataset import load_dataset
    from inference.fish.default_pack import build_from_head
    from tests.conftest import shared_path

    f4k = shared_path("data", "fish", "f4k")
    training = json.loads((DEFAULT_ASSETS / "training.json").read_text())
    groups = set(training["split"]["validation_groups"])
    mine = [s for s in load_dataset(f4k).samples if s.species_id == "fish_01"]
    photos = tmp_path / "photos" / "fish_01"
    photos.mkdir(parents=True)
    for inside in (True, False):
        for sample in [s for s in mine if (s.group in groups) is inside][:2]:
            (photos / sample.path.name).symlink_to(sample.path)
    monkeypatch.setattr(export, "quantize_int8", lambda fp32, out, _: shutil.copyfile(fp32, out))
    backbone = backbone_only.model(FISH_BACKBONE_ID).path
    installed = backbone_only.root / INSTALLED_FOLDER
    build_from_head(DEFAULT_ASSETS, installed, backbone, calibration=photos.parent)
    assert set(load_pack(installed).models) == {"fp32", "int8"}
    assert INT8_FAMILIARITY_FILE in load_pack(installed).sha256
    return installed


def changed_assets(tmp_path: Path, name: str, change: Callable[[str], str]) -> Path:
    assets = Path(shutil.copytree(DEFAULT_ASSETS, tmp_path / f"assets-{name}"))
    (assets / name).write_text(change((assets / name).read_text()))
    return assets


def test_a_new_default_card_keeps_the_int8_model_build_pack_added(
    backbone_only: ModelPack, calibrated: Path, tmp_path: Path
) -> None:
    """A release that changes only the default pack's card changed the installed pack's
    files, so `jaga models install` rebuilt it FP32-only: the INT8 model `build-pack
    --calibration` had added, on the very same FP32 model, was gone without a word."""
    from inference.fish.default_pack import ensure_default_pack

    before = load_pack(calibrated).sha256
    assets = changed_assets(tmp_path, "card.md", lambda card: card + "\nA corrected line.\n")
    said: list[str] = []
    backbone = backbone_only.model(FISH_BACKBONE_ID).path
    assert ensure_default_pack(backbone, calibrated, assets=assets, note=said.append) == "built"
    after = load_pack(calibrated)
    assert "A corrected line." in (calibrated / "card.md").read_text()
    for kept in (MODEL_FILES["int8"], INT8_FAMILIARITY_FILE):
        assert after.sha256[kept] == before[kept]
    assert any("kept the INT8 model" in line for line in said), said


def test_a_failed_rebuild_never_says_it_kept_the_int8_model(
    backbone_only: ModelPack,
    calibrated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The note "kept the INT8 model" came before the pack was built: a build that then failed
    (the pack in place untouched) still said it."""
    from inference.fish import default_pack

    def failing(*args: object, **kwargs: object) -> None:
        raise SpeciesPackError("the disk is full")

    monkeypatch.setattr(default_pack, "build_from_head", failing)
    assets = changed_assets(tmp_path, "card.md", lambda card: card + "\nA corrected line.\n")
    said: list[str] = []
    backbone = backbone_only.model(FISH_BACKBONE_ID).path
    with pytest.raises(SpeciesPackError, match="the disk is full"):
        default_pack.ensure_default_pack(backbone, calibrated, assets=assets, note=said.append)
    assert not any("kept the INT8 model" in line for line in said), said


def test_an_int8_model_of_other_thresholds_is_dropped_and_said(
    backbone_only: ModelPack, calibrated: Path, tmp_path: Path
) -> None:
    """The INT8 familiarity threshold was chosen at the pack's fish acceptance: new
    thresholds make it stale, and the photos to choose it again are not at hand."""
    from inference.fish.default_pack import ensure_default_pack

    def accepting_fewer(text: str) -> str:
        thresholds = json.loads(text)
        thresholds["fish_acceptance"] = 0.9
        return json.dumps(thresholds)

    assets = changed_assets(tmp_path, "thresholds.json", accepting_fewer)
    said: list[str] = []
    backbone = backbone_only.model(FISH_BACKBONE_ID).path
    ensure_default_pack(backbone, calibrated, assets=assets, note=said.append)
    assert set(load_pack(calibrated).models) == {"fp32"}
    (line,) = [line for line in said if "INT8" in line]
    assert "not kept" in line and "--calibration" in line and str(calibrated) in line


def test_a_forced_install_keeps_the_int8_model_and_says_so(
    model_pack: ModelPack,
    backbone_only: ModelPack,
    calibrated: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`jaga models install --force` rebuilds the pack, and has no photos to rebuild its
    INT8 model from: the one still right for the head is kept, in the install's words."""
    converted = pinned_backbone_conversion(model_pack, monkeypatch)
    before = load_pack(calibrated).sha256[MODEL_FILES["int8"]]
    lines: list[str] = []
    outcomes = install(
        backbone_only, backbone_only.manifest.models, force=True, progress=lines.append
    )
    assert [(o.model_id, o.action) for o in outcomes] == [
        (FISH_BACKBONE_ID, "built"), ("fish-default", "built"),
    ]  # fmt: skip
    assert converted == [backbone_only.source_path(FISH_BACKBONE_ID, "pth")]
    assert load_pack(calibrated).sha256[MODEL_FILES["int8"]] == before
    assert any("kept the INT8 model" in line for line in lines), lines


def pinned_backbone_conversion(
    model_pack: ModelPack, monkeypatch: pytest.MonkeyPatch
) -> list[Path]:
    """The backbone's conversion in a forced install gives the file the real installer
    built (and the manifest pins) without torch exporting it again, which was most of the
    test's time; the install still fetches its source, checks what it got against the pin
    and puts it in place. The converter's export: test_efficientnet_lite.py. Returns the
    sources it is handed, as the install hands them."""
    built = model_pack.model(FISH_BACKBONE_ID).path
    spec = model_pack.manifest.model(FISH_BACKBONE_ID)
    handed: list[Path] = []

    def pinned(name: str) -> Callable[..., None]:
        assert name == spec.converter, name

        def convert(sources: dict[str, Path], output: Path, options: object) -> None:
            handed.extend(sources.values())
            shutil.copyfile(built, output)

        return convert

    monkeypatch.setattr(install_module, "get_converter", pinned)
    return handed


def test_a_forced_rebuild_after_a_killed_swap_keeps_the_int8_model(
    backbone_only: ModelPack, calibrated: Path
) -> None:
    """A swap killed between its two renames leaves the pack before set aside and no
    fish-default: the INT8 model was looked for before the pack was put back, so a direct
    ensure_default_pack(force=True) found none to keep and built the pack without it."""
    from inference.fish.default_pack import ensure_default_pack

    before = load_pack(calibrated).sha256[MODEL_FILES["int8"]]
    calibrated.rename(calibrated.with_name(f".{INSTALLED_FOLDER}.killed00.old"))  # as a kill
    said: list[str] = []
    backbone = backbone_only.model(FISH_BACKBONE_ID).path
    assert ensure_default_pack(backbone, calibrated, force=True, note=said.append) == "built"
    assert load_pack(calibrated).sha256.get(MODEL_FILES["int8"]) == before
    assert any("kept the INT8 model" in line for line in said), said


def test_installing_other_models_does_not_touch_the_species_pack(
    backbone_only: ModelPack,
) -> None:
    pack = backbone_only
    assert install(pack, []) == []
    assert not (pack.root / INSTALLED_FOLDER).exists()


@pytest.mark.parametrize("where", ["staging", "swap"])
def test_a_species_pack_build_killed_half_way_is_undone_by_the_next_install(
    where: str, backbone_only: ModelPack, tmp_path: Path
) -> None:
    """A power cut while the pack is rebuilt: killed with it staged, it leaves its staging
    folder; killed between the two renames, no pack at all but the one before, set aside.
    The next install sweeps the first and puts the second back, finding it up to date."""
    pack = backbone_only
    install(pack, pack.manifest.models)
    installed = pack.root / INSTALLED_FOLDER
    source = Path(shutil.copytree(installed, tmp_path / "source"))
    gate = tmp_path / "gate"
    worker = [sys.executable, "-m", "tests.inference.fish.pack_write_worker"]
    killed = subprocess.Popen(
        [*worker, where, str(source), str(installed), str(gate)], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_until_reached(gate, killed)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=10) == -signal.SIGKILL
    left = sorted(p.name for p in pack.root.glob(f".{INSTALLED_FOLDER}.*"))
    assert left and installed.exists() is (where == "staging"), left  # as the kill left it
    outcomes = install(pack, pack.manifest.models)
    assert [(o.model_id, o.action) for o in outcomes][-1] == ("fish-default", "up to date")
    assert not list(pack.root.glob(f".{INSTALLED_FOLDER}.*"))
    load_pack(installed)


# Holds a models folder's install lock, as a running `jaga models install` does, until GATE.
def test_build_pack_into_the_models_folder_waits_for_a_running_install(
    backbone_only: ModelPack, tmp_path: Path
) -> None:
    """`jaga fish build-pack --out <models>/fish-default` writes the pack an install builds,
    and an install sweeps a staging folder beside it as a killed build's: the two must not
    run at once, so the build waits for the folder's install lock (and says so)."""
    root = backbone_only.root
    gate = tmp_path / "gate"
    install = subprocess.Popen(
        [sys.executable, "-c", HOLD_INSTALL_LOCK, str(root), str(gate)], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_until_reached(gate, install)
    build = subprocess.Popen(
        [sys.executable, "main.py", "fish", "build-pack", "--head", str(DEFAULT_ASSETS),
         "--out", str(root / INSTALLED_FOLDER), "--models-dir", str(root)], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    early = output_until_waiting(build)
    written_meanwhile = sorted(p.name for p in root.glob(f"*{INSTALLED_FOLDER}*"))
    gate.touch()
    finish(install)
    later = finish(build)
    assert WAITING in early, f"the build did not wait for the install: {early}"
    assert written_meanwhile == []
    assert WAITING not in later
    load_pack(root / INSTALLED_FOLDER)


def fish_default_lines(
    command: str, root: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str]]:
    code = main(["models", command, "--dir", str(root)])
    return code, [line for line in capsys.readouterr().out.splitlines() if "fish-default" in line]


def test_verify_and_list_report_the_default_species_pack(
    model_pack: ModelPack, default_species_pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fish_default_lines("verify", model_pack.root, capsys) == (0, [])
    _, (listed,) = fish_default_lines("list", model_pack.root, capsys)
    assert listed.split()[:3] == ["fish-default", load_pack(default_species_pack).version, "ok"]


def test_verify_notes_an_outdated_default_species_pack_without_failing(
    model_pack: ModelPack,
    default_species_pack: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A default pack whole but built from an older head still classifies (the app loads it
    as it is), and a frozen device has no onnx to build the new one: a note, not a failure."""
    shipped = fish_installed.read_pack_info(DEFAULT_ASSETS)
    newer = {**shipped, "version": shipped["version"] + "-newer"}
    monkeypatch.setattr(fish_installed, "read_pack_info", lambda assets: newer)
    code, lines = fish_default_lines("verify", model_pack.root, capsys)
    assert code == 0
    assert lines == [
        f"fish-default: outdated, still used (built from an older head; jaga models install "
        f"{FISH_BACKBONE_ID} --dir {model_pack.root} builds this version's where onnx is"
        " installed)"
    ]


@pytest.mark.parametrize(
    ("damage", "state"), [("flipped byte", "modified"), ("deleted", "missing")]
)
def test_verify_fails_on_a_damaged_or_missing_default_species_pack_with_the_fix(
    damage: str, state: str, backbone_only: ModelPack, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = backbone_only
    install(pack, pack.manifest.models)
    installed = pack.root / INSTALLED_FOLDER
    if damage == "deleted":
        shutil.rmtree(installed)
    else:
        with (installed / MODEL_FILES["fp32"]).open("r+b") as handle:
            handle.seek(1000)
            flipped = bytes([handle.read(1)[0] ^ 1])
            handle.seek(1000)
            handle.write(flipped)
    fix = f"fish-default: {state} -> jaga models install {FISH_BACKBONE_ID} --dir {pack.root}"
    assert fish_default_lines("verify", pack.root, capsys) == (1, [fix])
    _, (listed,) = fish_default_lines("list", pack.root, capsys)
    assert listed.split()[2] == state
    install(pack, pack.manifest.models)  # the fix it names
    assert fish_default_lines("verify", pack.root, capsys)[1] == []


def test_list_shows_the_version_of_the_installed_species_pack(
    default_species_pack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pack an older release built is what the app classifies with until one is built
    anew: list shows its version, not the one an install would build now."""
    installed = load_pack(default_species_pack)
    root = tmp_path / "models"
    write_pack(
        root / INSTALLED_FOLDER, name=installed.name, version="2026.10.0",
        backbone_sha256=installed.backbone_sha256, input_sizes=installed.input_sizes,
        build={name: default_species_pack / name for name in installed.sha256},
    )  # fmt: skip
    assert main(["models", "list", "--dir", str(root)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    (fish,) = [row for row in rows if row[0] == "fish-default"]
    assert fish[1:3] == ["2026.10.0", "outdated"]
