"""The species pack archive: the same folder gives the same bytes, and a hostile archive is
refused before anything lands where the pack belongs."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import stat
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from inference.fish.pack import PACK_FORMAT, PACK_SCHEMA, input_contract
from sync.species_packs import (
    ArchiveLimits,
    PackArchiveError,
    archive_pack,
    check_version,
    extract_archive,
    inspect_archive,
    manifest_version,
)


def _field(number: int, value: bytes | int) -> bytes:
    """One protobuf field: a varint, or length-delimited bytes."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def tiny_onnx_model(weights: bytes) -> bytes:
    """A whole ONNX ``ModelProto`` (an Identity node; ``weights`` as a uint8 initializer),
    written with the wire format alone: what the hub's publish check reads as a model."""
    node = _field(1, b"x") + _field(2, b"y") + _field(4, b"Identity")
    tensor = _field(1, len(weights)) + _field(2, 2) + _field(8, b"w") + _field(9, weights)
    graph = (
        _field(1, node) + _field(2, b"g") + _field(5, tensor)
        + _field(11, _field(1, b"x")) + _field(12, _field(1, b"y"))
    )  # fmt: skip
    opset = _field(1, b"") + _field(2, 13)
    return _field(1, 8) + _field(7, graph) + _field(8, opset)


THRESHOLDS = {"temperature": 1.0, "open_set": 0.5, "review": 0.7, "known_acceptance": 0.95,
              "review_precision": 0.99}  # fmt: skip


