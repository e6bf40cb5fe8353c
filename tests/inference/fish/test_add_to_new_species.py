"""``--add-to`` never splits one species into two training classes: a correction's species
that matches no folder of DATA gets a new folder only where DATA can tell it is new, or
the user says so (``--new-species``); else nothing in DATA changes and the error says how
to go on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inference.fish import merge
from inference.fish.dataset import load_dataset
from inference.fish.errors import DatasetError
from inference.fish.installed import installed_default_pack
from inference.fish.merge import add_training_set
from inference.fish.pack import load_pack
from tests.inference.fish.conftest import make_slice

HEADER = "file,confirmed_species,group,observation_uid,pack_version"
# A photo of fish_01 and one of fish_04, each confirmed by its scientific name
BOTH = [("fish_01", "Dascyllus reticulatus"), ("fish_04", "Amphiprion clarkii")]


def _data(f4k: Path, root: Path, *, species_csv: str | None) -> Path:
    """fish_01 and fish_04 of Fish4Knowledge (two tracks each), named by ``species_csv``, or
    by their folder ids alone where it is None."""
    data = make_slice(f4k, root, {"fish_01": 2, "fish_04": 2})
    if species_csv is None:
        (data / "species.csv").unlink()
    else:
        (data / "species.csv").write_text(species_csv)
    return data


def _export(f4k: Path, inbox: Path, rows: list[tuple[str, str]], version: str = "") -> Path:
    """One photo per row, (f4k folder, the species the reviewer confirmed), from the last of
    the folder's tracks (which the slice leaves out); every row names the pack ``version``."""
    inbox.mkdir(parents=True)
    lines = [HEADER]
    for n, (folder, species) in enumerate(rows):
        photo = sorted((f4k / folder).glob("fish_*.png"))[-1 - n]
        shutil.copy(photo, inbox / photo.name)
        lines.append(f"{photo.name},{species},obs:{n},obs-{n},{version}")
    (inbox / "corrections.csv").write_text("\n".join(lines) + "\n")
    return inbox / "corrections.csv"


def _snapshot(data: Path) -> dict[str, bytes]:
    return {p.relative_to(data).as_posix(): p.read_bytes() for p in data.rglob("*") if p.is_file()}


def _folders(data: Path) -> list[str]:
    return sorted(p.name for p in data.iterdir() if p.is_dir())


def test_a_species_that_species_csv_calls_by_another_name_is_refused_not_split(
    f4k: Path, tmp_path: Path
) -> None:
    """The reviewer's first case: DATA calls fish_01 by its common name, the corrections by
    its scientific one."""
    data = _data(
        f4k, tmp_path / "data",
        species_csv="folder,species\nfish_01,Humbug damselfish\nfish_04,Amphiprion clarkii\n",
    )  # fmt: skip
    before = _snapshot(data)
    corrections = _export(f4k, tmp_path / "inbox", BOTH)
    with pytest.raises(DatasetError) as error:
        add_training_set(corrections, data)
    message = str(error.value)
    assert "'Dascyllus reticulatus'" in message and "dascyllus_reticulatus/" in message
    assert "fish_01 ('Humbug damselfish')" in message
    assert "--species-from" in message and "--new-species" in message
    assert "'Amphiprion clarkii' (" not in message  # DATA's own name for fish_04: no doubt
    assert "\n" not in message
    assert _snapshot(data) == before and _folders(data) == ["fish_01", "fish_04"]


def test_species_of_folders_named_by_ids_alone_are_refused_not_split(
    f4k: Path, tmp_path: Path
) -> None:
    """The reviewer's second case: DATA without species.csv, its folders fish_01, fish_04."""
    data = _data(f4k, tmp_path / "data", species_csv=None)
    before = _snapshot(data)
    corrections = _export(f4k, tmp_path / "inbox", BOTH)
    with pytest.raises(DatasetError) as error:
        add_training_set(corrections, data)
    message = str(error.value)
    assert "'Dascyllus reticulatus'" in message and "'Amphiprion clarkii'" in message
    assert "fish_01, fish_04" in message and "no species.csv" in message
    assert _snapshot(data) == before and _folders(data) == ["fish_01", "fish_04"]


def test_the_pack_that_made_the_predictions_is_named_with_the_folder_it_files_them_under(
    f4k: Path, tmp_path: Path
) -> None:
    pack = load_pack(installed_default_pack())
    data = _data(f4k, tmp_path / "data", species_csv=None)
    corrections = _export(
        f4k, tmp_path / "inbox", [("fish_01", "Dascyllus reticulatus")], pack.version
    )
    with pytest.raises(DatasetError) as error:
        add_training_set(corrections, data)
    message = str(error.value)
    assert f"{pack.name} {pack.version}" in message and "files it under fish_01" in message
    assert f"--species-from {pack.root}" in message


