"""``jaga catch`` in-process: a real store, the real default species pack, real f4k photos.

Its JSON is checked against what the store holds; every refusal is one ``jaga catch: error:``
line, exit status 1, and leaves the store as it was.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from desktop.catch_photo import read_catch_photo
from inference.fish.pack import SPECIES_FILE, load_pack, write_pack
from main import main
from sync.client.packs import IN_USE_NAME, INSTALLED_NAME, packs_dir_for
from sync.client.state import ensure_schema, put_values, read_values
from sync.store import Crop, Passphrase, Position, Store
from sync.store.key_sources import PASSPHRASE_ENV
from sync.store.observations import Observations
from sync.store.photos import load_photo
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.test_catch import BELOW_REVIEW, CONFIDENT, UNKNOWN, side_by_side, write_image
from tests.sync.conftest import FAST

pytestmark = pytest.mark.needs_shared


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    monkeypatch.delenv("JAGA_SPECIES_PACKS_DIR", raising=False)


def jaga_catch(photo: Path, db: Path, *options: str) -> int:
    return main(["catch", str(photo), "--officer", "Ana Lima", "--db", str(db), *options])


def held(db: Path) -> tuple[int, int, int]:
    """Observations, photos and outbox entries in the store."""
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        photos = int(store.database.query("SELECT count(*) FROM photos")[0][0])
        return store.observations.count(), photos, sum(store.outbox.counts().values())


DETAILS = [
    *("--vessel", "KM Harapan", "--trip", "T-7", "--haul", "3", "--count", "2"),
    *("--length-cm", "11.5", "--lat", "-8.65", "--lon", "115.2", "--notes", "reef edge"),
]


def test_the_json_is_what_the_store_holds(
    store_path: Path,
    default_species_pack: Path,
    f4k: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    photo = f4k / CONFIDENT
    pack = ["--pack", str(default_species_pack)]
    assert jaga_catch(photo, store_path, *DETAILS, *pack, "--json") == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        stored = store.observations.get(out["observation_uid"])
        kept = load_photo(store.database, out["photo_uid"])
    assert kept.data == photo.read_bytes() and kept.media_type == out["media_type"] == "image/png"
    top_k = [(entry["species"], entry["probability"]) for entry in out["top_k"]]
    assert [(s.species, s.confidence) for s in stored.predictions] == top_k
    assert out["species"] == top_k[0][0] == "Amphiprion clarkii"
    assert out["confidence"] == top_k[0][1] and out["status"] == "identified"
    assert out["needs_review"] is stored.needs_review is False
    assert (stored.vessel, stored.trip, stored.haul, stored.count) == ("KM Harapan", "T-7", "3", 2)
    assert stored.length_cm == 11.5 and stored.position == Position(-8.65, 115.2)
    assert stored.notes == "reef edge" and stored.officer == "Ana Lima"
    assert (
        out["pack_version"]
        == json.loads((default_species_pack / "manifest.json").read_text())["version"]
    )


def test_the_export_names_a_species_only_where_the_pack_identified_one(
    store_path: Path, default_species_pack: Path, f4k: Path, tmp_path: Path
) -> None:
    blank = write_image(tmp_path / "deck.png", np.full((120, 160, 3), 90, dtype=np.uint8))
    pack = ["--pack", str(default_species_pack)]
    for photo in (f4k / CONFIDENT, f4k / UNKNOWN, blank):
        assert jaga_catch(photo, store_path, *pack) == 0
    out = tmp_path / "fish.csv"
    export = ["store", "export", "fish-observations", "--out", str(out), "--db", str(store_path)]
    assert main(export) == 0
    identified, unknown, no_fish = csv.DictReader(out.open(newline="", encoding="utf-8"))
    assert (identified["status"], identified["top_species"]) == ("identified", "Amphiprion clarkii")
    # The pack refused to name these: no species is the answer, the candidates stay listed.
    assert (unknown["status"], unknown["top_species"], unknown["top_confidence"]) == (
        "unknown",
        "",
        "",
    )
    assert len(json.loads(unknown["predictions"])) > 1 and unknown["status_reason"] == ""
    assert (no_fish["status"], no_fish["top_species"], no_fish["predictions"]) == (
        "no_fish",
        "",
        "[]",
    )
    assert "blank" in no_fish["status_reason"]

    # An officer's confirmation is the species, whatever the pack said; the verdict stays.
    uid = unknown["observation_uid"]
    confirm = [
        "store",
        "confirm",
        uid,
        "Lutjanus sebae",
        "--new-species",  # not a species of the pack: a new one, said so
        "--officer",
        "Ana Lima",
        "--db",
        str(store_path),
    ]
    assert main(confirm) == 0
    assert main(export) == 0
    (confirmed,) = [r for r in csv.DictReader(out.open()) if r["observation_uid"] == uid]
    assert (confirmed["confirmed_species"], confirmed["status"]) == ("Lutjanus sebae", "unknown")
    assert confirmed["top_species"] == ""


def test_the_text_shows_the_species_the_confidence_the_candidates_and_the_flag(
    store_path: Path,
    default_species_pack: Path,
    f4k: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JAGA_MODELS_DIR", str(default_species_pack.parent))  # no --pack
    assert jaga_catch(f4k / BELOW_REVIEW, store_path) == 0
    lines = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines()[:8])
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        (flagged,) = store.observations.review_queue()
    best = flagged.predictions[0]
    assert lines["species"] == best.species == "Dascyllus reticulatus"
    assert lines["confidence"] == f"{best.confidence * 100:.1f} % (calibrated)"
    assert lines["status"].endswith("below the pack's review threshold; needs review")
    top = lines["top"].removeprefix("3").strip().split(", ")
    assert [t.rsplit(" ", 2)[0] for t in top] == [s.species for s in flagged.predictions[:3]]
    assert lines["review"] == "flagged for review"
    assert lines["observation"] == flagged.observation_uid


def test_confirm_clears_the_flag_with_the_packs_own_name(
    store_path: Path, default_species_pack: Path, f4k: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = ["--pack", str(default_species_pack), "--json"]
    assert jaga_catch(f4k / BELOW_REVIEW, store_path, "--confirm", "fish_01", *pack) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["flagged_by_classifier"] is True and out["needs_review"] is False
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        stored = store.observations.get(out["observation_uid"])
        assert store.observations.review_queue() == []
    assert stored.confirmed_species == out["confirmed_species"] == "Dascyllus reticulatus"
    assert stored.reviewed_by == "Ana Lima" and stored.reviewed_at is not None


@pytest.mark.parametrize(
    "case",
    [
        ("  dascyllus   RETICULATUS ", "Dascyllus reticulatus"),  # the pack's display name
        ("fish_01", "Dascyllus reticulatus"),  # its folder id, as `catch --confirm` takes
        # one the pack does not know, said to be new: kept, tidied
        ("  Lutjanus   sebae ", "Lutjanus sebae"),
    ],
)
def test_store_confirm_names_the_species_as_catch_confirm_does(
    case: tuple[str, str], store_path: Path, default_species_pack: Path, f4k: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    typed, stored = case
    new = ["--new-species"] if stored == "Lutjanus sebae" else []
    monkeypatch.setenv("JAGA_MODELS_DIR", str(default_species_pack.parent))  # the pack in use
    assert jaga_catch(f4k / BELOW_REVIEW, store_path) == 0
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        (flagged,) = store.observations.review_queue()
    uid = flagged.observation_uid
    confirm = ["store", "confirm", uid, typed, "--officer", "Ana Lima", "--db", str(store_path)]
    assert main([*confirm, *new]) == 0
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.observations.get(uid).confirmed_species == stored


@pytest.fixture
def pack_in_models_dir(
    default_species_pack: Path, f4k: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The default pack is the pack in use; a photo the pack flags for review."""
    monkeypatch.setenv("JAGA_MODELS_DIR", str(default_species_pack.parent))
    return f4k / BELOW_REVIEW