def make_pack(folder: Path, version: str = "2026.11.0", seed: int = 0) -> Path:
    """A small species pack a device's ``load_pack`` accepts: manifest (naming its model and
    its input as the classifier prepares it), species list, thresholds, a model (whole as
    ONNX reads it, so the hub publishes it), a card."""
    folder.mkdir(parents=True)
    model = tiny_onnx_model(random.Random(seed).randbytes(50_000))  # incompressible weights
    (folder / "species_fp32.onnx").write_bytes(model)
    (folder / "species.json").write_text(json.dumps({"species": [{"id": "a", "name": "A"}]}))
    (folder / "thresholds.json").write_text(json.dumps(THRESHOLDS))
    (folder / "card.md").write_text("# card\n")
    (folder / "extra").mkdir()
    (folder / "extra" / "notes.txt").write_text("nested files travel too\n")
    listed = ("species_fp32.onnx", "species.json", "thresholds.json", "card.md")
    files = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in listed}
    manifest = {
        "format": PACK_FORMAT, "schema": PACK_SCHEMA, "name": "test-pack", "version": version,
        "backbone_sha256": "0" * 64, "input": input_contract(), "files": files,
        "models": {"fp32": "species_fp32.onnx"},
    }  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def file_digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_the_same_folder_archives_to_the_same_bytes_whatever_its_times_and_modes(
    tmp_path: Path,
) -> None:
    first = make_pack(tmp_path / "first")
    again = archive_pack(first)
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in sorted(first.rglob("*"), reverse=True):  # created in another order
        target = copy / path.relative_to(first)
        if path.is_dir():
            target.mkdir(exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        target.chmod(0o600)
        os.utime(target, (1_900_000_000, 1_900_000_000))
    assert archive_pack(first) == again == archive_pack(copy)
    (copy / "card.md").write_text("# card, edited\n")
    assert archive_pack(copy) != again  # the bytes follow the content, and only the content


def test_an_archive_unpacks_to_the_folder_byte_for_byte(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "pack")
    unpacked = extract_archive(archive_pack(pack), tmp_path / "device" / "2026.11.0")
    assert file_digests(unpacked) == file_digests(pack)
    assert stat.S_IMODE((unpacked / "card.md").stat().st_mode) == 0o644
    assert sorted(p.name for p in (tmp_path / "device").iterdir()) == ["2026.11.0"]


def test_unpacking_again_replaces_the_folder_whole(tmp_path: Path) -> None:
    destination = tmp_path / "device" / "v"
    extract_archive(archive_pack(make_pack(tmp_path / "one", seed=1)), destination)
    (destination / "stray.txt").write_text("left by someone")
    newer = make_pack(tmp_path / "two", seed=2)
    extract_archive(archive_pack(newer), destination)
    assert file_digests(destination) == file_digests(newer)
    assert sorted(p.name for p in destination.parent.iterdir()) == ["v"]


def test_a_swap_cut_short_puts_the_installed_pack_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old pack is renamed aside, then the new one into its place: if that second
    rename fails, the old one goes back rather than waiting in a folder the next sweep
    removes, and nothing else is left."""
    destination = tmp_path / "device" / "v"
    installed = extract_archive(archive_pack(make_pack(tmp_path / "one", seed=1)), destination)
    before = file_digests(installed)
    rename = Path.rename

    def refuse_the_new_pack(self: Path, target: Path) -> Path:
        if Path(target) == destination and self.name.startswith(".staging"):
            raise OSError(5, "Input/output error")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", refuse_the_new_pack)
    with pytest.raises(OSError, match="Input/output error"):
        extract_archive(archive_pack(make_pack(tmp_path / "two", seed=2)), destination)
    assert file_digests(destination) == before
    assert sorted(p.name for p in destination.parent.iterdir()) == ["v"]


def zip_members(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate we mean to write
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for info, data in members:
                archive.writestr(info, data)
    return buffer.getvalue()


def _typed(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def _encrypted(name: str) -> bytes:
    data = bytearray(zip_members([("manifest.json", b"{}"), (name, b"x")]))
    # Set the "encrypted" flag in the second member's local and central headers.
    for signature in (b"PK\x03\x04", b"PK\x01\x02"):
        at = data.find(signature, data.find(signature) + 1)
        flag_at = at + (6 if signature == b"PK\x03\x04" else 8)
        data[flag_at] |= 0x01
    return bytes(data)


def _lying_about_size() -> bytes:
    """A member whose central directory declares 10 bytes while it holds 100,000."""
    data = bytearray(zip_members([("manifest.json", b"{}"), ("model.onnx", bytes(100_000))]))
    central = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 1)
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")  # uncompressed size
    return bytes(data)


HOSTILE: dict[str, Callable[[], bytes]] = {
    "zip-slip with ..": lambda: zip_members([("manifest.json", b"{}"), ("../evil.txt", b"x")]),
    "zip-slip inside a path": lambda: zip_members([("a/../../evil.txt", b"x")]),
    "absolute path": lambda: zip_members([("/tmp/evil.txt", b"x")]),
    "windows path": lambda: zip_members([("..\\evil.txt", b"x")]),
    "drive letter": lambda: zip_members([("C:/evil.txt", b"x")]),
    "symlink": lambda: zip_members([(_typed("model.onnx", stat.S_IFLNK | 0o777), b"/etc/passwd")]),
    "device": lambda: zip_members([(_typed("tty", stat.S_IFCHR | 0o666), b"")]),
    "fifo": lambda: zip_members([(_typed("pipe", stat.S_IFIFO | 0o644), b"")]),
    "duplicate names": lambda: zip_members([("model.onnx", b"good"), ("model.onnx", b"evil")]),
    "names equal but for case": lambda: zip_members([("Model.onnx", b"a"), ("model.onnx", b"b")]),
    "a file where a folder goes": lambda: zip_members([("extra", b"a"), ("extra/notes.txt", b"b")]),
    "too many members": lambda: zip_members([(f"f{i}", b"x") for i in range(9)]),
    "too large unpacked": lambda: zip_members([("model.onnx", bytes(5000))]),
    "more bytes than declared": _lying_about_size,
    "encrypted member": lambda: _encrypted("model.onnx"),
    "not a zip": lambda: b"PK\x03\x04 this is not really an archive" * 10,
    "truncated": lambda: zip_members([("model.onnx", bytes(range(256)) * 40)])[:-30],
    "empty": lambda: zip_members([]),
}
LIMITS = ArchiveLimits(max_members=8, max_unpacked_bytes=4096)
DETECTED_ONLY_WHILE_UNPACKING = {"more bytes than declared"}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_archive_is_refused_and_the_installed_pack_stays(
    case: str, tmp_path: Path
) -> None:
    device = tmp_path / "device"
    installed = make_pack(device / "v", seed=3)
    before = file_digests(installed)
    with pytest.raises(PackArchiveError):
        extract_archive(HOSTILE[case](), installed, LIMITS)
    if case not in DETECTED_ONLY_WHILE_UNPACKING:
        with pytest.raises(PackArchiveError):
            inspect_archive(HOSTILE[case](), LIMITS)
    assert file_digests(installed) == before
    assert sorted(p.name for p in device.iterdir()) == ["v"]  # no staging folder left
    assert not (tmp_path / "evil.txt").exists()


def test_the_size_limit_is_the_sum_of_all_members(tmp_path: Path) -> None:
    data = zip_members([("a", bytes(3000)), ("b", bytes(3000))])
    assert len(inspect_archive(data, ArchiveLimits(8, 6000))) == 2
    with pytest.raises(PackArchiveError, match="6000 bytes"):
        extract_archive(data, tmp_path / "v", ArchiveLimits(8, 5999))
    assert not (tmp_path / "v").exists()


def test_folder_entries_from_common_zip_tools_are_accepted(tmp_path: Path) -> None:
    data = zip_members([("extra/", b""), ("extra/notes.txt", b"n"), ("manifest.json", b"{}")])
    unpacked = extract_archive(data, tmp_path / "v")
    assert (unpacked / "extra" / "notes.txt").read_bytes() == b"n"


def test_a_folder_with_a_link_or_nothing_in_it_is_not_archived(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "pack")
    (pack / "species_int8.onnx").symlink_to(pack / "species_fp32.onnx")
    with pytest.raises(PackArchiveError, match="link"):
        archive_pack(pack)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackArchiveError, match="no files"):
        archive_pack(tmp_path / "empty")
    with pytest.raises(PackArchiveError, match="not a folder"):
        archive_pack(tmp_path / "missing")


@pytest.mark.parametrize("version", ["", "..", ".hidden", "a/b", "../up", "v 1", "x" * 129])
def test_a_version_that_is_not_a_plain_folder_name_is_refused(version: str) -> None:
    with pytest.raises(PackArchiveError):
        check_version(version)


def test_versions_and_the_manifest_version(tmp_path: Path) -> None:
    assert check_version("2026.11.0+f4k_head-2") == "2026.11.0+f4k_head-2"
    assert manifest_version(make_pack(tmp_path / "pack", version="2026.12.1")) == "2026.12.1"
    (tmp_path / "bare").mkdir()
    with pytest.raises(PackArchiveError, match=r"manifest\.json"):
        manifest_version(tmp_path / "bare")
    (tmp_path / "bare" / "manifest.json").write_text('{"name": "no version"}')
    with pytest.raises(PackArchiveError, match="no version"):
        manifest_version(tmp_path / "bare")
