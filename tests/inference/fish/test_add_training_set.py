"""``jaga fish export-training-set --add-to DATA``: corrections join a training folder that
``jaga fish train`` then reads, every image keeping its split group."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.fish.config import HeadConfig
from inference.fish.dataset import Sample, load_dataset
from inference.fish.errors import DatasetError
from inference.fish.merge import add_training_set
from inference.fish.packing import TrainOptions
from inference.fish.taps import PLAIN
from inference.fish.train import Backbone, train_head_pack
from tests.inference.fish.conftest import make_slice


def _photo(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 255, (60, 80, 3), np.uint8))
    return path


def _data(root: Path) -> Path:
    """Two species by Fish4Knowledge names (two tracks each), one photo alone, one trip
    sub-folder, display names for both folders, and no groups.csv."""
    for i, name in enumerate(("fish_1_1", "fish_1_2", "fish_2_1", "fish_2_2")):
        _photo(root / "fish_01" / f"{name}.png", i)
        _photo(root / "fish_02" / f"{name}.png", 10 + i)
    _photo(root / "fish_01" / "deck.jpg", 20)
    _photo(root / "fish_02" / "trip7" / "a.jpg", 21)
    (root / "species.csv").write_text(
        "folder,species\nfish_01,Chromis chrysura\nfish_02,Zebrasoma\n"
    )
    return root


def _corrections(inbox: Path) -> Path:
    for i in range(5):
        _photo(inbox / f"IMG_{i}.jpg", 100 + i)
    (inbox / "corrections.csv").write_text(
        "file,confirmed_species,group,observation_uid\n"
        "IMG_0.jpg,chromis  CHRYSURA,trip:V/T-1,obs-0\n"  # DATA's species, by its name
        "IMG_1.jpg,Chromis chrysura,trip:V/T-1,obs-1\n"
        "IMG_2.jpg,fish_02,trip:V/T-2,obs-2\n"  # DATA's species, by its folder
        "IMG_3.jpg,Lutjanus fulvus,trip:V/T-2,obs-3\n"  # a species DATA lacks
        "IMG_4.jpg,Lutjanus fulvus,,obs-4\n"
    )
    return inbox / "corrections.csv"


# The species _corrections adds that DATA lacks: new there, as the user confirms
# (``--new-species``), DATA's folders being named by ids
NEW = ("Lutjanus fulvus",)


def _partition(groups: dict[str, str]) -> set[frozenset[str]]:
    by_group: dict[str, set[str]] = {}
    for file, group in groups.items():
        by_group.setdefault(group, set()).add(file)
    return {frozenset(files) for files in by_group.values()}


def _groups(data: Path) -> dict[str, str]:
    return {sample.relative: sample.group for sample in load_dataset(data).samples}


def test_added_corrections_keep_their_groups_and_the_datas_images_keep_theirs(
    tmp_path: Path,
) -> None:
    data = _data(tmp_path / "data")
    before = _groups(data)
    assert add_training_set(_corrections(tmp_path / "inbox"), data, new_species=NEW) == (5, 0, ())
    dataset = load_dataset(data)
    after = {sample.relative: sample.group for sample in dataset.samples}
    assert _partition({f: g for f, g in after.items() if f in before}) == _partition(before)
    added = {f: g for f, g in after.items() if f not in before}
    assert sorted(added.values()) == [
        "group:file:IMG_4.jpg", "group:trip:V/T-1", "group:trip:V/T-1",
        "group:trip:V/T-2", "group:trip:V/T-2",
    ]  # fmt: skip
    species = {sample.relative.split("/")[0] for sample in dataset.samples}
    assert species == {"fish_01", "fish_02", "lutjanus_fulvus"}  # no second Chromis folder
    assert [s.name for s in dataset.species] == ["Chromis chrysura", "Zebrasoma", "Lutjanus fulvus"]
    assert sum(f.startswith("fish_01/IMG_") for f in added) == 2
    assert not [p for p in data.iterdir() if p.name.startswith(".")]  # no staging left


def test_the_datas_own_groups_csv_is_kept_and_extended(tmp_path: Path) -> None:
    data = _data(tmp_path / "data")
    files = sorted(_groups(data))
    rows = "".join(f"t{i % 2},{file}\r\n" for i, file in enumerate(files))
    (data / "groups.csv").write_bytes(("\ufeffgroup,file\r\n" + rows).encode())  # Excel's
    add_training_set(_corrections(tmp_path / "inbox"), data, new_species=NEW)
    after = _groups(data)
    assert {after[file] for file in files} == {"group:t0", "group:t1"}
    assert [after[file] for file in files[:2]] == ["group:t0", "group:t1"]
    kept = ("\ufeffgroup,file\r\n" + rows).encode()
    assert (data / "groups.csv").read_bytes().startswith(kept)  # its own text, line ends too
    added = b'\r\n"file:IMG_4.jpg","lutjanus_fulvus/IMG_4-'  # every cell quoted, as the exports
    assert added in (data / "groups.csv").read_bytes()
    assert sorted(g for f, g in after.items() if f not in files)[0] == "group:file:IMG_4.jpg"


def test_rows_added_to_the_datas_csvs_write_a_formula_as_text(tmp_path: Path) -> None:
    """A new species or group that a spreadsheet would run is added to the data's own
    species.csv and groups.csv as text, and read back as named; the file's rows stay."""
    data = _data(tmp_path / "data")
    (data / "groups.csv").write_text(
        "file,group\n" + "".join(f"{file},t1\n" for file in sorted(_groups(data)))
    )
    inbox = tmp_path / "inbox"
    _photo(inbox / "IMG_0.jpg", 100)
    (inbox / "corrections.csv").write_text(
        "file,confirmed_species,group,observation_uid\n"
        "IMG_0.jpg,'=HYPERLINK(x),'-trip,obs-0\n"  # as the corrections export escapes them
    )
    add_training_set(inbox / "corrections.csv", data, new_species=("=HYPERLINK(x)",))
    starts = ("=", "+", "-", "@", "\t", "\r")
    for name in ("species.csv", "groups.csv"):
        text = (data / name).read_text()
        assert [line for line in text.splitlines() if line.split(",")[-1].startswith(starts)] == []
    dataset = load_dataset(data)
    assert [s.name for s in dataset.species][-1] == "=HYPERLINK(x)"
    assert sorted({s.group for s in dataset.samples}) == ["group:-trip", "group:t1"]


