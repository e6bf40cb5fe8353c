"""Protocol 4 next to protocols 3 and 2, over HTTP against a real ``jaga hub run`` process.

A protocol-3 device sends the species pack behind a catch's predictions, and the hub keeps it
for the review queue and the corrections export; a protocol-4 device sends the pack's verdict
too, and the review queue shows it. An older device (the fleet upgrades the hub first, then
its devices one by one) still pushes, and pulls changes it can read: its schemas forbid
unknown fields, so ``pack_version`` and ``crop`` (a fish's box when one photo holds several)
must not reach a protocol-2 device, nor ``status`` and ``status_reason`` a protocol-3 one.
Any other version is refused whole.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from django.test import Client

from sync.corrections import CORRECTIONS_CSV
from sync.hub import auth, review
from sync.hub.corrections import export_corrections
from sync.hub.models import FishObservation, Photo
from sync.protocol import CHUNK_SHA256_HEADER, OutboxEntry, PullResult, format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import HubProcess
from tests.sync.images import photo_bytes
from tests.sync.protocol_v2 import parse_as_v2
from tests.sync.protocol_v3 import parse_as_v3

PACK = "f4k-2026.03"


@dataclass(frozen=True)
class HttpDevice:
    """A registered device speaking to the hub process with raw HTTP, as any release would."""

    base: str
    device_id: str
    headers: dict[str, str]

    @classmethod
    def register(cls, hub: HubProcess, site: str) -> HttpDevice:
        code = auth.create_device(site, "boat-1").code
        body = httpx.post(f"{hub.url}/api/v1/devices/register", json={"code": code}).json()
        auth_header = {"Authorization": f"Bearer {body['token']}"}
        return cls(f"{hub.url}/api/v1/sites/{site}", body["device_id"], auth_header)

    def push(self, version: int, *entries: OutboxEntry) -> httpx.Response:
        body = e.batch(self.device_id, entries).model_dump(mode="json")
        return httpx.post(
            f"{self.base}/push", json=body | {"protocol_version": version}, headers=self.headers
        )

    def pull(self, version: int | None) -> httpx.Response:
        params = {"cursor": "0"} | ({} if version is None else {"protocol_version": str(version)})
        return httpx.get(f"{self.base}/changes", params=params, headers=self.headers)

    def upload(self, photo: dict[str, Any], data: bytes) -> None:
        start = {k: photo[k] for k in ("photo_uid", "sha256", "media_type")}
        started = httpx.post(
            f"{self.base}/uploads", json=start | {"total_size": len(data)}, headers=self.headers
        ).json()
        sent = httpx.put(
            f"{self.base}/uploads/{started['upload_id']}",
            params={"offset": "0"},
            content=data,
            headers=self.headers
            | {
                CHUNK_SHA256_HEADER: hashlib.sha256(data).hexdigest(),
                "Content-Type": "application/octet-stream",
            },
        )
        assert sent.json()["complete"] is True, sent.text


def fish_payloads(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    result = PullResult.model_validate_json(response.content)  # the envelope, unchanged in 3
    return {
        str(c.entity_uid): dict(c.payload) for c in result.changes if c.entity == "fish_observation"
    }


def test_a_protocol_3_catch_keeps_its_pack_for_review_and_export(
    live_hub: HubProcess, site_slug: str, operator: Client, tmp_path: Path
) -> None:
    device = HttpDevice.register(live_hub, site_slug)
    data = photo_bytes(21)
    photo = e.photo(data)
    catch = e.observation(photo_uid=photo["photo_uid"], pack_version=PACK)
    pushed = device.push(
        3, e.entry("photo", "upsert", photo), e.entry("fish_observation", "upsert", catch)
    )
    assert pushed.status_code == 200 and pushed.json()["rejected"] == [], pushed.text
    device.upload(photo, data)

    stored = FishObservation.objects.get(uid=catch["observation_uid"])
    assert stored.pack_version == PACK
    queue = operator.get("/admin/hub/fishreview/", {"site__id__exact": stored.site_id})
    assert PACK in queue.content.decode()
    assert fish_payloads(device.pull(3))[catch["observation_uid"]]["pack_version"] == PACK

    review.correct_species(stored.pk, "Lutjanus synagris", "hub-reviewer")
    export_corrections(tmp_path / "out", site=site_slug)
    with (tmp_path / "out" / CORRECTIONS_CSV).open(newline="", encoding="utf-8") as handle:
        (row,) = csv.DictReader(handle)
    assert (row["observation_uid"], row["pack_version"]) == (catch["observation_uid"], PACK)


def test_a_protocol_2_device_pushes_and_pulls_what_it_can_read(
    live_hub: HubProcess, site_slug: str
) -> None:
    newer, older = (HttpDevice.register(live_hub, site_slug) for _ in range(2))
    from_newer = e.observation(pack_version=PACK)
    assert newer.push(3, e.entry("fish_observation", "upsert", from_newer)).json()["rejected"] == []
    from_older = e.observation()  # what a protocol-2 device sends: no pack_version key at all
    pushed = older.push(2, e.entry("fish_observation", "upsert", from_older))
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["rejected"] == []
    assert FishObservation.objects.get(uid=from_older["observation_uid"]).pack_version is None

    for_older = fish_payloads(older.pull(2))
    assert set(for_older) == {from_newer["observation_uid"], from_older["observation_uid"]}
    for payload in for_older.values():
        assert "pack_version" not in payload
        parse_as_v2("fish_observation", "upsert", payload)  # a v2 device applies it
    assert for_older[from_newer["observation_uid"]]["predictions"] == from_newer["predictions"]

    for_newer = fish_payloads(newer.pull(3))
    assert for_newer[from_newer["observation_uid"]]["pack_version"] == PACK
    assert "pack_version" not in for_newer[from_older["observation_uid"]]  # never told


def _reviewed(officer: str) -> dict[str, object]:
    """The review fields of an officer's confirmation, five minutes in."""
    return {"confirmed_species": "Lutjanus synagris", "needs_review": False,
            "reviewed_by": officer, "reviewed_at": format_timestamp(e.at(5))}  # fmt: skip


