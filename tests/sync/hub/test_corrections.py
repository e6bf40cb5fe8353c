"""``jaga hub export-corrections``: the hub's confirmed fish photos, byte for byte, with the
rows ``jaga fish export-training-set`` reads; nothing unconfirmed, unfinished, of another
site or of a person, and no ``corrections.csv`` when a stored photo is damaged."""

from __future__ import annotations

import csv
import hashlib
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from inference.fish.corrections import export_training_set
from main import main
from sync.corrections import CORRECTIONS_CSV, CROP_HEADER, CorrectionsExportError
from sync.hub import review
from sync.hub.corrections import HubExportReport, export_corrections
from sync.hub.models import FishObservation, Photo
from sync.protocol import CHUNK_SHA256_HEADER, format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api
from tests.sync.images import photo_bytes as image


def upload(
    api: Api,
    photo_uid: str,
    data: bytes,
    *,
    media_type: str = "image/jpeg",
    until: int | None = None,
) -> None:
    """Upload ``data`` as the device would, from where the hub's copy ends (resuming an
    unfinished upload); ``until``: stop after that many bytes."""
    body = {
        "photo_uid": photo_uid,
        "sha256": hashlib.sha256(data).hexdigest(),
        "total_size": len(data),
        "media_type": media_type,
    }
    status = api.post(api.site_path("uploads"), body).json()
    upload_id, offset = status["upload_id"], status["received"]
    chunk = data[offset : len(data) if until is None else until]
    answer = api.client.put(
        f"{api.site_path('uploads')}/{upload_id}?offset={offset}",
        chunk,
        content_type="application/octet-stream",
        headers=api.auth() | {CHUNK_SHA256_HEADER: hashlib.sha256(chunk).hexdigest()},
    )
    assert answer.status_code == 200, answer.content


def another_boat(api: Api) -> Api:
    """Another device of ``api``'s site. One device never names one box of a photo twice:
    the hub takes a second such catch as the first pushed again under a new uid
    (``test_catch_pushed_again``), so two observations of one box come from two boats."""
    return Api.register_new(api.site, f"boat-{uuid.uuid4().hex[:8]}")


