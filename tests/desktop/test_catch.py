"""The catch flow's core: a real photo, the real default species pack, a real SQLCipher store.

What is recorded is what the file held and what the classifier said; a photo that cannot be
recorded writes nothing at all (no photo, no observation, no outbox entry).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import sqlcipher3

from desktop.catch import (
    CatchDetails,
    CaughtFish,
    classify_catch,
    parse_box,
    parse_length,
    parse_position,
    record_catches,
)
from desktop.catch_errors import CatchError
from desktop.catch_packs import species_classifier_for, species_pack_for
from desktop.catch_photo import CatchPhoto, read_catch_photo
from desktop.species_names import species_name
from inference.fish.classify import SpeciesClassifier
from inference.fish.installed import installed_default_pack
from inference.fish.types import FishPrediction, FishStatus, Species
from main import main
from sync.client.packs import INSTALLED_NAME, installed_species_packs, packs_dir_for
from sync.client.state import ensure_schema, put_values
from sync.species_packs import archive_pack
from sync.store import (
    Crop,
    FishObservation,
    Passphrase,
    Position,
    PredictionStatus,
    Store,
    StoreConfig,
)
from sync.store.photos import load_photo
from tests.desktop.conftest import PASSPHRASE
from tests.inference.fish.test_images import grey_png
from tests.sync.client.fakehub import FakeHub, Fault
from tests.sync.client.units import client_of
from tests.sync.conftest import FAST, FakeClock

pytestmark = pytest.mark.needs_shared

# Photos of f4k and what the default pack says of them (asserted where it matters, so that
# a new default pack that answers otherwise fails here rather than passing vacuously).
CONFIDENT = "fish_04/fish_000000619599_07790.png"  # Amphiprion clarkii, ~99 %
BELOW_REVIEW = "fish_01/fish_000017940001_01715.png"  # identified at ~56 %: flagged
UNKNOWN = "fish_02/fish_000590959702_05089.png"  # below the open-set threshold


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST, clock=FakeClock()) as opened:
        yield opened


def details(**changes: Any) -> CatchDetails:
    values: dict[str, Any] = {"officer": "Ana Lima", "vessel": "KM Harapan", "trip": "T-7"}
    return CatchDetails(**{**values, **changes})


@dataclass(frozen=True)
class Deck:
    """A store, the classifier and the photos: the catch flow as the CLI and the panel run it."""

    store: Store
    classifier: SpeciesClassifier
    f4k: Path

    def catch(
        self, path: Path | str, confirmed: str | None = None, config: StoreConfig = FAST
    ) -> tuple[FishPrediction, FishObservation]:
        photo = read_catch_photo(self.f4k / path, config)  # an absolute path stays as it is
        fish = classify_catch(self.classifier, photo)
        (observation,) = record_catches(
            self.store.observations, photo, fish, details(),
            confirmed_species=[confirmed], clock=self.store.clock,
        )  # fmt: skip
        return fish[0].prediction, observation

    def counts(self) -> tuple[int, int, int]:
        """Observations, photos and outbox entries."""
        photos = self.store.database.query("SELECT count(*) FROM photos")[0][0]
        outbox = sum(self.store.outbox.counts().values())
        return self.store.observations.count(), int(photos), outbox


@pytest.fixture
def deck(store: Store, species_classifier: SpeciesClassifier, f4k: Path) -> Deck:
    return Deck(store, species_classifier, f4k)


def write_image(path: Path, image: np.ndarray[Any, Any], ext: str = ".png") -> Path:
    ok, encoded = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(encoded.tobytes())
    return path


def test_a_photo_is_recorded_with_its_bytes_and_the_classifiers_answer(deck: Deck) -> None:
    prediction, observation = deck.catch(CONFIDENT)
    assert prediction.status is FishStatus.IDENTIFIED
    stored = deck.store.observations.get(observation.observation_uid)
    assert observation.photo_uid is not None
    kept = load_photo(deck.store.database, observation.photo_uid)
    assert kept.data == (deck.f4k / CONFIDENT).read_bytes()  # as taken, not re-encoded
    assert kept.media_type == "image/png"
    assert kept.taken_at == deck.store.clock.now() == stored.observed_at
    expected = [(s.species.name, s.probability) for s in prediction.top_k]
    assert [(s.species, s.confidence) for s in stored.predictions] == expected
    assert stored.predictions[0].species == "Amphiprion clarkii"  # a display name, not fish_04
    assert stored.needs_review is prediction.needs_review is False
    assert (stored.officer, stored.vessel, stored.trip) == ("Ana Lima", "KM Harapan", "T-7")
    assert stored.confirmed_species is None and stored.reviewed_by is None
    # The pack that made these predictions, so a reviewer can tell which pack erred.
    assert stored.pack_version == prediction.pack_version == deck.classifier.pack.version


def test_the_outbox_holds_the_photo_and_the_observation(deck: Deck) -> None:
    prediction, observation = deck.catch(CONFIDENT)
    entries = {(e.entity, e.entity_uid): e.payload() for e in deck.store.outbox.entries()}
    photo_key = ("photo", str(observation.photo_uid))
    observation_key = ("fish_observation", observation.observation_uid)
    assert set(entries) == {photo_key, observation_key}
    assert entries[photo_key]["byte_size"] == (deck.f4k / CONFIDENT).stat().st_size
    sent = entries[observation_key]
    assert sent["predictions"] == [[s.species.name, s.probability] for s in prediction.top_k]
    assert sent["photo_uid"] == observation.photo_uid
    assert sent["pack_version"] == prediction.pack_version  # travels to the hub with them


@pytest.mark.parametrize(
    ("name", "status", "flagged"),
    [
        (CONFIDENT, FishStatus.IDENTIFIED, False),
        (BELOW_REVIEW, FishStatus.IDENTIFIED, True),
        (UNKNOWN, FishStatus.UNKNOWN, True),
    ],
)
def test_the_review_flag_follows_the_prediction(
    deck: Deck, name: str, status: FishStatus, flagged: bool
) -> None:
    prediction, observation = deck.catch(name)
    assert (prediction.status, prediction.needs_review) == (status, flagged)
    stored = deck.store.observations.get(observation.observation_uid)
    assert stored.needs_review is flagged
    assert (stored.status, stored.status_reason) == (status.value, None)  # the pack's verdict
    (sent,) = [e.payload() for e in deck.store.outbox.entries() if e.entity == "fish_observation"]
    assert sent["status"] == status.value
    queue = [o.observation_uid for o in deck.store.observations.review_queue()]
    assert queue == ([observation.observation_uid] if flagged else [])


def test_confirming_on_the_spot_records_the_reviewer_and_clears_the_flag(deck: Deck) -> None:
    confirmed = species_name("FISH_01", deck.classifier.pack.species)
    assert confirmed == "Dascyllus reticulatus"
    prediction, observation = deck.catch(BELOW_REVIEW, confirmed)
    assert prediction.needs_review
    stored = deck.store.observations.get(observation.observation_uid)
    assert stored.confirmed_species == "Dascyllus reticulatus"
    assert (stored.reviewed_by, stored.reviewed_at) == ("Ana Lima", deck.store.clock.now())
    assert stored.needs_review is False
    assert deck.store.observations.review_queue() == []
    (sent,) = [e.payload() for e in deck.store.outbox.entries() if e.entity == "fish_observation"]
    assert (sent["confirmed_species"], sent["reviewed_by"]) == (confirmed, "Ana Lima")
    # The classifier's own answer is kept beside the officer's.
    assert stored.predictions[0].species == prediction.top_k[0].species.name


def test_a_blank_photo_is_recorded_as_no_fish_and_flagged(deck: Deck, tmp_path: Path) -> None:
    blank = write_image(tmp_path / "deck.png", np.full((120, 160, 3), 90, dtype=np.uint8))
    prediction, observation = deck.catch(blank)
    assert prediction.status is FishStatus.NO_FISH and "blank" in prediction.reason
    stored = deck.store.observations.get(observation.observation_uid)
    assert stored.predictions == () and stored.needs_review is True
    assert (stored.status, stored.status_reason) == (PredictionStatus.NO_FISH, prediction.reason)
    queue = [o.observation_uid for o in deck.store.observations.review_queue()]
    assert queue == [observation.observation_uid]


def test_a_transparent_photo_is_the_blank_picture_a_viewer_shows(
    deck: Deck, tmp_path: Path
) -> None:
    """A confident fish photo made wholly transparent: every viewer shows nothing, and it
    was identified (at 99 %) from the colour under its alpha, with no review."""
    fish = cv2.imread(str(deck.f4k / CONFIDENT), cv2.IMREAD_COLOR)
    assert fish is not None
    clear = np.dstack([fish, np.zeros(fish.shape[:2], np.uint8)])
    path = tmp_path / "cut-out.png"
    path.write_bytes(cv2.imencode(".png", clear)[1].tobytes())
    prediction, observation = deck.catch(path)
    assert prediction.status is FishStatus.NO_FISH and "blank" in prediction.reason
    assert deck.store.observations.get(observation.observation_uid).needs_review is True
    assert observation.photo_uid is not None  # the file as taken: a viewer shows its alpha
    assert load_photo(deck.store.database, observation.photo_uid).data == path.read_bytes()


def test_the_store_knows_every_status_the_classifier_gives() -> None:
    """``sync`` does not import the classifier: its statuses are kept equal here."""
    assert [s.value for s in PredictionStatus] == [s.value for s in FishStatus]


def test_the_media_type_comes_from_the_content_not_the_name(f4k: Path, tmp_path: Path) -> None:
    original = read_catch_photo(f4k / CONFIDENT)
    misnamed = tmp_path / "fish.jpg"
    misnamed.write_bytes((f4k / CONFIDENT).read_bytes())
    assert read_catch_photo(misnamed).media_type == "image/png"
    for ext, media_type in ((".jpg", "image/jpeg"), (".webp", "image/webp")):
        path = write_image(tmp_path / f"fish{ext}.bin", original.image, ext)
        photo = read_catch_photo(path)
        assert photo.media_type == media_type
        assert photo.image.shape == original.image.shape
        assert photo.data == path.read_bytes()


def _corrupt(path: Path, source: Path) -> None:
    path.write_bytes(source.read_bytes()[:16] + bytes(range(256)) * 4)  # a PNG header, then junk


def _truncated(path: Path, source: Path) -> None:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _bitmap(path: Path, _source: Path) -> None:  # decodable by OpenCV, but not a photo format
    write_image(path, np.full((32, 32, 3), 10, dtype=np.uint8), ".bmp")


def _empty(path: Path, _source: Path) -> None:
    path.write_bytes(b"")


def _bomb(path: Path, _source: Path) -> None:
    path.write_bytes(grey_png(15_000, 15_000))  # a few hundred KB: 675 MB decoded


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_corrupt, "is not a readable image"),
        (_truncated, "is not a readable image"),
        (_bitmap, "is not a JPEG, PNG or WebP photo"),
        (_empty, "is not a JPEG, PNG or WebP photo"),
        (_bomb, r"is 15000x15000 px \(225 MP\), more than the 210 MP a photo may have"),
    ],
)
def test_a_photo_that_cannot_be_read_writes_nothing(
    deck: Deck, tmp_path: Path, make: Callable[[Path, Path], None], message: str
) -> None:
    path = tmp_path / "photo.png"
    make(path, deck.f4k / CONFIDENT)
    before = deck.counts()
    with pytest.raises(CatchError, match=message) as refused:
        deck.catch(path)
    assert str(path) in str(refused.value)
    assert deck.counts() == before


@pytest.mark.parametrize("kind", ["named pipe", "/dev/zero", "folder"])
def test_only_a_regular_file_is_read(deck: Deck, tmp_path: Path, kind: str) -> None:
    """/dev/zero has no size to refuse and never ends: it was read until memory ran out. A
    named pipe with no writer kept the read waiting for ever."""
    path = {"named pipe": tmp_path / "pipe.jpg", "/dev/zero": Path("/dev/zero")}.get(kind, tmp_path)
    if kind == "named pipe":
        os.mkfifo(path)
    before = deck.counts()
    with pytest.raises(CatchError, match="is not a photo file"):
        deck.catch(path)
    assert deck.counts() == before


def test_a_file_grown_past_the_limit_is_read_no_further(deck: Deck) -> None:
    """What is read stops one byte past the limit, and is refused. /proc/self/maps stands for
    a file growing under us: a regular file whose size says 0 bytes, and that has more."""
    maps = Path("/proc/self/maps")
    assert maps.stat().st_size == 0 and len(maps.read_bytes()) > 1001
    config = StoreConfig(max_blob_bytes=1000, scrypt_n=FAST.scrypt_n)
    with pytest.raises(CatchError, match="is 1001 bytes; the store accepts at most 1000"):
        deck.catch(maps, config=config)


def test_a_missing_file_is_named(deck: Deck) -> None:
    before = deck.counts()
    with pytest.raises(CatchError, match=r"cannot read /nowhere/fish\.png: No such file"):
        deck.catch(Path("/nowhere/fish.png"))
    assert deck.counts() == before


def test_a_photo_over_the_stores_limit_is_refused_before_it_is_read(
    deck: Deck, tmp_path: Path
) -> None:
    path = tmp_path / "huge.png"
    data = (deck.f4k / CONFIDENT).read_bytes()
    with path.open("wb") as sparse:  # 33 MiB on paper, no disk used: the store takes 32
        sparse.write(data)
        sparse.truncate(33 * 1024 * 1024)
    before = deck.counts()
    # its whole size: what was read would stop one byte past the limit
    with pytest.raises(CatchError, match="is 34603008 bytes; the store accepts at most 33554432"):
        deck.catch(path, config=StoreConfig())
    small = StoreConfig(max_blob_bytes=len(data) - 1, scrypt_n=FAST.scrypt_n)
    with pytest.raises(CatchError, match=re.escape(f"{deck.f4k / CONFIDENT} is {len(data)} bytes")):
        deck.catch(CONFIDENT, config=small)
    assert deck.counts() == before


def _hidden(field: str, listed: str) -> str:
    return re.escape(f"{field} holds no control character or bidirectional override ({listed})")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"officer": "  "}, "officer must not be empty"),
        ({"count": 0}, "count must be at least 1"),
        ({"length_cm": -3.0}, "length_cm must be positive"),
        ({"length_cm": float("nan")}, "length_cm must be positive"),
        ({"vessel": "v" * 201}, "vessel: String should have at most 200 characters"),
        ({"notes": "n" * 4001}, "notes: String should have at most 4000 characters"),
        ({"count": 2_000_000}, "count: Input should be less than or equal to 1000000"),
        # shown as another name than stored (a right-to-left override), or acting on a terminal
        ({"vessel": "KM \u202eHarapan"}, _hidden("the vessel", "'\\u202e'")),
        ({"trip": "T-\u20667"}, _hidden("the trip", "'\\u2066'")),
        ({"haul": "3\x1b[2J"}, _hidden("the haul", "'\\x1b'")),
        ({"officer": "Ana\u200f Lima"}, _hidden("the officer", "'\\u200f'")),
        # a note shown reversed from here on in the review queue and the hub's admin
        (
            {"notes": "near the \u202efeer"},
            re.escape("a note holds no bidirectional embedding, override or isolate ('\\u202e')"),
        ),
        ({"notes": "ok\u2067x"}, re.escape("isolate ('\\u2067')")),
    ],
)
def test_bad_details_are_refused_naming_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(CatchError, match=message):
        details(**changes)


def test_notes_keep_their_line_breaks_tabs_and_marks() -> None:
    note = "first line\nsecond\tline \u05d3\u05d2 \u200e42\u200e cm"
    assert details(notes=note).notes == note


def test_details_are_stripped_and_blank_ones_are_none() -> None:
    made = details(officer=" Ana ", vessel="  ", trip=" T-7 ", notes=" calm sea ")
    assert (made.officer, made.vessel, made.trip, made.notes) == ("Ana", None, "T-7", "calm sea")


@pytest.mark.parametrize(
    ("latitude", "longitude", "message"),
    [
        ("1.5", "", "give the latitude and the longitude, or neither"),
        ("95", "10", "not a position"),
        ("north", "10", "position: could not convert"),
        ("nan", "10", "not a position"),
    ],
)
def test_a_bad_position_is_refused(latitude: str, longitude: str, message: str) -> None:
    with pytest.raises(CatchError, match=message):
        parse_position(latitude, longitude)


def test_positions_and_lengths_as_typed() -> None:
    assert parse_position(" -8.65 ", "115.2") == Position(-8.65, 115.2)
    assert parse_position("", " ") is None
    assert parse_length(" 23.5 ") == 23.5 and parse_length("") is None
    with pytest.raises(CatchError, match="length: not a number of centimetres: '12 cm'"):
        parse_length("12 cm")


def test_a_confirmed_species_the_hub_would_refuse_writes_nothing(deck: Deck) -> None:
    before = deck.counts()
    with pytest.raises(CatchError, match="confirmed_species: String should have at most 200"):
        deck.catch(CONFIDENT, confirmed="x" * 201)
    assert deck.counts() == before


def test_a_species_is_named_as_the_pack_names_it(species_classifier: SpeciesClassifier) -> None:
    known = species_classifier.pack.species
    assert species_name("fish_04", known) == "Amphiprion clarkii"
    assert species_name("  amphiprion   CLARKII ", known) == "Amphiprion clarkii"
    assert species_name("Lutjanus  sebae", known, new_species=True) == "Lutjanus sebae"  # new
    # A name first, as the hub: "b" is the species named "b", not the one whose folder is b.
    clash = (Species("b", "Bee"), Species("c", "b"))
    assert species_name("B", clash) == "b"


def test_the_pack_is_the_one_sync_installed_last_else_the_default(
    store: Store, default_species_pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAGA_MODELS_DIR", str(default_species_pack.parent))
    monkeypatch.delenv("JAGA_SPECIES_PACKS_DIR", raising=False)
    assert species_pack_for(store).root == installed_default_pack() == default_species_pack
    installed = packs_dir_for(store.path) / "2099.1.1"
    shutil.copytree(default_species_pack, installed)
    ensure_schema(store.database)
    record = '{"version": "2099.1.1", "sha256": "' + "0" * 64 + '", "byte_size": 1}'
    put_values(store.database, {INSTALLED_NAME: record}, store.clock.now())
    assert species_pack_for(store).root == installed
    # A pack whose files no longer verify is passed over, as the app does at start-up.
    (installed / "species.json").write_text("{}")
    assert species_pack_for(store).root == default_species_pack


def test_a_pack_naming_a_species_no_record_may_hold_is_passed_over(
    store: Store,
    default_species_pack: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its files verify, but every catch of that species would be refused when recorded
    (the wire's Name refuses a bidirectional override): the pack is refused when it is
    switched to, naming the species, and the pack before it stays in use."""
    monkeypatch.setenv("JAGA_MODELS_DIR", str(default_species_pack.parent))
    monkeypatch.delenv("JAGA_SPECIES_PACKS_DIR", raising=False)
    installed = packs_dir_for(store.path) / "2099.1.1"
    shutil.copytree(default_species_pack, installed)
    body = json.loads((installed / "species.json").read_text())
    body["species"][0]["name"] = "Gadus \u202emorhua"
    (installed / "species.json").write_text(json.dumps(body))
    manifest = json.loads((installed / "manifest.json").read_text())
    digest = hashlib.sha256((installed / "species.json").read_bytes()).hexdigest()
    manifest["files"]["species.json"] = digest
    (installed / "manifest.json").write_text(json.dumps(manifest))
    ensure_schema(store.database)
    record = '{"version": "2099.1.1", "sha256": "' + "0" * 64 + '", "byte_size": 1}'
    put_values(store.database, {INSTALLED_NAME: record}, store.clock.now())
    assert species_classifier_for(store).pack.root == default_species_pack
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    species_id = body["species"][0]["id"]
    assert any(f"species {species_id!r}" in m and "'\\u202e'" in m for m in refused), refused