def test_corrections_added_twice_add_nothing_and_nothing_changes(tmp_path: Path) -> None:
    data = _data(tmp_path / "data")
    corrections = _corrections(tmp_path / "inbox")
    add_training_set(corrections, data, new_species=NEW)
    snapshot = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    assert add_training_set(corrections, data) == (0, 5, ())
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == snapshot


def test_a_folder_that_is_not_training_data_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no species folders"):
        add_training_set(_corrections(tmp_path / "inbox"), tmp_path / "empty")


def test_the_cli_adds_to_a_training_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from main import main

    data = _data(tmp_path / "data")
    corrections = str(_corrections(tmp_path / "inbox"))
    argv = ["fish", "export-training-set", "--corrections", corrections, "--add-to", str(data)]
    assert main([*argv, "--new-species", *NEW]) == 0
    assert f"added 5 images to {data}" in capsys.readouterr().out
    assert main(argv) == 0  # Lutjanus fulvus has its folder now
    assert "5 images" in capsys.readouterr().out.split("\n")[1]  # already held: not again


def test_a_train_on_the_merged_folder_splits_the_corrections_by_their_groups(
    f4k: Path, backbone: Backbone, tmp_path: Path
) -> None:
    """Real f4k crops: DATA by track names, corrections (crops of other tracks) in two trips;
    the pack's recorded split holds each trip whole, and the tracks as before."""
    data = make_slice(f4k, tmp_path / "data", {"fish_04": 4, "fish_06": 4, "fish_07": 4})
    tracks = {s.relative: s.group for s in load_dataset(data).samples}
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rows = ["file,confirmed_species,group"]
    for species in ("fish_04", "fish_06", "fish_07"):
        photos = sorted((f4k / species).glob("fish_*.png"))[-6:]  # tracks not in the slice
        for i, photo in enumerate(photos):
            shutil.copy(photo, inbox / f"{species}-{i}.png")
            rows.append(f"{species}-{i}.png,{species},trip-{species}-{i % 2}")
    (inbox / "corrections.csv").write_text("\n".join(rows) + "\n")
    assert add_training_set(inbox / "corrections.csv", data).new == 18
    options = TrainOptions(
        data=data, out=tmp_path / "pack", views=0, validation_fraction=0.5, taps=PLAIN,
        head=HeadConfig(epochs=5, patience=5), int8=False, name="merged", version="0.0.1",
    )  # fmt: skip
    pack = train_head_pack(options, backbone, progress=lambda line: None)
    validated = set(pack.training()["split"]["validation_groups"])
    trips = {g for g in validated if g.startswith("group:trip-")}
    assert trips and len(trips) < 6  # corrections on both sides, by trip
    merged = load_dataset(data)
    for sample in merged.samples:
        if sample.relative in tracks:  # the slice's images: their track groups, as before
            assert sample.group == tracks[sample.relative]
        else:
            assert sample.group.startswith("group:trip-")