def test_two_fish_of_one_photo_keep_their_boxes_from_device_to_export(
    live_hub: HubProcess, site_slug: str, operator: Client, tmp_path: Path
) -> None:
    newer, older = (HttpDevice.register(live_hub, site_slug) for _ in range(2))
    data = photo_bytes(22)
    photo = e.photo(data)
    left = e.observation(photo_uid=photo["photo_uid"], pack_version=PACK, crop=[0, 5, 30, 40])
    right = e.observation(photo_uid=photo["photo_uid"], pack_version=PACK, crop=[30, 2, 34, 44])
    pushed = newer.push(
        3,
        e.entry("photo", "upsert", photo),
        *(e.entry("fish_observation", "upsert", fish) for fish in (left, right)),
    )
    assert pushed.status_code == 200 and pushed.json()["rejected"] == [], pushed.text
    newer.upload(photo, data)
    stored = FishObservation.objects.get(uid=left["observation_uid"])
    assert (stored.crop_x, stored.crop_y, stored.crop_w, stored.crop_h) == (0, 5, 30, 40)
    queue = operator.get("/admin/hub/fishreview/", {"site__id__exact": stored.site_id})
    assert "30x40 px at (0, 5)" in queue.content.decode()
    assert "34x44 px at (30, 2)" in queue.content.decode()

    # A protocol-2 device's review (no crop key at all) leaves the box alone, and it pulls
    # payloads without the field its schema would refuse. (Another device's: only the
    # review is its to change, README "Who may change a catch".)
    edited = {key: value for key, value in left.items() if key not in ("crop", "pack_version")}
    later = e.entry("fish_observation", "upsert", edited | _reviewed("officer-2"), when=e.at(5))
    assert older.push(2, later).json()["rejected"] == []
    stored.refresh_from_db()
    assert (stored.confirmed_species, stored.crop) == ("Lutjanus synagris", (0, 5, 30, 40))
    for payload in fish_payloads(older.pull(2)).values():
        assert "crop" not in payload
        parse_as_v2("fish_observation", "upsert", payload)
    for_newer = fish_payloads(newer.pull(3))
    assert for_newer[left["observation_uid"]]["crop"] == [0, 5, 30, 40]
    assert for_newer[right["observation_uid"]]["crop"] == [30, 2, 34, 44]

    for fish, species in ((left, "Lutjanus synagris"), (right, "Lutjanus campechanus")):
        pk = FishObservation.objects.get(uid=fish["observation_uid"]).pk
        review.correct_species(pk, species, "hub-reviewer")
    export_corrections(tmp_path / "out", site=site_slug)
    with (tmp_path / "out" / CORRECTIONS_CSV).open(newline="", encoding="utf-8") as handle:
        rows = [
            (r["observation_uid"], r["file"], r["crop_x"], r["crop_y"], r["crop_w"], r["crop_h"])
            for r in csv.DictReader(handle)
        ]
    file = f"photos/{photo['photo_uid']}.jpg"
    assert sorted(rows) == sorted(
        [
            (left["observation_uid"], file, "0", "5", "30", "40"),
            (right["observation_uid"], file, "30", "2", "34", "44"),
        ]
    )