def test_the_cli_adds_them_to_their_folders_with_the_pack_the_error_names(
    f4k: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from main import main

    pack = load_pack(installed_default_pack())
    data = _data(f4k, tmp_path / "data", species_csv=None)
    corrections = _export(f4k, tmp_path / "inbox", BOTH, pack.version)
    argv = ["fish", "export-training-set", "--corrections", str(corrections), "--add-to", str(data)]
    assert main(argv) == 1
    assert "--species-from" in capsys.readouterr().err
    assert main([*argv, "--species-from", str(pack.root)]) == 0
    assert f"added 2 images to {data}" in capsys.readouterr().out
    assert _folders(data) == ["fish_01", "fish_04"]
    assert len(list((data / "fish_01").glob("fish_*-*.png"))) == 1  # the added photo


def test_a_genuinely_new_species_is_added_when_the_user_says_so(
    f4k: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from main import main

    data = _data(
        f4k, tmp_path / "data",
        species_csv="folder,species\nfish_01,Dascyllus reticulatus\nfish_04,Amphiprion clarkii\n",
    )  # fmt: skip
    corrections = _export(
        f4k, tmp_path / "inbox", [("fish_06", "Chaetodon trifascialis"), ("fish_04", "fish_04")]
    )  # fmt: skip
    argv = ["fish", "export-training-set", "--corrections", str(corrections), "--add-to", str(data)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "'Chaetodon trifascialis'" in err and "--new-species 'Chaetodon trifascialis'" in err
    assert main([*argv, "--new-species", "chaetodon TRIFASCIALIS"]) == 0
    out = capsys.readouterr().out
    assert "new species: chaetodon_trifascialis/ ('Chaetodon trifascialis')" in out
    assert f"added 2 images to {data}" in out
    dataset = load_dataset(data)
    assert [s.name for s in dataset.species] == [
        "Chaetodon trifascialis", "Dascyllus reticulatus", "Amphiprion clarkii",
    ]  # fmt: skip


def test_a_new_species_beside_folders_named_by_their_species_needs_no_flag(
    f4k: Path, tmp_path: Path
) -> None:
    """Folders named by species (no digit, no code): a name that matches none is new."""
    data = make_slice(f4k, tmp_path / "data", {"fish_01": 2, "fish_04": 2})
    (data / "species.csv").unlink()
    (data / "fish_01").rename(data / "dascyllus_reticulatus")
    (data / "fish_04").rename(data / "Amphiprion clarkii")
    corrections = _export(
        f4k, tmp_path / "inbox",
        [("fish_06", "Chaetodon trifascialis"), ("fish_01", "Dascyllus reticulatus"),
         ("fish_04", "amphiprion clarkii")],
    )  # fmt: skip
    notes: list[str] = []
    assert add_training_set(corrections, data, say=notes.append).new == 3
    assert _folders(data) == [
        "Amphiprion clarkii",
        "chaetodon_trifascialis",
        "dascyllus_reticulatus",
    ]
    assert "new species: chaetodon_trifascialis/ ('Chaetodon trifascialis')" in notes


def test_a_code_named_folder_is_an_id_too(f4k: Path, tmp_path: Path) -> None:
    """FAO's three-letter codes name species folders as ids do."""
    data = make_slice(f4k, tmp_path / "data", {"fish_01": 2, "fish_04": 2})
    (data / "species.csv").unlink()
    (data / "fish_01").rename(data / "DRE")
    (data / "fish_04").rename(data / "amphiprion_clarkii")
    corrections = _export(f4k, tmp_path / "inbox", [("fish_01", "Dascyllus reticulatus")])
    with pytest.raises(DatasetError, match=r"named by ids \(DRE\)"):
        add_training_set(corrections, data)


def test_new_species_is_for_add_to_only(
    f4k: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from main import main

    corrections = _export(f4k, tmp_path / "inbox", [("fish_06", "Chaetodon trifascialis")])
    argv = ["fish", "export-training-set", "--corrections", str(corrections)]
    assert main([*argv, "--out", str(tmp_path / "out"), "--new-species", "X"]) == 1
    assert "--new-species" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_folders_named_by_species_keep_their_photos_when_a_pack_names_other_ids(
    f4k: Path, tmp_path: Path
) -> None:
    """``--species-from`` a pack whose ids (fish_01) are not DATA's folders: DATA's own
    folder for the name (its words joined by ``_``) still comes first."""
    pack = load_pack(installed_default_pack())
    data = make_slice(f4k, tmp_path / "data", {"fish_01": 2, "fish_04": 2})
    (data / "species.csv").unlink()
    (data / "fish_01").rename(data / "dascyllus_reticulatus")
    (data / "fish_04").rename(data / "amphiprion_clarkii")
    corrections = _export(f4k, tmp_path / "inbox", BOTH, pack.version)
    assert add_training_set(corrections, data, species_pack=pack.root).new == 2
    assert _folders(data) == ["amphiprion_clarkii", "dascyllus_reticulatus"]


def test_a_new_folder_is_said_only_once_the_add_is_made(
    f4k: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An add that fails part way is undone: it names no new folder (it made none)."""
    data = make_slice(f4k, tmp_path / "data", {"fish_01": 2, "fish_04": 2})
    (data / "species.csv").unlink()
    (data / "fish_01").rename(data / "dascyllus_reticulatus")
    (data / "fish_04").rename(data / "amphiprion_clarkii")
    before = _snapshot(data)
    corrections = _export(f4k, tmp_path / "inbox", [("fish_06", "Chaetodon trifascialis")])

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(merge, "_apply", disk_full)  # a fault injected: the disk fills
    notes: list[str] = []
    with pytest.raises(DatasetError, match="is as it was"):
        add_training_set(corrections, data, say=notes.append)
    assert _snapshot(data) == before
    assert not [note for note in notes if note.startswith("new species")], notes