def _f4k_corrections(f4k: Path, inbox: Path, species: str, n: int) -> Path:
    """``n`` real photos of ``species`` from tracks a small slice leaves out, in one trip."""
    inbox.mkdir(parents=True)
    rows = ["file,confirmed_species,group"]
    for i, photo in enumerate(sorted((f4k / species).glob("fish_*.png"))[-n:]):
        shutil.copy(photo, inbox / f"{species}-{i}.png")
        rows.append(f"{species}-{i}.png,{species},trip:1")
    (inbox / "corrections.csv").write_text("\n".join(rows) + "\n")
    return inbox / "corrections.csv"


def test_a_datas_images_keep_their_exact_group_ids_when_it_had_no_groups_csv(
    f4k: Path, tmp_path: Path
) -> None:
    """A pack trained before the add recorded its validation groups by these ids (``track:…``):
    build-pack's calibration and ``fish eval --split validation`` look them up again."""
    data = make_slice(f4k, tmp_path / "data", {"fish_04": 2, "fish_06": 2})
    _photo(data / "fish_04" / "deck.png", 1)
    _photo(data / "fish_06" / "trip7" / "a.png", 2)
    before = _groups(data)
    assert {g.split(":")[0] for g in before.values()} == {"track", "file", "folder"}
    add_training_set(_f4k_corrections(f4k, tmp_path / "inbox", "fish_04", 3), data)
    after = _groups(data)
    assert {f: after[f] for f in before} == before
    assert sorted(set(after) - set(before)) and {
        g for f, g in after.items() if f not in before
    } == {"group:trip:1"}


def _export(root: Path, rows: list[tuple[Path, str, str]]) -> Path:
    """An export folder: each (photo, species, observation uid) copied under ``photos/``."""
    (root / "photos").mkdir(parents=True)
    lines = ["file,confirmed_species,group,observation_uid"]
    for photo, species, uid in rows:
        shutil.copy(photo, root / "photos" / f"{uid}.png")
        lines.append(f"photos/{uid}.png,{species},obs:{uid},{uid}")
    (root / "corrections.csv").write_text("\n".join(lines) + "\n")
    return root / "corrections.csv"


def _holding(data: Path, photo: Path) -> list[str]:
    return sorted(
        p.relative_to(data).as_posix()
        for p in data.rglob("*.png")
        if p.read_bytes() == photo.read_bytes()
    )  # fmt: skip


def test_a_photo_relabelled_in_a_later_export_is_refused_naming_both_species(
    f4k: Path, tmp_path: Path
) -> None:
    data = make_slice(f4k, tmp_path / "data", {"fish_04": 2, "fish_06": 2})
    photo = sorted((f4k / "fish_04").glob("fish_*.png"))[-1]  # a track the slice leaves out
    add_training_set(_export(tmp_path / "e1", [(photo, "fish_04", "obs1")]), data)
    snapshot = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    relabelled = _export(tmp_path / "e2", [(photo, "fish_06", "obs1")])
    with pytest.raises(
        DatasetError, match=r"holds fish_04/obs1-\w+\.png, .* under fish_06/"
    ) as error:
        add_training_set(relabelled, data)
    assert "\n" not in str(error.value)
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == snapshot
    assert [h.split("/")[0] for h in _holding(data, photo)] == ["fish_04"]


def test_a_photo_in_two_overlapping_exports_is_added_once(f4k: Path, tmp_path: Path) -> None:
    """Exports overlap (a fish still uploading is selected again): adding each export in turn
    keeps one copy of a photo DATA already holds under the same species."""
    data = make_slice(f4k, tmp_path / "data", {"fish_04": 2, "fish_06": 2})
    first, second = sorted((f4k / "fish_04").glob("fish_*.png"))[-2:]
    assert add_training_set(_export(tmp_path / "e1", [(first, "fish_04", "obs1")]), data) == (
        1,
        0,
        (),
    )
    e2 = _export(tmp_path / "e2", [(first, "fish_04", "obs1"), (second, "fish_04", "obs2")])
    assert add_training_set(e2, data) == (1, 1, ())
    assert len(_holding(data, first)) == len(_holding(data, second)) == 1
    load_dataset(data)  # groups.csv names exactly the images there


def _retractions(root: Path, rows: list[tuple[str, str]]) -> Path:
    """An export of retraction rows only: (observation uid, ``not_a_fish`` or ``conflicting``)."""
    root.mkdir(parents=True)
    lines = ["file,confirmed_species,group,observation_uid,not_a_fish,conflicting"]
    lines += [
        f",,,{uid},{int(why == 'not_a_fish')},{int(why == 'conflicting')}" for uid, why in rows
    ]
    (root / "corrections.csv").write_text("\n".join(lines) + "\n")
    return root / "corrections.csv"