@pytest.mark.parametrize("typed", ["fish_4", "Amphiprion clarki", "Lutjanus sebae"])
def test_store_confirm_refuses_a_species_the_pack_does_not_list_unless_new(
    typed: str, store_path: Path, pack_in_models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An old folder id or a typo was kept as a species of its own, which the hub's admin
    refuses unless the reviewer ticks "New species": the device now asks for as much."""
    assert jaga_catch(pack_in_models_dir, store_path) == 0
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        (flagged,) = store.observations.review_queue()
    uid = flagged.observation_uid
    capsys.readouterr()
    confirm = ["store", "confirm", uid, typed, "--officer", "Ana Lima", "--db", str(store_path)]
    assert main(confirm) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("jaga: error: ") and repr(typed) in line and "--new-species" in line
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert [o.observation_uid for o in store.observations.review_queue()] == [uid]
    assert main([*confirm, "--new-species"]) == 0
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.observations.get(uid).confirmed_species == typed


def test_catch_confirm_refuses_a_species_the_pack_does_not_list_unless_new(
    store_path: Path, default_species_pack: Path, f4k: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = ["--pack", str(default_species_pack)]
    capsys.readouterr()
    assert jaga_catch(f4k / BELOW_REVIEW, store_path, "--confirm", "fish_4", *pack) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("jaga catch: error: ") and "'fish_4'" in line
    assert "Amphiprion clarkii (fish_04)" in line and "--new-species" in line
    assert held(store_path) == (0, 0, 0)
    options = ["--confirm", "fish_4", "--new-species", "fish_4", *pack, "--json"]
    assert jaga_catch(f4k / BELOW_REVIEW, store_path, *options) == 0
    assert json.loads(capsys.readouterr().out)["confirmed_species"] == "fish_4"


def test_catch_new_species_keeps_only_the_species_it_names(
    store_path: Path, default_species_pack: Path, f4k: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With two boxes, a bare --new-species kept a typo in one box because the other was
    new: --new-species now names each new species, and a --confirm it does not name is
    checked against the pack as ever."""
    pack = ["--pack", str(default_species_pack)]
    boxes = ["--box", "0,0,40,40", "--box", "40,0,40,40"]
    confirm = ["--confirm", "Lutjanus sebae", "--confirm", "Amphiprion clarki"]  # a typo
    capsys.readouterr()
    options = [*boxes, *confirm, "--new-species", "Lutjanus sebae", *pack]
    assert jaga_catch(f4k / BELOW_REVIEW, store_path, *options) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "'Amphiprion clarki'" in line and "close: Amphiprion clarkii" in line, line
    assert held(store_path) == (0, 0, 0)
    options = [*boxes, *confirm, "--new-species", "lutjanus  sebae", *pack]
    options[7] = "Amphiprion clarkii"
    assert jaga_catch(f4k / BELOW_REVIEW, store_path, *options, "--json") == 0
    species = [o["confirmed_species"] for o in json.loads(capsys.readouterr().out)]
    assert species == ["Lutjanus sebae", "Amphiprion clarkii"]


def test_catch_new_species_naming_no_confirm_is_refused(
    store_path: Path, default_species_pack: Path, f4k: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = ["--pack", str(default_species_pack)]
    options = ["--confirm", "Lutjanus sebae", "--new-species", "Lutjanus sabae", *pack]
    capsys.readouterr()
    assert jaga_catch(f4k / BELOW_REVIEW, store_path, *options) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "--new-species 'Lutjanus sabae'" in line and "no --confirm" in line, line
    assert held(store_path) == (0, 0, 0)


def refused_newest_pack(
    store_path: Path, default_pack: Path, v2_species: dict[str, Any] | None = None
) -> None:
    """What sync left: v2 installed (its files verify, but its model does not take the 260 px
    input its manifest declares: the classifier refuses it; its species named as
    ``v2_species`` says, else as v1's), v1 kept beside it, in use."""
    packs = packs_dir_for(store_path)
    source = load_pack(default_pack)
    files: dict[str, Path | dict[str, Any] | str] = {n: source.root / n for n in source.sha256}
    v2_files = {**files, **({SPECIES_FILE: v2_species} if v2_species else {})}
    for version, side, build in (("v1", source.input_size, files), ("v2", 260, v2_files)):
        write_pack(
            packs / version, name=source.name, version=version,
            backbone_sha256=source.backbone_sha256, build=build, input_sizes=(side,),
        )  # fmt: skip
    record = {"version": "v2", "sha256": "0" * 64, "byte_size": 1, "previous": "v1"}
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        ensure_schema(store.database)
        values = {INSTALLED_NAME: json.dumps(record), IN_USE_NAME: "v1"}
        put_values(store.database, values, store.clock.now())


def pack_in_use(store_path: Path) -> str | None:
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        return read_values(store.database).get(IN_USE_NAME)


def test_catch_uses_the_pack_that_loads_and_notes_only_that_one_in_use(
    store_path: Path, default_species_pack: Path, f4k: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pack whose files verify but whose model does not load is passed over, as the app
    does: noting it in use would let the next sync remove the last pack that worked."""
    refused_newest_pack(store_path, default_species_pack)
    assert jaga_catch(f4k / CONFIDENT, store_path, "--json") == 0
    assert json.loads(capsys.readouterr().out)["pack_version"] == "v1"
    assert pack_in_use(store_path) == "v1"


def test_store_confirm_notes_no_pack_in_use(
    store_path: Path, default_species_pack: Path, f4k: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Naming a species loads no model: it is no proof that a pack works."""
    monkeypatch.setenv("JAGA_MODELS_DIR", str(default_species_pack.parent))
    assert jaga_catch(f4k / BELOW_REVIEW, store_path) == 0
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        (flagged,) = store.observations.review_queue()
    refused_newest_pack(store_path, default_species_pack)
    uid = flagged.observation_uid
    confirm = ["store", "confirm", uid, "fish_01", "--officer", "Ana Lima", "--db", str(store_path)]
    assert main(confirm) == 0
    assert pack_in_use(store_path) == "v1"
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.observations.get(uid).confirmed_species == "Dascyllus reticulatus"


def test_store_confirm_names_species_from_the_pack_that_loads(
    store_path: Path, default_species_pack: Path, f4k: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest pack's files verify but its model does not load: `jaga catch` and the app
    classify with v1, so the species are named as v1 names them, not as v2 would."""
    monkeypatch.setenv("JAGA_MODELS_DIR", str(default_species_pack.parent))
    assert jaga_catch(f4k / BELOW_REVIEW, store_path) == 0
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        (flagged,) = store.observations.review_queue()
    species = json.loads((default_species_pack / SPECIES_FILE).read_text(encoding="utf-8"))
    renamed = [{**s, "name": f"{s['name']} (v2)"} for s in species["species"]]
    refused_newest_pack(store_path, default_species_pack, {**species, "species": renamed})
    uid = flagged.observation_uid
    confirm = ["store", "confirm", uid, "fish_01", "--officer", "Ana Lima", "--db", str(store_path)]
    assert main(confirm) == 0
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.observations.get(uid).confirmed_species == "Dascyllus reticulatus"
    assert pack_in_use(store_path) == "v1"


def _wrong_key(monkeypatch: pytest.MonkeyPatch, _: Path, __: Path) -> list[str]:
    monkeypatch.setenv(PASSPHRASE_ENV, "not the passphrase")
    return []


def _no_key(monkeypatch: pytest.MonkeyPatch, _: Path, __: Path) -> list[str]:
    monkeypatch.delenv(PASSPHRASE_ENV)  # and no terminal to ask on
    return []


def _missing_pack(_: pytest.MonkeyPatch, __: Path, tmp_path: Path) -> list[str]:
    return ["--pack", str(tmp_path / "no-pack")]


def _no_default_pack(monkeypatch: pytest.MonkeyPatch, _: Path, tmp_path: Path) -> list[str]:
    monkeypatch.setenv("JAGA_MODELS_DIR", str(tmp_path / "empty-models"))
    return []


def _damaged_pack(_: pytest.MonkeyPatch, pack: Path, tmp_path: Path) -> list[str]:
    damaged = Path(shutil.copytree(pack, tmp_path / "damaged"))
    species = damaged / "species.json"
    species.write_text(species.read_text().replace('"name": "', '"name": "Not ', 1))
    return ["--pack", str(damaged)]


@dataclass(frozen=True)
class Scene:
    """What a refusal test arranges: the store, the default pack, photos, a scratch folder."""

    store: Path
    pack: Path
    f4k: Path
    scratch: Path


@pytest.fixture
def scene(store_path: Path, default_species_pack: Path, f4k: Path, tmp_path: Path) -> Scene:
    return Scene(store_path, default_species_pack, f4k, tmp_path)


@pytest.mark.parametrize(
    ("arrange", "message"),
    [
        (_wrong_key, "wrong passphrase"),
        (_no_key, "no key: give --key-file, set JAGA_STORE_PASSPHRASE"),
        (_missing_pack, "no-pack"),
        (_no_default_pack, "no default species pack in"),
        (_damaged_pack, "does not match its sha256"),
    ],
)
def test_a_refusal_is_one_line_exit_1_and_writes_nothing(
    scene: Scene,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arrange: Callable[[pytest.MonkeyPatch, Path, Path], list[str]],
    message: str,
) -> None:
    before = held(scene.store)
    options = arrange(monkeypatch, scene.pack, scene.scratch)
    assert jaga_catch(scene.f4k / CONFIDENT, scene.store, *options, "--json") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    errors = [line for line in captured.err.splitlines() if line.startswith("jaga catch: ")]
    assert errors == [errors[0]] and errors[0].startswith("jaga catch: error: ")
    assert message in errors[0]
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    assert held(scene.store) == before


def test_a_corrupt_photo_is_refused_before_the_store_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "fish.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + b"\x00" * 200)
    missing_store = tmp_path / "no-store.db"  # not opened at all: no "no store" error
    assert jaga_catch(photo, missing_store) == 1
    assert f"jaga catch: error: {photo} is not a readable image" in capsys.readouterr().err
    assert not missing_store.exists()


@pytest.mark.parametrize(
    ("options", "status", "message"),
    [
        (["--count", "0"], 2, "expected a whole number of at least 1"),  # usage, as argparse
        (["--lat", "5"], 1, "give the latitude and the longitude, or neither"),
        (["--length-cm", "-2"], 1, "length_cm must be positive"),
        (["--officer", " "], 1, "officer must not be empty"),
        (["--confirm", " "], 1, "--confirm: name the species"),
        (["--vessel", "KM \u202eHarapan"], 1, "the vessel holds no control character"),
        (["--notes", "near \u2066reef"], 1, "a note holds no bidirectional embedding"),
        (
            ["--confirm", "Gadus \u202eauhrom", "--new-species", "Gadus \u202eauhrom"],
            1,
            "--confirm: a species name holds no control character or bidirectional override"
            " ('\\u202e')",
        ),
        (["--box", "0,0,0,5"], 2, "crop width must lie in [1, 100000], got 0"),
        (["--box", "1,2,3"], 2, "box '1,2,3': expected X,Y,WIDTH,HEIGHT in pixels"),
        (["--confirm", "a", "--confirm", "b"], 2, "give --confirm once (one fish"),
        (
            ["--box", "0,0,5,5", "--box", "5,0,5,5", "--confirm", "a"],
            2,
            "give --confirm once per --box, in order (2 boxes, 1 --confirm)",
        ),
    ],
)
def test_bad_details_are_refused_before_anything_is_read(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    status: int,
    message: str,
) -> None:
    unread = tmp_path / "not-read.png"  # absent: the details are refused first
    try:
        code = jaga_catch(unread, tmp_path / "no-store.db", *options)
    except SystemExit as usage:
        code = usage.code  # type: ignore[assignment]
    assert code == status and message in capsys.readouterr().err


def test_two_boxes_are_two_fish_sharing_one_photo(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    path, boxes = side_by_side(scene.f4k, scene.scratch, CONFIDENT, BELOW_REVIEW)
    typed = [f"--box={b.x},{b.y},{b.width},{b.height}" for b in boxes]
    pack = ["--pack", str(scene.pack)]
    assert jaga_catch(path, scene.store, *typed, "--confirm", "-", "--confirm", "fish_01", *pack,
                      "--json") == 0  # fmt: skip
    out: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    assert held(scene.store) == (2, 1, 3)  # one photo, two observations, three outbox entries
    assert [fish["crop"] for fish in out] == [
        {"x": b.x, "y": b.y, "width": b.width, "height": b.height} for b in boxes
    ]
    assert out[0]["species"] == "Amphiprion clarkii" and out[0]["confirmed_species"] is None
    assert out[1]["flagged_by_classifier"] is True and out[1]["needs_review"] is False
    assert out[1]["confirmed_species"] == "Dascyllus reticulatus"
    assert len({fish["photo_uid"] for fish in out}) == 1
    with Store.open(scene.store, Passphrase(PASSPHRASE), config=FAST) as store:
        for fish, box in zip(out, boxes, strict=True):
            stored = store.observations.get(fish["observation_uid"])
            assert (stored.photo_uid, stored.crop) == (fish["photo_uid"], box)
            assert [s.species for s in stored.predictions][:3] == [
                entry["species"] for entry in fish["top_k"][:3]
            ]
            assert stored.pack_version == fish["pack_version"] is not None
        assert load_photo(store.database, out[0]["photo_uid"]).data == path.read_bytes()


def test_the_text_names_each_box(scene: Scene, capsys: pytest.CaptureFixture[str]) -> None:
    path, (_, right) = side_by_side(scene.f4k, scene.scratch, CONFIDENT, BELOW_REVIEW)
    box = f"{right.x},{right.y},{right.width},{right.height}"
    assert jaga_catch(path, scene.store, "--box", box, "--pack", str(scene.pack)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"fish 1: box {right}"
    assert lines[1].split(maxsplit=1) == ["species", "Dascyllus reticulatus"]
    assert held(scene.store) == (1, 1, 2)


def test_a_box_outside_the_photo_is_one_line_exit_1_and_writes_nothing(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = read_catch_photo(scene.f4k / CONFIDENT)
    width, height = photo.size
    before = held(scene.store)
    box = f"0,0,{width + 1},{height}"
    assert jaga_catch(scene.f4k / CONFIDENT, scene.store, "--box", box) == 1
    assert capsys.readouterr().err == (
        f"jaga catch: error: fish 1: box {width + 1}x{height} at (0, 0) lies outside"
        f" {(scene.f4k / CONFIDENT).name} ({width}x{height})\n"
    )
    assert held(scene.store) == before


# --- one fish, one record ----------------------------------------------------------------


def test_the_same_photo_run_twice_is_recorded_once_unless_again(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = ["--pack", str(scene.pack), "--json"]
    assert jaga_catch(scene.f4k / CONFIDENT, scene.store, *pack) == 0
    first = json.loads(capsys.readouterr().out)["observation_uid"]
    assert jaga_catch(scene.f4k / CONFIDENT, scene.store, *pack) == 1
    err = capsys.readouterr().err
    assert f"was recorded before with the same fish: observation {first} (whole photo) at" in err
    assert err.rstrip().endswith("to record it again, add --again")
    assert held(scene.store) == (1, 1, 2)  # nothing more: no photo, no observation, no entry
    copy = scene.scratch / "copy.png"  # the same bytes under another name are the same photo
    shutil.copyfile(scene.f4k / CONFIDENT, copy)
    assert jaga_catch(copy, scene.store, *pack) == 1
    assert jaga_catch(copy, scene.store, *pack, "--again") == 0
    assert held(scene.store) == (2, 2, 4)


def test_other_boxes_of_a_recorded_photo_are_other_fish_and_the_same_box_is_refused(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    path, (left, right) = side_by_side(scene.f4k, scene.scratch, CONFIDENT, BELOW_REVIEW)
    pack = ["--pack", str(scene.pack)]

    def box(crop: Crop) -> str:
        return f"--box={crop.x},{crop.y},{crop.width},{crop.height}"

    assert jaga_catch(path, scene.store, box(left), *pack) == 0
    assert jaga_catch(path, scene.store, box(right), *pack) == 0  # the other fish
    assert held(scene.store) == (2, 2, 4)
    capsys.readouterr()
    assert jaga_catch(path, scene.store, box(left), box(right), *pack) == 1
    err = capsys.readouterr().err
    assert f"(box {left})" in err and f"(box {right})" in err
    assert held(scene.store) == (2, 2, 4)


def test_a_box_given_twice_is_refused(scene: Scene, capsys: pytest.CaptureFixture[str]) -> None:
    twice = ["--box", "0,0,10,10", "--box", "0,0,10,10"]
    assert jaga_catch(scene.f4k / CONFIDENT, scene.store, *twice, "--pack", str(scene.pack)) == 1
    assert "fish 2: box 10x10 at (0, 0) is fish 1's box again" in capsys.readouterr().err
    assert held(scene.store) == (0, 0, 0)


def _ctrl_c_after(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> None:
    """Ctrl-C arrives as ``owner.name`` returns (the officer pressed it at that moment)."""
    original = getattr(owner, name)

    def then_interrupted(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(owner, name, then_interrupted)


def test_an_interrupt_says_whether_the_catch_was_recorded_and_a_rerun_does_not_repeat_it(
    scene: Scene, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    photo, pack = scene.f4k / CONFIDENT, ["--pack", str(scene.pack)]
    with monkeypatch.context() as patched:  # after the commit, while the store closes
        _ctrl_c_after(patched, Store, "close")
        assert jaga_catch(photo, scene.store, *pack) == 130
    err = capsys.readouterr().err
    with Store.open(scene.store, Passphrase(PASSPHRASE), config=FAST) as store:
        (uid,) = store.database.query("SELECT observation_uid FROM fish_observations")
    assert f"interrupted after the catch was recorded: observation {uid[0]}" in err
    assert jaga_catch(photo, scene.store, *pack) == 1  # run again, as the message says
    assert f"observation {uid[0]}" in capsys.readouterr().err
    with monkeypatch.context() as patched:  # within the commit: committed, or not at all
        _ctrl_c_after(patched, Observations, "add_with_photo")
        assert jaga_catch(photo, scene.store, *pack, "--again") == 130
    assert "records it if it was not, else names its records" in capsys.readouterr().err
    assert held(scene.store) == (2, 2, 4)
