"""A species pack is announced only to the devices that read its schema: a release that
reads schema 1 alone would install a newer pack, refuse it, and (before it kept a pack to
fall back on) have no species classifier left. A device says the newest schema it reads in
a pull's header; one that says nothing reads schema 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.hub import review
from sync.hub.models import SpeciesPack
from sync.protocol import PACK_SCHEMA_HEADER, PROTOCOL_VERSION
from sync.species_packs import archive_pack
from tests.sync.hub.entries import entry, person
from tests.sync.hub.hubfixtures import any_pack_loads, loader_installed
from tests.sync.hub.hubkit import Api
from tests.sync.test_species_packs import make_pack

pytestmark = pytest.mark.usefixtures("species_packs_removed")


@pytest.fixture(autouse=True)
def device_pack_loader() -> Iterator[None]:
    """These packs claim a schema their 224 px model does not have (the hub reads no more
    than the number), which the devices' loader refuses: published here on purpose."""
    yield from loader_installed(any_pack_loads)


def pack_of_schema(folder: Path, schema: int, seed: int = 0) -> bytes:
    """A pack archive whose manifest gives ``schema`` (the hub reads no more of it)."""
    make_pack(folder, seed=seed)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(manifest | {"schema": schema}))
    return archive_pack(folder)


def publish(tmp_path: Path, api: Api, schema: int) -> str:
    version = f"s{schema}.{api.site}"
    review.publish_pack_archive(version, pack_of_schema(tmp_path / version, schema, schema))
    return version


def pull(api: Api, cursor: int = 0, reads: int | None = None) -> Any:
    headers = api.auth() | ({} if reads is None else {PACK_SCHEMA_HEADER: str(reads)})
    params = {"cursor": cursor, "protocol_version": PROTOCOL_VERSION}
    return api.get(api.site_path("changes"), params, headers=headers)


def announced(page: dict[str, Any]) -> list[str]:
    changes = page["changes"]
    return [c["payload"]["version"] for c in changes if c["entity"] == "species_pack"]


def test_a_device_that_does_not_say_is_told_only_of_schema_1_packs(
    api: Api, tmp_path: Path
) -> None:
    first = publish(tmp_path, api, 1)
    publish(tmp_path, api, 2)
    publish(tmp_path, api, 3)
    page = pull(api).json()
    assert announced(page) == [first]
    assert "species_pack" not in page  # a field earlier releases refuse
    assert SpeciesPack.objects.get(version=first).schema == 1


def test_a_device_is_told_of_the_packs_it_reads_and_of_the_newest_of_them(
    api: Api, tmp_path: Path
) -> None:
    one, two, three = (publish(tmp_path, api, schema) for schema in (1, 2, 3))
    page = pull(api, reads=2).json()
    assert announced(page) == [one, two]
    newest = SpeciesPack.objects.get(version=two)
    assert page["species_pack"] == {
        "version": two, "sha256": newest.sha256, "byte_size": newest.byte_size,
    }  # fmt: skip
    assert announced(pull(api, reads=3).json()) == [one, two, three]


def test_a_device_that_later_says_it_reads_more_learns_the_pack_it_was_not_told(
    api: Api, tmp_path: Path
) -> None:
    """Upgraded, it pulls after a cursor past the announcement it was not sent."""
    publish(tmp_path, api, 1)
    two = publish(tmp_path, api, 2)
    api.push(entry("person", "upsert", person(api.site)))  # a change after that announcement
    before = pull(api).json()  # its release said nothing: it read schema 1
    assert announced(before) == [f"s1.{api.site}"] and len(before["changes"]) == 2
    after = pull(api, cursor=before["next_cursor"], reads=3).json()
    assert after["changes"] == []
    assert after["species_pack"]["version"] == two


def test_a_device_that_reads_no_pack_published_is_told_of_none(api: Api, tmp_path: Path) -> None:
    publish(tmp_path, api, 3)
    page = pull(api, reads=2).json()
    assert announced(page) == [] and page["species_pack"] is None


@pytest.mark.parametrize("value", ["0", "x", "-1", "2.0", "40000", "9" * 5000, "²"])
def test_a_pack_schema_header_that_is_not_a_schema_is_refused(api: Api, value: str) -> None:
    params = {"protocol_version": PROTOCOL_VERSION}
    headers = api.auth() | {PACK_SCHEMA_HEADER: value}
    answer = api.get(api.site_path("changes"), params, headers=headers)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_header"


def test_the_latest_pack_is_the_newest_the_caller_reads(api: Api, tmp_path: Path) -> None:
    """``GET /species-packs/latest`` named the newest pack of any schema: a schema-1 device
    that asked was sent a pack it refuses."""
    one, two, three = (publish(tmp_path, api, schema) for schema in (1, 2, 3))

    def latest(reads: int | None) -> Any:
        headers = api.auth() | ({} if reads is None else {PACK_SCHEMA_HEADER: str(reads)})
        return api.get("/api/v1/species-packs/latest", headers=headers)

    assert latest(None).json()["version"] == one  # a device that does not say reads 1
    assert latest(2).json()["version"] == two
    assert latest(3).json()["version"] == three
    assert latest(0).json()["error"] == "invalid_header"


def test_the_latest_pack_a_caller_reads_may_be_none(api: Api, tmp_path: Path) -> None:
    publish(tmp_path, api, 3)
    answer = api.get("/api/v1/species-packs/latest", headers=api.auth())
    assert answer.status_code == 404 and answer.json()["error"] == "no_species_pack"