def pack_archive(default_pack: Path, folder: Path, version: str, schema: int | None) -> bytes:
    """The default pack re-issued as ``version``, as a hub would serve it; ``schema`` set: a
    pack schema this device cannot read (a fleet part way through an upgrade gets those)."""
    shutil.copytree(default_pack, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"] = version
    if schema is not None:
        manifest["schema"] = schema
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return archive_pack(folder)


def test_refused_packs_in_a_row_never_remove_the_pack_in_use(
    store: Store, default_species_pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v1 verifies and is used; v2 and v3 are refused (a newer pack schema). The installer
    keeps v1, the pack in use, so `jaga catch` goes on with it, not with the default."""
    monkeypatch.setenv("JAGA_MODELS_DIR", str(default_species_pack.parent))
    monkeypatch.delenv("JAGA_SPECIES_PACKS_DIR", raising=False)
    hub = FakeHub()
    client = client_of(store, hub)
    for version, schema in (("v1", None), ("v2", 99), ("v3", 99)):
        data = pack_archive(default_species_pack, tmp_path / version, version, schema)
        hub.add_change("species_pack", "publish", {
            "version": version, "sha256": hashlib.sha256(data).hexdigest(),
            "byte_size": len(data),
        })  # fmt: skip
        hub.faults.append(Fault("/species-packs/", body=data))
        assert client.sync_once().new_species_pack == client.packs_dir / version
        assert species_classifier_for(store).pack.version == "v1"  # what `jaga catch` uses
    assert sorted(p.name for p in client.packs_dir.iterdir()) == ["v1", "v3"]
    assert installed_species_packs(store, client.packs_dir) == (
        client.packs_dir / "v3", client.packs_dir / "v1",
    )  # fmt: skip


def test_sync_status_names_the_pack_jaga_catch_falls_back_to(
    store: Store,
    default_species_pack: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """v2, the newest, damaged on disk; v1 kept, its files whole but its pack schema one
    this device cannot read. `jaga catch` goes on with the default pack; `jaga sync status`
    said "in use: v1", the kept pack whose files verify."""
    monkeypatch.setenv("JAGA_MODELS_DIR", str(default_species_pack.parent))
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("JAGA_SPECIES_PACKS_DIR", raising=False)
    hub = FakeHub()
    client = client_of(store, hub)
    for version, schema in (("v1", 99), ("v2", None)):
        data = pack_archive(default_species_pack, tmp_path / version, version, schema)
        hub.add_change("species_pack", "publish", {
            "version": version, "sha256": hashlib.sha256(data).hexdigest(),
            "byte_size": len(data),
        })  # fmt: skip
        hub.faults.append(Fault("/species-packs/", body=data))
        assert client.sync_once().new_species_pack == client.packs_dir / version
    (client.packs_dir / "v2" / "species.json").write_text("{}")
    assert species_classifier_for(store).pack.root == default_species_pack
    capsys.readouterr()

    assert main(["sync", "status", "--db", str(store.path)]) == 0

    damaged = [line for line in capsys.readouterr().out.splitlines() if "pack damaged" in line]
    assert len(damaged) == 1 and "in use: the default pack" in damaged[0], damaged


# --- several fish in one photo ---------------------------------------------------------


def side_by_side(f4k: Path, tmp_path: Path, *names: str) -> tuple[Path, list[Crop]]:
    """Real f4k photos laid side by side on one grey deck (a PNG), and each one's box."""
    images = [read_catch_photo(f4k / name).image for name in names]
    height = max(image.shape[0] for image in images)
    padded = [
        np.pad(image, ((0, height - image.shape[0]), (0, 0), (0, 0)), constant_values=90)
        for image in images
    ]
    boxes, x = [], 0
    for image in images:
        boxes.append(Crop(x, 0, image.shape[1], image.shape[0]))
        x += image.shape[1]
    return write_image(tmp_path / "deck.png", np.concatenate(padded, axis=1)), boxes


@dataclass
class CountingClassifier:
    """The real classifier, counting its ``classify`` calls (one batch per photo is asked)."""

    real: SpeciesClassifier
    calls: list[int]

    def classify(self, images: list[Any]) -> list[FishPrediction]:
        self.calls.append(len(images))
        return self.real.classify(images)


def test_two_boxes_are_two_predictions_from_one_batch_as_if_each_were_alone(
    deck: Deck, tmp_path: Path
) -> None:
    path, boxes = side_by_side(deck.f4k, tmp_path, CONFIDENT, BELOW_REVIEW)
    photo = read_catch_photo(path)
    counting = CountingClassifier(deck.classifier, [])
    fish = classify_catch(counting, photo, boxes)  # type: ignore[arg-type]
    assert counting.calls == [2]  # one classify call, both fish in it
    assert [one.crop for one in fish] == boxes
    for one, name in zip(fish, (CONFIDENT, BELOW_REVIEW), strict=True):
        (alone,) = deck.classifier.classify([read_catch_photo(deck.f4k / name).image])
        assert [s.species.id for s in one.prediction.top_k] == [s.species.id for s in alone.top_k]
        for batched, single in zip(one.prediction.top_k, alone.top_k, strict=True):
            assert batched.probability == pytest.approx(single.probability, abs=1e-6)
    assert fish[0].prediction.species is not None
    assert fish[0].prediction.species.name == "Amphiprion clarkii"
    assert fish[1].prediction.needs_review  # the second fish alone is below review


def test_no_boxes_is_the_whole_photo_as_one_fish(deck: Deck) -> None:
    photo = read_catch_photo(deck.f4k / CONFIDENT)
    (fish,) = classify_catch(deck.classifier, photo, [])
    (whole,) = deck.classifier.classify([photo.image])
    assert fish.crop is None and fish.prediction.top_k == whole.top_k


def record_two(deck: Deck, tmp_path: Path, confirmed: list[str | None] | None = None) -> Any:
    path, boxes = side_by_side(deck.f4k, tmp_path, CONFIDENT, BELOW_REVIEW)
    photo = read_catch_photo(path)
    fish = classify_catch(deck.classifier, photo, boxes)
    recorded = record_catches(
        deck.store.observations, photo, fish, details(),
        confirmed_species=confirmed or [], clock=deck.store.clock,
    )  # fmt: skip
    return photo, fish, recorded


def test_two_fish_are_one_photo_and_two_observations_in_the_outbox(
    deck: Deck, tmp_path: Path
) -> None:
    photo, fish, recorded = record_two(deck, tmp_path)
    assert deck.counts() == (2, 1, 3)
    (photo_uid,) = {o.photo_uid for o in recorded}
    assert load_photo(deck.store.database, str(photo_uid)).data == photo.data
    for one, observation in zip(fish, recorded, strict=True):
        stored = deck.store.observations.get(observation.observation_uid)
        assert stored.crop == one.crop and stored.photo_uid == photo_uid
        expected = [(s.species.name, s.probability) for s in one.prediction.top_k]
        assert [(s.species, s.confidence) for s in stored.predictions] == expected
        assert stored.needs_review is one.prediction.needs_review
        assert stored.pack_version == one.prediction.pack_version
    entries = [(e.entity, e.payload()) for e in deck.store.outbox.entries()]
    assert [entity for entity, _ in entries] == ["photo", "fish_observation", "fish_observation"]
    assert [payload["crop"] for _, payload in entries[1:]] == [
        list(one.crop.as_tuple()) for one in fish if one.crop is not None
    ]


def test_confirming_on_the_spot_applies_to_each_fish_alone(deck: Deck, tmp_path: Path) -> None:
    confirmed = species_name("fish_01", deck.classifier.pack.species)
    _, fish, recorded = record_two(deck, tmp_path, [None, confirmed])
    first, second = (deck.store.observations.get(o.observation_uid) for o in recorded)
    assert first.confirmed_species is None and first.reviewed_by is None
    assert first.needs_review is fish[0].prediction.needs_review is False
    assert (second.confirmed_species, second.reviewed_by) == (confirmed, "Ana Lima")
    assert fish[1].prediction.needs_review and second.needs_review is False


def test_a_fish_the_store_refuses_leaves_no_photo_and_no_other_fish(
    deck: Deck, tmp_path: Path
) -> None:
    # The store refuses a second observation of one photo (a real refusal, inside the write).
    deck.store.database.connection.execute(
        "CREATE TEMP TRIGGER refuse_second_fish BEFORE INSERT ON fish_observations"
        " WHEN (SELECT count(*) FROM fish_observations WHERE photo_id = NEW.photo_id) > 0"
        " BEGIN SELECT RAISE(ABORT, 'refused: a second fish'); END"
    )
    with pytest.raises(sqlcipher3.IntegrityError, match="refused: a second fish"):
        record_two(deck, tmp_path)
    assert deck.counts() == (0, 0, 0)


def test_a_box_outside_the_photo_is_refused_before_anything_is_classified_or_written(
    deck: Deck, tmp_path: Path
) -> None:
    path, (left, right) = side_by_side(deck.f4k, tmp_path, CONFIDENT, BELOW_REVIEW)
    photo = read_catch_photo(path)
    width, height = photo.size
    wide = Crop(right.x, 0, right.width + 1, right.height)
    counting = CountingClassifier(deck.classifier, [])
    message = rf"fish 2: box {wide.width}x{wide.height} at \({wide.x}, 0\) lies outside deck.png"
    with pytest.raises(CatchError, match=rf"{message} \({width}x{height}\)"):
        classify_catch(counting, photo, [left, wide])  # type: ignore[arg-type]
    assert counting.calls == []
    fish = classify_catch(deck.classifier, photo, [left])
    moved = [CaughtFish(Crop(0, 1, left.width, height), fish[0].prediction)]
    with pytest.raises(CatchError, match=r"fish 1: box .* lies outside deck\.png"):
        record_catches(deck.store.observations, photo, moved, details(), clock=deck.store.clock)
    assert deck.counts() == (0, 0, 0)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0,0,0,5", r"box 0,0,0,5: crop width must lie in \[1, 100000\], got 0"),
        ("-3,0,5,5", r"box -3,0,5,5: crop x must lie in \[0, 100000\], got -3"),
        ("1,2,3", r"box '1,2,3': expected X,Y,WIDTH,HEIGHT in pixels"),
        ("1,2,3.5,4", r"box '1,2,3.5,4': expected X,Y,WIDTH,HEIGHT"),
    ],
)
def test_a_box_that_is_not_one_is_refused_as_typed(typed: str, message: str) -> None:
    with pytest.raises(CatchError, match=message):
        parse_box(typed)


def test_a_box_is_typed_as_x_y_width_height() -> None:
    assert parse_box(" 10, 20 ,30,40 ") == Crop(10, 20, 30, 40)


def test_one_confirmed_species_per_fish_or_none(deck: Deck, tmp_path: Path) -> None:
    with pytest.raises(CatchError, match="2 fish but 1 confirmed species: give one per fish"):
        record_two(deck, tmp_path, ["Amphiprion clarkii"])
    assert deck.counts() == (0, 0, 0)


def test_a_photo_knows_its_size(f4k: Path) -> None:
    photo: CatchPhoto = read_catch_photo(f4k / CONFIDENT)
    assert photo.size == (photo.image.shape[1], photo.image.shape[0])
