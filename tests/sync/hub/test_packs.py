"""Publishing species packs: ``jaga hub publish-pack`` and the admin upload store only a safe
pack archive, announce it to every site, and serve exactly the bytes they stored."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone

from sync.hub import review
from sync.hub.admin.people import SpeciesPackForm
from sync.hub.api import pack_file
from sync.hub.apply.changes import lock_sites
from sync.hub.metrics_db import DatabaseCollector
from sync.hub.models import Change, Site, SpeciesPack
from sync.protocol import PACK_SCHEMA_HEADER, PROTOCOL_VERSION
from sync.species_packs import PackArchiveError, archive_pack
from tests.sync.hub.hubfixtures import default_species_installed, loader_installed
from tests.sync.hub.hubkit import Api, HubProcess, jaga_hub
from tests.sync.test_pack_models import real_pack
from tests.sync.test_species_packs import make_pack, zip_members

pytestmark = pytest.mark.usefixtures("species_packs_removed")


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_publish_pack_stores_the_archive_announces_it_and_serves_it(
    api: Api, hub_database: str, tmp_path: Path
) -> None:
    version = f"2026.{api.site}"
    pack = make_pack(tmp_path / "pack", version=version)  # the version comes from its manifest
    done = jaga_hub(
        "publish-pack", str(pack), "--notes", "retrained", "--data", str(tmp_path / "hub"),
        "--allow-species-change",  # it lists one species, not the default pack's
        database_url=hub_database,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = archive_pack(pack)  # another process archived it: the same bytes
    stored = SpeciesPack.objects.get(version=version)
    assert bytes(stored.data) == expected and stored.notes == "retrained"
    assert stored.sha256 == hashlib.sha256(expected).hexdigest() in done.stdout
    announced = api.pull_all()[-1]
    assert (announced["entity"], announced["operation"]) == ("species_pack", "publish")
    assert announced["payload"] == {
        "version": version,
        "sha256": stored.sha256,
        "byte_size": len(expected),
    }
    download = api.get(f"/api/v1/species-packs/{version}/file")
    assert download.status_code == 200 and body(download) == expected
    assert download["Content-Length"] == str(len(expected))


def test_publish_pack_refuses_what_devices_could_not_install(
    hub_database: str, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.onnx").write_bytes(b"weights")
    no_manifest = jaga_hub("publish-pack", str(bare), database_url=hub_database)
    assert no_manifest.returncode == 1 and "manifest.json" in no_manifest.stderr
    pack = make_pack(tmp_path / "pack")
    unsafe = jaga_hub("publish-pack", str(pack), "--version", "../x", database_url=hub_database)
    assert unsafe.returncode == 1 and "names a folder on every device" in unsafe.stderr
    assert not SpeciesPack.objects.filter(version="../x").exists()


def test_publish_pack_refuses_a_pack_whose_model_is_cut_short(
    hub_database: str, tmp_path: Path
) -> None:
    """Its manifest gives the cut model's sha256, so only a look inside the model can tell:
    published, it would reach every device, which would all refuse it."""
    pack = real_pack(tmp_path, lambda model: model[: len(model) // 2])
    version = "2026.99.cut-model"
    cut = jaga_hub("publish-pack", str(pack), "--version", version, database_url=hub_database)
    assert cut.returncode == 1
    assert "species_fp32.onnx is not a whole ONNX model" in cut.stderr
    assert not SpeciesPack.objects.filter(version=version).exists()


@pytest.mark.parametrize("models", ["no models entry", "an empty models entry"])
def test_publish_pack_refuses_a_manifest_that_names_no_models(
    models: str, hub_database: str, tmp_path: Path
) -> None:
    """Every device would refuse such a pack when it loads it ("lists no verified model"),
    so it is refused where a person can still fix it."""
    pack = make_pack(tmp_path / "pack")
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest.pop("models")
    if models == "an empty models entry":
        manifest["models"] = {}
    (pack / "manifest.json").write_text(json.dumps(manifest))
    version = f"2026.99.no-models-{len(models)}"
    refused = jaga_hub("publish-pack", str(pack), "--version", version, database_url=hub_database)
    assert refused.returncode == 1
    assert "manifest.json names no models" in refused.stderr
    assert not SpeciesPack.objects.filter(version=version).exists()
    out = tmp_path / "pack.zip"  # nor written for an admin upload, which would refuse it
    archived = jaga_hub("publish-pack", str(pack), "--archive-only", str(out), database_url="")
    assert archived.returncode == 1 and "names no models" in archived.stderr
    assert not out.exists()


def _relisted(pack: Path, name: str, body: Any) -> None:
    """``name`` in ``pack`` written as ``body`` (JSON), its sha256 in the manifest redone."""
    (pack / name).write_text(json.dumps(body))
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256((pack / name).read_bytes()).hexdigest()
    (pack / "manifest.json").write_text(json.dumps(manifest))


def _manifest(pack: Path, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    manifest = json.loads((pack / "manifest.json").read_text())
    (pack / "manifest.json").write_text(json.dumps(change(manifest)))


# Packs whose files all match their manifest, which every device of this release refuses
# when it loads them (``inference.fish.pack.load_pack``), with the words it says it in.
DEVICE_REFUSES: dict[str, tuple[Callable[[Path], None], str]] = {
    "a manifest key missing": (
        lambda pack: _manifest(pack, lambda m: {k: v for k, v in m.items() if k != "name"}),
        "manifest.json is incomplete: 'name'",
    ),
    "another format": (
        lambda pack: _manifest(pack, lambda m: m | {"format": "jaga-face-pack"}),
        "is not a jaga-fish-pack",
    ),
    "a schema this release cannot read": (
        lambda pack: _manifest(pack, lambda m: m | {"schema": 9}),
        "is not a jaga-fish-pack (schema (1, 2, 3))",
    ),
    "an empty species list": (
        lambda pack: _relisted(pack, "species.json", {"species": []}),
        "must list each species once, and at least one",
    ),
    "a species name no record may hold": (
        lambda pack: _relisted(
            pack, "species.json", {"species": [{"id": "a", "name": "Gadus \u202emorhua"}]}
        ),
        "species 'a': its display name",
    ),
    "malformed thresholds": (
        lambda pack: _relisted(pack, "thresholds.json", {"temperature": 1.0, "review": 0.7}),
        "holds no valid thresholds",
    ),
}


@pytest.mark.parametrize("case", sorted(DEVICE_REFUSES))
def test_publish_pack_refuses_a_pack_every_device_would_refuse(
    case: str, api: Api, hub_database: str, tmp_path: Path
) -> None:
    """The device's own pack loader judges it (``jaga`` hands it to the hub command), so the
    hub refuses what a device of this release refuses, with the device's words; nothing is
    stored or announced, and the archive for an admin upload is not written either."""
    spoil, said = DEVICE_REFUSES[case]
    pack = make_pack(tmp_path / "pack")
    spoil(pack)
    version = f"2026.99.refused.{api.site}"
    packs, changes = SpeciesPack.objects.count(), Change.objects.count()
    refused = jaga_hub("publish-pack", str(pack), "--version", version, database_url=hub_database)
    assert refused.returncode == 1
    assert "every device of this release would refuse it" in refused.stderr
    assert said in refused.stderr and str(pack) in refused.stderr
    assert (SpeciesPack.objects.count(), Change.objects.count()) == (packs, changes)
    out = tmp_path / "pack.zip"
    archived = jaga_hub("publish-pack", str(pack), "--archive-only", str(out), database_url="")
    assert archived.returncode == 1 and said in archived.stderr
    assert not out.exists()


def test_the_admin_upload_refuses_a_pack_every_device_would_refuse(
    operator: Client, api: Api, tmp_path: Path
) -> None:
    """The upload checked the archive's files, never the device's loader: a pack listing no
    species was stored and announced, and every device downloaded it only to refuse it."""
    before = len(api.pull_all())
    for case, (spoil, said) in sorted(DEVICE_REFUSES.items()):
        pack = make_pack(tmp_path / case)
        spoil(pack)
        version = f"refused.{len(case)}.{api.site}"
        with pytest.raises(PackArchiveError, match="every device of this release would refuse"):
            review.publish_pack_archive(version, archive_pack(pack))
        upload = SimpleUploadedFile("pack.zip", archive_pack(pack), "application/zip")
        answer = operator.post(
            "/admin/hub/speciespack/add/", {"version": version, "notes": "", "file": upload}
        )
        assert answer.status_code == 200, case  # the form again, with the device's words
        assert said.replace("'", "&#x27;") in answer.content.decode(), case
        assert str(tmp_path) not in answer.content.decode()  # not the hub's scratch folder
        assert not SpeciesPack.objects.filter(version=version).exists()
    assert len(api.pull_all()) == before


def test_the_admin_of_jaga_hub_run_checks_uploads_with_the_devices_loader(
    live_hub: HubProcess, tmp_path: Path
) -> None:
    """``jaga`` installs the loader before ``jaga hub run`` forks its workers: their admin
    publishes a good pack and refuses, in the device's words, one every device refuses."""
    name = f"op-{uuid.uuid4().hex[:8]}"
    User.objects.create_superuser(name, password="Hull-Survey-61k!")
    refused = make_pack(tmp_path / "refused")
    _relisted(refused, "species.json", {"species": []})
    with httpx.Client(base_url=live_hub.url, timeout=60) as browser:
        form = browser.get("/admin/login/")
        fields = {"username": name, "password": "Hull-Survey-61k!", "next": "/admin/"}
        browser.post("/admin/login/", data=fields | {"csrfmiddlewaretoken": _csrf(form.text)})
        for folder, answer in ((refused, "at least one"), (make_pack(tmp_path / "good"), "")):
            add = browser.get("/admin/hub/speciespack/add/")
            upload = browser.post(
                "/admin/hub/speciespack/add/",
                data={
                    "csrfmiddlewaretoken": _csrf(add.text),
                    "version": f"{folder.name}.{name}",
                    "allow_species_change": "on",
                },  # one species, not the default pack's
                files={"file": ("pack.zip", archive_pack(folder), "application/zip")},
            )
            assert upload.status_code == (200 if answer else 302), upload.text[-2000:]
            assert answer in upload.text  # the device's words on the form
    published = SpeciesPack.objects.filter(version__endswith=name).values_list("version", flat=True)
    assert list(published) == [f"good.{name}"]


