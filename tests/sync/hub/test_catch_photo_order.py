"""A catch may reach the hub before the photo it names; the photo is linked when it comes.

A device queues a photo before the catches made on it (``Observations.add_with_photo``), but
a catch can still arrive first: the photo's entry refused for now in the same batch (a lock,
a race; the catch's entry applies in its own savepoint), or quarantined and requeued later,
or, after a hub restored from a backup, another device's review of the catch queued again
(``sync.store.resend``) before its boat pushes the photo again. So the hub takes a photo it
does not hold yet as named (``sync.hub.apply.records._check_catch_photo``), and whatever reads
a catch's photo checks it then: the review queue and the corrections export use only a catch
photo of the catch's own site.
"""

from __future__ import annotations

from pathlib import Path

from sync.hub import review
from sync.hub.corrections import export_corrections
from sync.hub.models import FishObservation
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_corrections import photo_file, rows, upload
from tests.sync.images import photo_bytes as image


def _confirm(observation: dict[str, str]) -> None:
    pk = FishObservation.objects.get(uid=observation["observation_uid"]).pk
    review.correct_species(pk, "Gadus morhua", "hub-reviewer")


def test_a_catch_pushed_before_its_photo_is_linked_once_the_photo_arrives(
    api: Api, tmp_path: Path
) -> None:
    data = image(21)
    photo = e.photo(data)
    catch = e.observation(photo_uid=photo["photo_uid"])
    assert api.push(e.entry("fish_observation", "upsert", catch))["rejected"] == []
    _confirm(catch)
    waiting = export_corrections(tmp_path / "before", site=api.site)
    assert (waiting.summary.written, waiting.awaiting_photo) == (0, 1)

    assert api.push(e.entry("photo", "upsert", photo, when=e.at(1)))["rejected"] == []
    upload(api, photo["photo_uid"], data)

    done = export_corrections(tmp_path / "after", site=api.site)
    assert (done.summary.written, done.awaiting_photo) == (1, 0)
    assert [row["observation_uid"] for row in rows(tmp_path / "after")] == [
        catch["observation_uid"]
    ]
    assert photo_file(tmp_path / "after", photo["photo_uid"]) == data


def test_a_review_resent_before_the_boats_photo_keeps_the_catch_and_its_photo(
    api: Api, tmp_path: Path
) -> None:
    """A hub restored from a backup lost a catch and its photo: device h's review of it,
    queued again, comes first; the boat's photo follows."""
    boat, h = api, Api.register_new(api.site, "h")
    data = image(22)
    photo = e.photo(data)
    catch = e.observation(photo_uid=photo["photo_uid"])
    review = {"reviewed_by": "officer-h", "reviewed_at": "2026-03-01T09:00:00Z"}
    reviewed = catch | review | {"confirmed_species": "Gadus morhua", "needs_review": False}
    assert h.push(e.entry("fish_observation", "upsert", reviewed, when=e.at(60)))["rejected"] == []
    result = boat.push(
        e.entry("photo", "upsert", photo), e.entry("fish_observation", "upsert", catch)
    )
    assert result["rejected"] == []
    upload(boat, photo["photo_uid"], data)
    assert export_corrections(tmp_path / "out", site=api.site).summary.written == 1


def test_a_photo_arriving_later_as_another_sites_or_a_persons_is_never_shown_with_the_catch(
    api: Api, other_api: Api, tmp_path: Path
) -> None:
    """Refused when the hub knows them first (``test_isolation``); named before they came
    (uids no device of this site could know but by a fault), they are left out on reading."""
    elsewhere, face = e.photo(image(23)), e.photo(image(24))
    person = e.person(api.site)
    catches = [e.observation(photo_uid=p["photo_uid"]) for p in (elsewhere, face)]
    api.push(*(e.entry("fish_observation", "upsert", c) for c in catches))
    for observation in catches:
        _confirm(observation)
    other_api.push(e.entry("photo", "upsert", elsewhere))
    upload(other_api, elsewhere["photo_uid"], image(23))
    face |= {"person_uid": person["person_uid"]}
    api.push(e.entry("person", "upsert", person), e.entry("photo", "upsert", face))
    upload(api, face["photo_uid"], image(24))

    report = export_corrections(tmp_path / "out", site=api.site)
    assert (report.summary.written, report.without_photo) == (0, 2)
    assert rows(tmp_path / "out") == []