def test_a_photo_added_before_a_later_export_retracts_it_is_taken_back(
    f4k: Path, tmp_path: Path
) -> None:
    """Only the photos --add-to itself added for those observations go, each named; the
    user's own copy of one stays, and a species folder the add made and emptied goes too."""
    data = make_slice(f4k, tmp_path / "data", {"fish_04": 2, "fish_06": 2})
    face, kept, odd = sorted((f4k / "fish_04").glob("fish_*.png"))[-3:]
    e1 = _export(tmp_path / "e1", [(face, "fish_04", "o1"), (kept, "fish_04", "o2"),
                                    (odd, "Lutjanus fulvus", "o3")])  # fmt: skip
    add_training_set(e1, data, new_species=NEW)
    [added_face] = _holding(data, face)
    shutil.copy(face, data / "fish_04" / "mine.png")  # the user's own copy
    with (data / "groups.csv").open("a") as groups:
        groups.write("fish_04/mine.png,mine\n")
    own = load_dataset(data).samples

    e2 = _retractions(tmp_path / "e2", [("o1", "not_a_fish"), ("o3", "conflicting")])
    added = add_training_set(e2, data)

    assert added.new == 0
    assert sorted(added.removed) == sorted([added_face, *_named(own, "lutjanus_fulvus/")])
    assert _holding(data, face) == ["fish_04/mine.png"]
    assert len(_holding(data, kept)) == 1
    assert not (data / "lutjanus_fulvus").exists()
    after = load_dataset(data)  # groups.csv and species.csv name exactly what is there
    assert {s.relative for s in after.samples} == {s.relative for s in own} - set(added.removed)


def _named(samples: tuple[Sample, ...], prefix: str) -> list[str]:
    return [s.relative for s in samples if s.relative.startswith(prefix)]


def test_a_retraction_given_with_the_export_it_retracts_takes_the_photo_back(
    f4k: Path, tmp_path: Path
) -> None:
    """Oldest first, both CSVs at once: the photo the first added goes, nothing is added."""
    data = make_slice(f4k, tmp_path / "data", {"fish_04": 2, "fish_06": 2})
    photo = sorted((f4k / "fish_04").glob("fish_*.png"))[-1]
    e1 = _export(tmp_path / "e1", [(photo, "fish_04", "o1")])
    add_training_set(e1, data)
    e2 = _retractions(tmp_path / "e2", [("o1", "conflicting")])
    assert add_training_set([e1, e2], data).new == 0
    assert _holding(data, photo) == []
    load_dataset(data)


def test_a_photo_another_observation_still_names_stays(f4k: Path, tmp_path: Path) -> None:
    """Byte-identical photos of two observations are one image in DATA: retracting one of
    them leaves it for the other."""
    data = make_slice(f4k, tmp_path / "data", {"fish_04": 2, "fish_06": 2})
    photo = sorted((f4k / "fish_04").glob("fish_*.png"))[-1]
    add_training_set(_export(tmp_path / "e1", [(photo, "fish_04", "o1")]), data)
    assert add_training_set(_export(tmp_path / "e2", [(photo, "fish_04", "o2")]), data).held == 1
    added = add_training_set(_retractions(tmp_path / "e3", [("o1", "not_a_fish")]), data)
    assert added.removed == ()
    assert len(_holding(data, photo)) == 1
    added = add_training_set(_retractions(tmp_path / "e4", [("o2", "not_a_fish")]), data)
    assert len(added.removed) == 1 and _holding(data, photo) == []


def test_the_cli_names_each_photo_it_takes_back(
    f4k: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from main import main

    data = make_slice(f4k, tmp_path / "data", {"fish_04": 2, "fish_06": 2})
    photo = sorted((f4k / "fish_04").glob("fish_*.png"))[-1]
    add_training_set(_export(tmp_path / "e1", [(photo, "fish_04", "o1")]), data)
    [held] = _holding(data, photo)
    e2 = str(_retractions(tmp_path / "e2", [("o1", "not_a_fish")]))
    assert main(["fish", "export-training-set", "--corrections", e2, "--add-to", str(data)]) == 0
    assert f"removed {held}: taken back by a later export" in capsys.readouterr().out


def test_taking_back_keeps_the_rest_of_an_excel_groups_csv_as_it_was(tmp_path: Path) -> None:
    data = _data(tmp_path / "data")
    files = sorted(_groups(data))
    rows = "".join(f"t{i % 2},{file}\r\n" for i, file in enumerate(files))
    (data / "groups.csv").write_bytes(("\ufeffgroup,file\r\n" + rows).encode())  # Excel's
    add_training_set(_corrections(tmp_path / "inbox"), data, new_species=NEW)
    added = add_training_set(_retractions(tmp_path / "e2", [("obs-0", "not_a_fish")]), data)
    assert len(added.removed) == 1 and added.removed[0].startswith("fish_01/IMG_0-")
    text = (data / "groups.csv").read_bytes()
    assert text.startswith(("\ufeffgroup,file\r\n" + rows).encode())
    assert added.removed[0].encode() not in text and text.count(b"\r\n") == len(files) + 5
    assert added.removed[0] not in _groups(data)
