"""The fish review loop through a real hub process: a boat's flagged catch and its photo reach
the hub, a hub reviewer corrects the species, ``jaga hub export-corrections`` writes the
boat's photo as training data for that species, and the correction reaches the boat. A catch
recorded with ``jaga catch`` and the real default species pack names that pack all the way to
the hub's review queue and the exported corrections."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from inference.fish.corrections import export_training_set
from main import main
from sync.client.status import read_status
from sync.corrections import CORRECTIONS_CSV, CorrectionsExport
from sync.hub import review
from sync.hub.models import FishObservation as HubObservation
from sync.store import FishObservation, Photo, SpeciesScore, Store
from sync.store.corrections import export_corrections
from sync.store.key_sources import PASSPHRASE_ENV
from tests.sync.client.devices import PASSPHRASE, new_device
from tests.sync.client.hubcheck import drained
from tests.sync.hub.hubkit import HubProcess
from tests.sync.images import photo_bytes


def flag_a_catch(store: Store, photo: bytes) -> str:
    """A catch the classifier was unsure of, with its photo; returns the observation's uid."""
    now = store.clock.now()
    record = FishObservation(
        observed_at=now - timedelta(minutes=5),
        predictions=(SpeciesScore("Lutjanus campechanus", 0.48), SpeciesScore("Lutjanus", 0.3)),
        needs_review=True,
        officer="officer-7",
        vessel="Gaviota",
        trip="T-12",
    )
    store.observations.add(record, Photo(data=photo, media_type="image/jpeg", taken_at=now))
    return record.observation_uid


def test_a_hub_correction_becomes_training_data_and_reaches_the_boat(
    live_hub: HubProcess, site_slug: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = photo_bytes(7)
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        uid = flag_a_catch(store, photo)
        client = device.client(store, http)
        report = client.sync_once()
        assert (report.push.rejected, report.uploads.completed) == (0, 1), read_status(store, {})
        on_hub = HubObservation.objects.get(uid=uid)
        assert on_hub.needs_review and on_hub.confirmed_species is None

        review.correct_species(on_hub.pk, "Lutjanus synagris", "hub-reviewer")
        out = tmp_path / "corrections"
        hub_data = str(tmp_path / "hub")
        arguments = ["--data", hub_data, "--out", str(out), "--site", site_slug]
        assert main(["hub", "export-corrections", *arguments]) == 0
        assert f"1 confirmed photo written to {out}" in capsys.readouterr().out

        training = tmp_path / "training"
        assert export_training_set(out / "corrections.csv", training) == 1
        (example,) = (training / "lutjanus_synagris").iterdir()
        assert example.read_bytes() == photo  # the boat's bytes, untouched
        with (training / "groups.csv").open(newline="", encoding="utf-8") as groups:
            assert list(csv.reader(groups))[1][-1] == "trip:Gaviota/T-12"

        assert client.sync_once().pull.applied >= 1
        here = store.observations.get(uid)
        assert (here.confirmed_species, here.needs_review) == ("Lutjanus synagris", False)
        assert here.reviewed_by == "hub-reviewer"
        assert drained(store)  # the pulled correction is not pushed back


def test_not_a_fish_answered_on_either_side_resolves_the_catch_everywhere_and_trains_nothing(
    live_hub: HubProcess, site_slug: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two face photos flagged ``no fish``: the officer answers one on the boat, the hub's
    reviewer the other. Each leaves both review queues with no species, and neither
    export writes a photo to train on."""
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        on_boat, at_hub = flag_a_catch(store, photo_bytes(8)), flag_a_catch(store, photo_bytes(9))
        client = device.client(store, http)
        assert client.sync_once().push.rejected == 0
        store.observations.answer_not_a_fish(on_boat, officer="officer-7")
        review.answer_not_a_fish(HubObservation.objects.get(uid=at_hub).pk, "hub-reviewer")
        report = client.sync_once()
        assert (report.push.rejected, report.pull.applied >= 1) == (0, True)

        for uid, reviewer in ((on_boat, "officer-7"), (at_hub, "hub-reviewer")):
            hub_copy, here = HubObservation.objects.get(uid=uid), store.observations.get(uid)
            assert (hub_copy.confirmed_species, hub_copy.needs_review) == (None, False)
            assert hub_copy.reviewed_by == reviewer and hub_copy.not_a_fish
            assert hub_copy.answer == "not a fish"
            assert (here.confirmed_species, here.needs_review) == (None, False)
            assert here.reviewed_by == reviewer and here.not_a_fish
        assert not HubObservation.objects.filter(site__slug=site_slug, needs_review=True).exists()
        assert store.observations.review_queue() == []
        assert drained(store)

        hub_out, boat_out = tmp_path / "hub-corrections", tmp_path / "boat-corrections"
        arguments = ["--data", str(tmp_path / "hub"), "--out", str(hub_out), "--site", site_slug]
        assert main(["hub", "export-corrections", *arguments]) == 0
        assert f"0 confirmed photos written to {hub_out}" in capsys.readouterr().out
        assert export_corrections(store.database, CorrectionsExport(boat_out)).summary.written == 0
    for out in (hub_out, boat_out):  # each answer only retracts what an export named before
        retractions = list(csv.DictReader((out / CORRECTIONS_CSV).open()))
        assert {row["observation_uid"] for row in retractions} == {on_boat, at_hub}
        assert all((row["file"], row["not_a_fish"]) == ("", "1") for row in retractions)


@pytest.mark.needs_shared
def test_a_catch_names_its_species_pack_on_the_hub_and_in_the_corrections(
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    default_species_pack: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    version = json.loads((default_species_pack / "manifest.json").read_text())["version"]
    device = new_device(tmp_path, live_hub.url, site_slug)
    photo = tmp_path / "deck.jpg"
    photo.write_bytes(photo_bytes(11))
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    catch = ["catch", str(photo), "--officer", "officer-7", "--trip", "T-9"]
    assert main([*catch, "--db", str(device.path), "--pack", str(default_species_pack)]) == 0

    with device.open() as store, httpx.Client() as http:
        ((uid,),) = store.database.query("SELECT observation_uid FROM fish_observations")
        assert store.observations.get(uid).pack_version == version
        client = device.client(store, http)
        report = client.sync_once()
        assert (report.push.rejected, report.uploads.completed) == (0, 1), read_status(store, {})
        on_hub = HubObservation.objects.get(uid=uid)
        assert on_hub.pack_version == version

        review.correct_species(on_hub.pk, "Lutjanus synagris", "hub-reviewer")
        out = tmp_path / "corrections"
        arguments = ["--data", str(tmp_path / "hub"), "--out", str(out), "--site", site_slug]
        assert main(["hub", "export-corrections", *arguments]) == 0
        with (out / CORRECTIONS_CSV).open(newline="", encoding="utf-8") as handle:
            (row,) = csv.DictReader(handle)
        assert (row["observation_uid"], row["pack_version"]) == (uid, version)

        assert client.sync_once().pull.applied >= 1
        here = store.observations.get(uid)
        assert (here.confirmed_species, here.pack_version) == ("Lutjanus synagris", version)
        assert drained(store)