def _csrf(page: str) -> str:
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, page[:2000]
    return token.group(1)


def test_a_hub_without_the_devices_loader_publishes_no_pack_and_says_how(
    operator: Client, api: Api, tmp_path: Path
) -> None:
    """A bare gunicorn on sync.hub.wsgi never runs main.py, which installs the loader: it
    must not publish unchecked."""
    data = archive_pack(make_pack(tmp_path / "pack"))
    version = f"unchecked.{api.site}"
    for _ in loader_installed(None):
        with pytest.raises(PackArchiveError, match="jaga hub publish-pack"):
            review.publish_pack_archive(version, data)
        upload = SimpleUploadedFile("pack.zip", data, "application/zip")
        answer = operator.post(
            "/admin/hub/speciespack/add/", {"version": version, "notes": "", "file": upload}
        )
        assert answer.status_code == 200
        assert "jaga hub run" in answer.content.decode()
    assert not SpeciesPack.objects.filter(version=version).exists()


def test_archive_only_writes_the_archive_for_an_admin_upload(
    hub_database: str, tmp_path: Path
) -> None:
    pack = make_pack(tmp_path / "pack", version="2026.99.archive-only")
    out = tmp_path / "pack.zip"
    done = jaga_hub("publish-pack", str(pack), "--archive-only", str(out), database_url="")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == archive_pack(pack)
    assert not SpeciesPack.objects.filter(version="2026.99.archive-only").exists()