def catch(
    api: Api,
    minute: int,
    *,
    photo: bytes | None = None,
    media_type: str = "image/jpeg",
    stored: bool = True,
    species: str | None = None,
    photo_uid: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A flagged observation pushed by ``api``'s device (with its photo, uploaded unless not
    ``stored``), corrected by a hub reviewer to ``species`` when one is given."""
    entries = []
    if photo is not None:
        metadata = e.photo(photo, photo_uid=photo_uid) | {"media_type": media_type}
        photo_uid = metadata["photo_uid"]
        entries.append(e.entry("photo", "upsert", metadata))
    observation = e.observation(
        photo_uid=photo_uid, observed_at=format_timestamp(e.at(minute)), **fields
    )
    entries.append(e.entry("fish_observation", "upsert", observation))
    assert api.push(*entries)["rejected"] == []
    if photo is not None:
        until = None if stored else len(photo) // 2
        upload(api, observation["photo_uid"], photo, media_type=media_type, until=until)
    if species is not None:
        pk = FishObservation.objects.get(uid=observation["observation_uid"]).pk
        review.correct_species(pk, species, "hub-reviewer")
    return observation


def rows(folder: Path) -> list[dict[str, str]]:
    with (folder / CORRECTIONS_CSV).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def photo_file(folder: Path, photo_uid: str, suffix: str = ".jpg") -> bytes:
    return (folder / "photos" / f"{photo_uid}{suffix}").read_bytes()


def test_confirmed_photos_are_written_byte_identical_with_their_rows(
    api: Api, tmp_path: Path
) -> None:
    png = image(2, ".png")
    on_trip = catch(
        api, 5, photo=image(1), species="Lutjanus synagris", pack_version="f4k-7",
        status="no_fish", status_reason="too dark, mostly deck",
    )  # fmt: skip
    alone = catch(api, 1, photo=png, media_type="image/png", species=" Gadus morhua ", trip=None)
    catch(api, 2, photo=image(3))  # never confirmed
    catch(api, 3, photo=image(4), stored=False, species="Gadus morhua")  # upload unfinished
    catch(api, 4, species="Gadus morhua")  # no photo at all

    report = export_corrections(tmp_path / "out", site=api.site)

    out = tmp_path / "out"
    written = rows(out)
    stamps = {(row.pop("exported_at"), row.pop("exported_from")) for row in written}
    [(exported_at, exported_from)] = stamps  # one export: one time, on every row
    assert exported_from == "hub"
    assert datetime.fromisoformat(exported_at) >= report.resume_from  # it reaches back
    assert written == [  # oldest first
        {
            "file": f"photos/{alone['photo_uid']}.png",
            "confirmed_species": "Gadus morhua",
            "group": f"observation:{alone['observation_uid']}",
            "observation_uid": alone["observation_uid"],
            "reviewed_by": "hub-reviewer",
            "observed_at": e.at(1).isoformat(),
            "pack_version": "",  # no pack known: its payload named none
            **dict.fromkeys(CROP_HEADER, ""),  # the whole photo
            "status": "",  # no verdict known: a protocol-3 device's catch
            "status_reason": "",
            "not_a_fish": "",  # a species row, not a retraction
            "conflicting": "",
            "photo_sha256": hashlib.sha256(png).hexdigest(),
        },
        {
            "file": f"photos/{on_trip['photo_uid']}.jpg",
            "confirmed_species": "Lutjanus synagris",
            "group": "trip:Gaviota/T-12",
            "observation_uid": on_trip["observation_uid"],
            "reviewed_by": "hub-reviewer",
            "observed_at": e.at(5).isoformat(),
            "pack_version": "f4k-7",
            **dict.fromkeys(CROP_HEADER, ""),
            "status": "no_fish",  # the pack's verdict the reviewer overruled
            "status_reason": "too dark, mostly deck",
            "not_a_fish": "",
            "conflicting": "",
            "photo_sha256": hashlib.sha256(image(1)).hexdigest(),
        },
    ]
    assert photo_file(out, alone["photo_uid"], ".png") == png
    assert photo_file(out, on_trip["photo_uid"]) == image(1)
    assert len(list((out / "photos").iterdir())) == 2
    assert (report.summary.written, report.awaiting_photo, report.without_photo) == (2, 1, 1)
    lines = list(report.lines())
    assert lines[0] == f"2 confirmed photos written to {out}"
    assert "waiting for their photo's upload: 1 confirmed observation;" in lines[1]
    assert lines[2] == "without a photo to label: 1 confirmed observation"
    assert lines[3].startswith("the next export: --since ")
    assert lines[4].startswith("next: jaga fish export-training-set --corrections")


def test_other_sites_and_older_changes_are_left_out(
    api: Api, other_api: Api, tmp_path: Path
) -> None:
    ours = catch(api, 1, photo=image(5), species="Gadus morhua")
    older = catch(api, 2, photo=image(6), species="Gadus morhua")
    theirs = catch(other_api, 3, photo=image(7), species="Gadus morhua")
    FishObservation.objects.filter(uid=older["observation_uid"]).update(
        updated_at=datetime(2000, 1, 1, 12, tzinfo=UTC)  # update() keeps this stamp
    )

    export_corrections(tmp_path / "site", site=api.site)
    site_rows = [row["observation_uid"] for row in rows(tmp_path / "site")]
    assert site_rows == [ours["observation_uid"], older["observation_uid"]]

    export_corrections(tmp_path / "since", site=api.site, since=datetime(2000, 1, 2, tzinfo=UTC))
    assert [row["observation_uid"] for row in rows(tmp_path / "since")] == [ours["observation_uid"]]

    export_corrections(tmp_path / "all")  # every site: other tests' sites are there too
    everyone = {row["observation_uid"] for row in rows(tmp_path / "all")}
    assert {ours["observation_uid"], theirs["observation_uid"]} <= everyone
    assert photo_file(tmp_path / "all", theirs["photo_uid"]) == image(7)


def test_a_damaged_photo_stops_the_export_without_a_csv(api: Api, tmp_path: Path) -> None:
    catch(api, 1, photo=image(8), species="Gadus morhua")
    damaged = catch(api, 2, photo=image(9), species="Gadus morhua")
    stored = Photo.objects.get(uid=damaged["photo_uid"])
    Photo.objects.filter(pk=stored.pk).update(data=image(10))  # bytes that are not its sha256
    try:
        with pytest.raises(CorrectionsExportError, match="does not match its sha256"):
            export_corrections(tmp_path / "out", site=api.site)
    finally:  # other tests export every site
        Photo.objects.filter(pk=stored.pk).update(data=image(9))
    assert not (tmp_path / "out" / CORRECTIONS_CSV).exists()


def test_a_folder_that_is_not_empty_or_an_unknown_site_is_refused(api: Api, tmp_path: Path) -> None:
    catch(api, 1, photo=image(11), species="Gadus morhua")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(CorrectionsExportError, match="not an empty folder"):
        export_corrections(out, site=api.site)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"
    with pytest.raises(CorrectionsExportError, match="no site 'nowhere'"):
        export_corrections(tmp_path / "new", site="nowhere")
    assert not (tmp_path / "new").exists()


def test_a_persons_or_another_sites_photo_is_never_exported(
    api: Api, other_api: Api, tmp_path: Path
) -> None:
    face = image(12)
    person = e.person(api.site)
    face_photo = e.photo(face, person_uid=person["person_uid"])
    api.push(e.entry("person", "upsert", person), e.entry("photo", "upsert", face_photo))
    upload(api, face_photo["photo_uid"], face)
    elsewhere = catch(other_api, 1, photo=image(13), species="Gadus morhua")
    # A push naming either photo is refused now (test_isolation); a hub stored such links
    # before it refused them.
    for minute, photo_uid in ((2, face_photo["photo_uid"]), (3, elsewhere["photo_uid"])):
        linked = catch(api, minute, species="Gadus morhua")
        FishObservation.objects.filter(uid=linked["observation_uid"]).update(photo_uid=photo_uid)

    report = export_corrections(tmp_path / "out", site=api.site)

    assert (report.summary.written, report.without_photo) == (0, 2)
    assert rows(tmp_path / "out") == []
    assert list((tmp_path / "out" / "photos").iterdir()) == []


def test_a_shared_photo_is_written_once_or_left_out_when_its_labels_disagree(
    api: Api, tmp_path: Path
) -> None:
    boat = another_boat(api)
    agreed = catch(api, 1, photo=image(14), species="Gadus morhua")
    catch(boat, 2, photo_uid=agreed["photo_uid"], species="gadus  MORHUA")
    disputed = catch(api, 3, photo=image(15), species="Gadus morhua")
    other = catch(boat, 4, photo_uid=disputed["photo_uid"], species="Pollachius pollachius")

    report = export_corrections(tmp_path / "out", site=api.site)

    labels = [row for row in rows(tmp_path / "out") if row["conflicting"] != "1"]
    assert [row["observation_uid"] for row in labels] == [agreed["observation_uid"]]
    retracted = [row["observation_uid"] for row in rows(tmp_path / "out") if row not in labels]
    assert retracted == [disputed["observation_uid"], other["observation_uid"]]
    assert (report.summary.written, report.summary.conflicting) == (1, 1)
    assert list(report.lines())[-3].startswith("1 photo left out")


def test_each_fish_of_a_shared_photo_is_its_own_example_and_the_photo_is_written_once(
    api: Api, tmp_path: Path
) -> None:
    left = catch(api, 1, photo=image(16), species="Gadus morhua", crop=[0, 0, 32, 48])
    right = catch(
        api, 2, photo_uid=left["photo_uid"], species="Pollachius pollachius", crop=[32, 0, 32, 48]
    )
    # Two observations of the same box that disagree label neither.
    catch(api, 3, photo_uid=left["photo_uid"], species="Gadus morhua", crop=[10, 10, 20, 20])
    catch(
        another_boat(api), 4, photo_uid=left["photo_uid"], species="Melanogrammus",
        crop=[10, 10, 20, 20],
    )  # fmt: skip

    report = export_corrections(tmp_path / "out", site=api.site)

    written = [
        (row["observation_uid"], row["confirmed_species"], *(row[c] for c in CROP_HEADER))
        for row in rows(tmp_path / "out")
        if row["conflicting"] != "1"
    ]
    assert written == [
        (left["observation_uid"], "Gadus morhua", "0", "0", "32", "48"),
        (right["observation_uid"], "Pollachius pollachius", "32", "0", "32", "48"),
    ]
    assert [p.name for p in (tmp_path / "out" / "photos").iterdir()] == [f"{left['photo_uid']}.jpg"]
    assert photo_file(tmp_path / "out", left["photo_uid"]) == image(16)
    assert (report.summary.written, report.summary.conflicting) == (2, 1)


def test_the_cli_prints_the_summary_and_refuses_a_used_folder(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catch(api, 1, photo=image(16), species="Gadus morhua")
    out = tmp_path / "out"
    command = ["hub", "export-corrections", "--data", str(tmp_path / "hub"), "--out", str(out)]

    assert main([*command, "--site", api.site, "--since", "2026-03-01"]) == 0

    printed = capsys.readouterr().out.splitlines()
    resume = printed.pop(1)
    assert re.fullmatch(
        r"the next export: --since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z; give"
        r" export-training-set both exports' CSVs, in any order \(each carries its time\)",
        resume,
    ), resume
    assert printed == [
        f"1 confirmed photo written to {out}",
        f"next: jaga fish export-training-set --corrections {out}/{CORRECTIONS_CSV}"
        " --species-from PACK --out TRAINING_DIR  (PACK: the species pack the photos were"
        " classified with, so that each species keeps its folder id)",
    ]
    assert main([*command, "--site", api.site]) == 1
    assert "jaga: error:" in capsys.readouterr().err  # one line, no traceback
    with pytest.raises(SystemExit):
        main([*command, "--since", "last week"])
    assert "'last week' is not a day like 2026-03-01 or a time" in capsys.readouterr().err
    since = resume.split()[4].rstrip(";")
    again = [*command[:-1], str(tmp_path / "again"), "--site", api.site, "--since", since]
    assert main(again) == 0
    assert "0 confirmed photos written" in capsys.readouterr().out  # nothing changed since


def test_the_export_becomes_species_folders_for_training(api: Api, tmp_path: Path) -> None:
    snapper = catch(api, 1, photo=image(17), species="Lutjanus synagris")
    cod = catch(api, 2, photo=image(18), species="Gadus morhua", trip=None)
    report: HubExportReport = export_corrections(tmp_path / "out", site=api.site)
    assert report.summary.written == 2

    training = tmp_path / "training"
    written = export_training_set(tmp_path / "out" / CORRECTIONS_CSV, training)

    assert written == 2
    (snapper_file,) = (training / "lutjanus_synagris").iterdir()
    (cod_file,) = (training / "gadus_morhua").iterdir()
    assert snapper_file.read_bytes() == image(17) and cod_file.read_bytes() == image(18)
    with (training / "groups.csv").open(newline="") as handle:
        groups = {row["file"]: row["group"] for row in csv.DictReader(handle)}
    assert groups == {
        f"lutjanus_synagris/{snapper_file.name}": "trip:Gaviota/T-12",
        f"gadus_morhua/{cod_file.name}": f"observation:{cod['observation_uid']}",
    }
    assert snapper["photo_uid"] in snapper_file.name