def test_a_protocol_4_catch_keeps_the_packs_verdict_and_older_devices_never_see_it(
    live_hub: HubProcess, site_slug: str, operator: Client
) -> None:
    newer, v3, v2 = (HttpDevice.register(live_hub, site_slug) for _ in range(3))
    unknown = e.observation(pack_version=PACK, status="unknown")
    blank = "image is blank (one flat colour)"
    no_fish = e.observation(predictions=[], status="no_fish", status_reason=blank)
    pushed = newer.push(4, *(e.entry("fish_observation", "upsert", o) for o in (unknown, no_fish)))
    assert pushed.status_code == 200 and pushed.json()["rejected"] == [], pushed.text
    stored = FishObservation.objects.get(uid=unknown["observation_uid"])
    assert (stored.status, stored.status_reason, str(stored).split(" at ")[0]) == (
        "unknown",
        None,
        "unknown species",  # not its top candidate: the pack named no species
    )
    queue = operator.get("/admin/hub/fishreview/", {"site__id__exact": stored.site_id})
    page = queue.content.decode()
    assert "unknown: below the pack&#x27;s open-set threshold" in page
    assert (
        "no fish: failed the pack&#x27;s quality gate, or like none of its species"
        f" ({blank})" in page
    )
    from_v3 = e.observation(pack_version=PACK)  # a protocol-3 device's: no status key at all
    assert v3.push(3, e.entry("fish_observation", "upsert", from_v3)).json()["rejected"] == []
    assert FishObservation.objects.get(uid=from_v3["observation_uid"]).status is None

    # A protocol-3 device's review (no status key) leaves the verdict alone.
    edited = {k: v for k, v in unknown.items() if k != "status"} | _reviewed("officer-3")
    later = e.entry("fish_observation", "upsert", edited, when=e.at(5))
    assert v3.push(3, later).json()["rejected"] == []
    stored.refresh_from_db()
    assert (stored.confirmed_species, stored.status) == ("Lutjanus synagris", "unknown")

    for_newer = fish_payloads(newer.pull(4))
    assert for_newer[unknown["observation_uid"]]["status"] == "unknown"
    assert for_newer[no_fish["observation_uid"]]["status_reason"] == blank
    assert "status" not in for_newer[from_v3["observation_uid"]]  # never told: nothing said
    for version, parse in ((3, parse_as_v3), (2, parse_as_v2)):
        for payload in fish_payloads((v3 if version == 3 else v2).pull(version)).values():
            assert "status" not in payload and "status_reason" not in payload
            parse("fish_observation", "upsert", payload)  # an older device applies it

    # A reviewer's confirmation is the species, whatever the verdict.
    review.correct_species(stored.pk, "Lutjanus synagris", "hub-reviewer")
    stored.refresh_from_db()
    assert (stored.answer, stored.status) == ("Lutjanus synagris", "unknown")


def test_protocols_1_and_8_are_refused_whole_and_the_docs_say_which_are_served(
    live_hub: HubProcess, site_slug: str
) -> None:
    device = HttpDevice.register(live_hub, site_slug)
    for version in (1, 8):
        catch = e.observation()
        pushed = device.push(version, e.entry("fish_observation", "upsert", catch))
        assert (pushed.status_code, pushed.json()["error"]) == (400, "unsupported_protocol")
        assert (
            pushed.json()["reason"]
            == f"this hub speaks protocol 7 (and accepts 2, 3, 4, 5, 6), not {version}"
        )
        assert not FishObservation.objects.filter(uid=catch["observation_uid"]).exists()
    for pull_version in (None, 1, 8):  # no version at all is protocol 1's pull
        pulled = device.pull(pull_version)
        assert (pulled.status_code, pulled.json()["error"]) == (400, "unsupported_protocol")
    paths = httpx.get(f"{live_hub.url}/api/schema/", params={"format": "json"}).json()["paths"]
    push = paths["/api/v1/sites/{site}/push"]["post"]
    assert push["description"].startswith("This hub speaks protocol 7 (and accepts 2, 3, 4, 5, 6);")
    pull = paths["/api/v1/sites/{site}/changes"]["get"]
    (version,) = [p for p in pull["parameters"] if p["name"] == "protocol_version"]
    assert version["description"].endswith("(this hub: 7 (and accepts 2, 3, 4, 5, 6))")


def test_a_protocol_5_face_image_kept_on_the_device_is_not_awaited(
    live_hub: HubProcess, site_slug: str
) -> None:
    """``withheld`` (protocol 5) marks the photo; a protocol-4 device's photo says nothing,
    and is awaited as before."""
    newer, v4 = (HttpDevice.register(live_hub, site_slug) for _ in range(2))
    person = e.person(site_slug)
    assert newer.push(5, e.entry("person", "upsert", person)).json()["rejected"] == []
    kept = e.photo(b"face", person_uid=person["person_uid"]) | {"withheld": True}
    assert newer.push(5, e.entry("photo", "upsert", kept)).json()["rejected"] == []
    older = e.photo(b"another face", person_uid=person["person_uid"])
    assert v4.push(4, e.entry("photo", "upsert", older)).json()["rejected"] == []
    assert Photo.objects.get(uid=kept["photo_uid"]).withheld
    assert not Photo.objects.get(uid=older["photo_uid"]).withheld
    # Only a face image is kept by the site's policy: a catch's photo said to be withheld (a
    # faulty device) would hide an upload that never comes from the awaiting_upload alert.
    catch = e.photo(b"a fish") | {"withheld": True}
    assert newer.push(5, e.entry("photo", "upsert", catch)).json()["rejected"] == []
    assert not Photo.objects.get(uid=catch["photo_uid"]).withheld