def test_a_version_is_published_once(api: Api, tmp_path: Path) -> None:
    version = f"once.{api.site}"
    data = archive_pack(make_pack(tmp_path / "pack"))
    review.publish_pack_archive(version, data)
    with pytest.raises(PackArchiveError, match="published already"):
        review.publish_pack_archive(version, data)
    assert SpeciesPack.objects.filter(version=version).count() == 1
    announcements = [c for c in api.pull_all() if c["entity"] == "species_pack"]
    assert [c["payload"]["version"] for c in announcements][-1:] == [version]
    assert sum(c["payload"]["version"] == version for c in announcements) == 1


WEIGHTS_SHA256 = hashlib.sha256(b"weights").hexdigest()
LISTING = f'{{"files": {{"model.onnx": "{WEIGHTS_SHA256}"}}}}'.encode()
HOSTILE = {
    "zip-slip": zip_members([("manifest.json", LISTING), ("../evil", b"x")]),
    "no manifest": zip_members([("model.onnx", b"weights")]),
    "not a zip": b"species head bytes",
    # Safe archives of packs every device would refuse when it loads them:
    "a file altered": zip_members([("manifest.json", LISTING), ("model.onnx", b"weighs")]),
    "a listed file missing": zip_members([("manifest.json", LISTING), ("card.md", b"#")]),
    "no file list": zip_members([("manifest.json", b"{}"), ("model.onnx", b"weights")]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_an_unsafe_upload_is_refused_before_devices_hear_of_it(
    case: str, operator: Client, api: Api
) -> None:
    version = f"bad.{api.site}"
    before = len(api.pull_all())
    with pytest.raises(PackArchiveError):
        review.publish_pack_archive(version, HOSTILE[case])
    upload = SimpleUploadedFile("pack.zip", HOSTILE[case], "application/zip")
    response = operator.post(
        "/admin/hub/speciespack/add/", {"version": version, "notes": "", "file": upload}
    )
    assert response.status_code == 200  # the form again, with its error
    assert b"errorlist" in response.content
    assert not SpeciesPack.objects.filter(version=version).exists()
    assert len(api.pull_all()) == before


def test_an_admin_upload_of_a_pack_archive_publishes_it(
    operator: Client, api: Api, tmp_path: Path
) -> None:
    version = f"admin.{api.site}"
    data = archive_pack(make_pack(tmp_path / "pack"))
    upload = SimpleUploadedFile("pack.zip", data, "application/zip")
    response = operator.post(
        "/admin/hub/speciespack/add/", {"version": version, "notes": "May", "file": upload}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert bytes(SpeciesPack.objects.get(version=version).data) == data
    assert api.pull_all()[-1]["payload"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_site_created_after_a_pack_is_told_of_it(tmp_path: Path, site_slug: str) -> None:
    version = f"late.{site_slug}"
    review.publish_pack_archive(version, archive_pack(make_pack(tmp_path / "pack")))
    assert not Site.objects.filter(slug=site_slug).exists()
    late = Api.register_new(site_slug)  # its site did not exist when the pack was announced
    (announced,) = [c for c in late.pull_all() if c["entity"] == "species_pack"]
    assert announced["payload"]["version"] == version
    Api.register_new(site_slug)  # a second device of that site: no second announcement
    assert len([c for c in late.pull_all() if c["entity"] == "species_pack"]) == 1


def test_a_site_added_in_the_admin_is_told_of_the_current_pack(
    operator: Client, tmp_path: Path, site_slug: str
) -> None:
    """A site an operator creates in the admin before enrolling its devices gets the same
    announcement as one ``create-device`` creates: its devices fetch the current pack."""
    version = f"admin-site.{site_slug}"
    review.publish_pack_archive(version, archive_pack(make_pack(tmp_path / "pack")))
    added = operator.post("/admin/hub/site/add/", {"slug": site_slug, "name": "Harbour"})
    assert added.status_code == 302, added.content.decode()[:2000]
    device = Api.register_new(site_slug)
    (announced,) = [c for c in device.pull_all() if c["entity"] == "species_pack"]
    assert announced["payload"]["version"] == version


def test_an_upload_over_the_size_limit_is_refused_by_its_size(
    operator: Client, api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync.hub.admin import people

    data = archive_pack(make_pack(tmp_path / "pack"))
    monkeypatch.setattr(people, "MAX_ARCHIVE_BYTES", len(data) - 1)
    upload = SimpleUploadedFile("pack.zip", data, "application/zip")
    response = operator.post(
        "/admin/hub/speciespack/add/", {"version": f"big.{api.site}", "notes": "", "file": upload}
    )
    assert response.status_code == 200 and b"the most is" in response.content
    assert not SpeciesPack.objects.filter(version=f"big.{api.site}").exists()


def test_the_pack_is_streamed_in_slices_and_resumes_from_a_byte_range(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pack_file, "SLICE_BYTES", 7)  # each slice is its own read
    data = bytes(range(256)) * 3
    pack = review.publish_species_pack(f"r-{api.site}", data)
    url = f"/api/v1/species-packs/{pack.version}/file"

    whole = api.get(url)
    chunks = list(whole.streaming_content)
    assert whole.status_code == 200 and b"".join(chunks) == data
    assert len(chunks) == -(-len(data) // 7) and whole["Accept-Ranges"] == "bytes"

    etag = f'"{pack.sha256}"'
    rest = api.get(url, headers=api.auth() | {"Range": "bytes=500-", "If-Range": etag})
    assert rest.status_code == 206 and body(rest) == data[500:]
    assert rest["Content-Range"] == f"bytes 500-{len(data) - 1}/{len(data)}"
    assert rest["Content-Length"] == str(len(data) - 500)
    middle = api.get(url, headers=api.auth() | {"Range": "bytes=10-19"})
    assert middle.status_code == 206 and body(middle) == data[10:20]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Range": "bytes=100-", "If-Range": '"another pack"'}, 200),  # bytes of another pack
        ({"Range": "bytes=9-3"}, 200),  # not a range: ignored
        ({"Range": "bytes=0-1,5-9"}, 200),  # several ranges: not served as such
        ({"Range": "lines=1-"}, 200),
        ({"Range": "bytes=768-"}, 416),  # starts at the end
    ],
)
def test_a_range_that_cannot_be_served_as_asked(
    headers: dict[str, str], status: int, api: Api
) -> None:
    data = bytes(range(256)) * 3
    pack = review.publish_species_pack(f"x-{api.site}", data)
    answer = api.get(f"/api/v1/species-packs/{pack.version}/file", headers=api.auth() | headers)
    assert answer.status_code == status
    if status == 200:
        assert body(answer) == data
    else:
        assert answer["Content-Range"] == f"bytes */{len(data)}"


def with_species(pack: Path, *ids: str) -> Path:
    """``pack`` listing the species ``ids`` (named by their upper case), its manifest redone."""
    return with_named_species(pack, {sid: sid.upper() for sid in ids})


def with_named_species(pack: Path, species: dict[str, str]) -> Path:
    """``pack`` listing ``species`` (id -> display name), its manifest redone."""
    listed = [{"id": sid, "name": name} for sid, name in species.items()]
    (pack / "species.json").write_text(json.dumps({"species": listed, "held_out": []}))
    digest = hashlib.sha256((pack / "species.json").read_bytes()).hexdigest()
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["files"]["species.json"] = digest
    (pack / "manifest.json").write_text(json.dumps(manifest))
    return pack


def test_publish_pack_refuses_a_pack_that_drops_species_unless_told(
    api: Api, hub_database: str, tmp_path: Path
) -> None:
    """A pack retrained on a few species' corrections would replace, on every boat, the pack
    that knew them all: devices would stop naming the rest without a word."""
    before = with_species(make_pack(tmp_path / "before"), "fish_01", "fish_02", "fish_03")
    review.publish_pack_archive(f"1.{api.site}", archive_pack(before), allow_species_change=True)
    pack = with_species(make_pack(tmp_path / "after", seed=1), "fish_01", "fish_04")
    version = f"2.{api.site}"
    refused = jaga_hub("publish-pack", str(pack), "--version", version, database_url=hub_database)
    assert refused.returncode == 1
    assert "fish_02 (FISH_02), fish_03 (FISH_03)" in refused.stderr
    assert f"1.{api.site}" in refused.stderr and "--allow-species-change" in refused.stderr
    assert not SpeciesPack.objects.filter(version=version).exists()
    more = with_species(make_pack(tmp_path / "more", seed=2), "fish_01", "fish_02", "fish_03", "x")
    review.publish_pack_archive(f"3.{api.site}", archive_pack(more))  # adding one is fine
    allowed = jaga_hub(
        "publish-pack", str(pack), "--version", version, "--allow-species-change",
        database_url=hub_database,
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    assert SpeciesPack.objects.filter(version=version).exists()


def test_the_first_publish_is_checked_against_the_default_pack_the_devices_run(
    api: Api, hub_database: str, tmp_path: Path
) -> None:
    """Before the first publication every device runs the default pack: a first pack of 5
    of its 23 species replaced it on every device, which then named a Canthigaster valentini
    as one of the 5, 'review not needed', while a second such pack was refused."""
    from inference.fish.installed import default_species

    assert not SpeciesPack.objects.exists()  # this publication is the hub's first
    named, default = default_species()
    few = with_species(make_pack(tmp_path / "few"), *sorted(default)[:5])
    version = f"1.{api.site}"
    refused = jaga_hub("publish-pack", str(few), "--version", version, database_url=hub_database)
    assert refused.returncode == 1
    assert f"lacks {len(default) - 5} species of {named}, the default pack" in refused.stderr
    assert "fish_12 (Canthigaster valentini)" in refused.stderr
    assert "--allow-species-change" in refused.stderr
    assert not SpeciesPack.objects.filter(version=version).exists()
    allowed = jaga_hub(
        "publish-pack", str(few), "--version", version, "--allow-species-change",
        database_url=hub_database,
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    assert SpeciesPack.objects.filter(version=version).exists()


def test_a_first_pack_that_keeps_the_default_species_needs_no_word(
    api: Api, tmp_path: Path
) -> None:
    from inference.fish.installed import default_species

    with default_species_installed(default_species):
        _, default = default_species()
        more = with_named_species(make_pack(tmp_path / "more"), default | {"fish_99": "New"})
        review.check_species_kept(archive_pack(more))
        fewer = {sid: default[sid] for sid in sorted(default)[1:]}
        with pytest.raises(PackArchiveError, match=re.escape("fish_01 (Dascyllus reticulatus)")):
            review.check_species_kept(archive_pack(with_named_species(more, fewer)))


def test_an_admin_upload_that_drops_species_needs_its_box_ticked(
    operator: Client, api: Api, tmp_path: Path
) -> None:
    before = with_species(make_pack(tmp_path / "before"), "a", "b")
    review.publish_pack_archive(f"1.{api.site}", archive_pack(before), allow_species_change=True)
    data = archive_pack(with_species(make_pack(tmp_path / "after", seed=1), "a"))
    version = f"2.{api.site}"

    def upload(**box: str) -> Any:
        archive = SimpleUploadedFile("pack.zip", data, "application/zip")
        fields = {"version": version, "notes": "", "file": archive, **box}
        return operator.post("/admin/hub/speciespack/add/", fields)

    refused = upload()
    assert refused.status_code == 200 and b"b (B)" in refused.content
    assert not SpeciesPack.objects.filter(version=version).exists()
    assert upload(allow_species_change="on").status_code == 302
    assert SpeciesPack.objects.filter(version=version).exists()


def test_an_admin_upload_overtaken_by_another_publication_gets_the_form_again(
    operator: Client, api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another publication adds species c after the form checked the upload against the last
    pack: publishing refuses it under the packs' lock, and the admin answered with a server
    error (500) instead of saying why."""
    before = with_species(make_pack(tmp_path / "before"), "a", "b")
    review.publish_pack_archive(f"1.{api.site}", archive_pack(before), allow_species_change=True)
    overtaking = with_species(make_pack(tmp_path / "c", seed=1), "a", "b", "c")
    form_clean = SpeciesPackForm.clean

    def publish_overtaking() -> None:  # another request: its own connection, committed
        try:
            review.publish_pack_archive(f"2.{api.site}", archive_pack(overtaking))
        finally:
            connection.close()

    def clean_then_overtaken(form: SpeciesPackForm) -> dict[str, Any]:
        cleaned = form_clean(form)
        if not SpeciesPack.objects.filter(version=f"2.{api.site}").exists():
            other = threading.Thread(target=publish_overtaking)
            other.start()
            other.join(60)
        return cleaned

    monkeypatch.setattr(SpeciesPackForm, "clean", clean_then_overtaken)
    version = f"3.{api.site}"
    data = archive_pack(with_species(make_pack(tmp_path / "late", seed=2), "a", "b"))
    archive = SimpleUploadedFile("pack.zip", data, "application/zip")
    answer = operator.post(
        "/admin/hub/speciespack/add/", {"version": version, "notes": "May's", "file": archive}
    )
    assert answer.status_code == 200  # the form again, checked against the pack published
    page = answer.content.decode()
    assert f"lacks 1 species of 2.{api.site}" in page and "errorlist" in page
    assert f'value="{version}"' in page and "May&#x27;s" in page  # what was typed stays
    assert not SpeciesPack.objects.filter(version=version).exists()


def test_the_newest_pack_is_the_last_published_whatever_the_hubs_clock_said(
    operator: Client, api: Api, tmp_path: Path, site_slug: str
) -> None:
    """The hub's clock ran a day ahead when 1 was published, and was set right before 2 was:
    2 is the newest pack wherever the hub names one (the pull's answer, the latest-pack
    endpoint, a new site's announcement, the publish check, /metrics, the admin list)."""
    one = with_species(make_pack(tmp_path / "one"), "a", "b")
    first = review.publish_pack_archive(
        f"1.{api.site}", archive_pack(one), allow_species_change=True
    )
    SpeciesPack.objects.filter(pk=first.pk).update(published_at=timezone.now() + timedelta(days=1))
    second = f"2.{api.site}"
    review.publish_pack_archive(
        second, archive_pack(with_species(make_pack(tmp_path / "two", seed=1), "a", "b", "c"))
    )
    headers = api.auth() | {PACK_SCHEMA_HEADER: "3"}
    params = {"cursor": 0, "protocol_version": PROTOCOL_VERSION}
    answer = api.get(api.site_path("changes"), params, headers=headers).json()
    assert answer["species_pack"]["version"] == second
    assert api.get("/api/v1/species-packs/latest").json()["version"] == second
    late = Api.register_new(f"late-{site_slug}")
    told = [c["payload"]["version"] for c in late.pull_all() if c["entity"] == "species_pack"]
    assert told == [second]
    lacks_c = archive_pack(with_species(make_pack(tmp_path / "three", seed=2), "a", "b"))
    with pytest.raises(PackArchiveError, match=f"lacks 1 species of {second}"):
        review.check_species_kept(lacks_c)
    (info,) = [f for f in DatabaseCollector().collect() if f.name == "jaga_hub_species_pack_info"]
    assert [sample.labels["version"] for sample in info.samples] == [second]
    listed = operator.get("/admin/hub/speciespack/").content.decode()
    assert listed.index(second) < listed.index(f"1.{api.site}")


def test_a_site_created_while_a_pack_is_published_is_told_of_that_pack(
    tmp_path: Path, site_slug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishing and a new site's announcement of the newest pack take one lock first: a
    site created while a pack is being published (paused here after it read the sites to
    announce to, before its commit) waits for it, then is told of that pack, not the one
    before (which its devices would keep until another pack is published)."""
    import threading
    import time

    from django.db import connection

    from sync.hub.auth import create_device

    first, second = f"p1.{site_slug}", f"p2.{site_slug}"
    review.publish_pack_archive(first, archive_pack(make_pack(tmp_path / "one")))
    locked, go, errors = threading.Event(), threading.Event(), list[BaseException]()
    real, calls = lock_sites, list[tuple[int, ...]]()

    def pausing(*site_ids: int) -> None:
        real(*site_ids)
        if threading.current_thread().name == "publisher":
            calls.append(site_ids)
            if len(calls) == 2:  # in announce_species_pack: the sites read, no commit yet
                locked.set()
                go.wait(30)

    def in_thread(job: Any) -> threading.Thread:
        def run() -> None:
            try:
                job()
            except BaseException as error:  # the test tells it
                errors.append(error)
            finally:
                connection.close()

        thread = threading.Thread(target=run, name=job.__name__)
        thread.start()
        return thread

    def publisher() -> None:
        review.publish_pack_archive(second, archive_pack(make_pack(tmp_path / "two", seed=1)))

    def creator() -> None:
        create_device(site_slug, "boat-new")

    monkeypatch.setattr(review, "lock_sites", pausing)
    publishing = in_thread(publisher)
    assert locked.wait(30)
    creating = in_thread(creator)
    deadline = time.monotonic() + 30  # a bound on a hang, not a timed assertion
    while creating.is_alive() and not _waiting_for_a_lock() and time.monotonic() < deadline:
        time.sleep(0.01)
    go.set()
    publishing.join(30)
    creating.join(30)
    assert not errors and not publishing.is_alive() and not creating.is_alive()
    told = Change.objects.filter(site__slug=site_slug, entity="species_pack")
    assert [c.payload["version"] for c in told] == [second]


def _waiting_for_a_lock() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return bool(cursor.fetchone()[0])
