"""Fetching sources: mirror, dead network, checksum refusal, PyPI artifacts."""

from __future__ import annotations

import contextlib
import errno
import functools
import http.server
import io
import resource
import signal
import tarfile
import threading
import zipfile
from collections.abc import Iterator
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


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        del format, args  # keep the test output clean


@pytest.fixture
def web_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on loopback serving a folder: ``(folder, base URL)``."""
    folder = tmp_path / "web"
    folder.mkdir()
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def file_size_limit(size: int) -> Iterator[None]:
    """Writes past ``size`` bytes fail (EFBIG), as a full disk fails them (ENOSPC)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, not the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


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


def test_url_source_is_downloaded(web_folder: tuple[Path, str], tmp_path: Path) -> None:
    folder, base = web_folder
    (folder / "weights.bin").write_bytes(PAYLOAD)
    source = UrlSource(url=f"{base}/weights.bin", sha256=sha256_bytes(PAYLOAD))
    assert SourceFetcher(tmp_path / "cache").fetch(source).read_bytes() == PAYLOAD


def test_a_failed_local_write_is_not_reported_as_a_network_problem(
    web_folder: tuple[Path, str], tmp_path: Path
) -> None:
    """The download works; the disk does not. "Pass --mirror" would send the user astray."""
    folder, base = web_folder
    payload = PAYLOAD * 64  # 70 kB, past the limit below
    (folder / "weights.bin").write_bytes(payload)
    source = UrlSource(url=f"{base}/weights.bin", sha256=sha256_bytes(payload))
    cache = tmp_path / "cache"
    with pytest.raises(OSError) as raised, file_size_limit(16 * 1024):
        SourceFetcher(cache).fetch(source)
    assert raised.value.errno == errno.EFBIG
    assert raised.value.filename == str(cache / f"{source.sha256[:16]}-weights.bin")
    assert no_partial_files(cache)


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


def test_a_wrong_file_in_the_mirror_is_named_where_the_user_must_replace_it(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "weights.bin").write_bytes(b"another model")
    source = UrlSource(url=DEAD_URL, sha256=sha256_bytes(PAYLOAD))
    with pytest.raises(ChecksumMismatchError) as raised:
        SourceFetcher(tmp_path / "cache", mirror).fetch(source)
    message = str(raised.value)
    assert f"sha256 of {mirror / 'weights.bin'} is {sha256_bytes(b'another model')}" in message
    assert ".part" not in message


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


def write_sdist(folder: Path, setup_py: str, member: bytes) -> Path:
    """A source distribution of ``jaga-test-artifact`` 1.0 whose setup.py is ``setup_py``
    and which holds ``member`` as ``pkg/model.bin``."""
    folder.mkdir(parents=True, exist_ok=True)
    sdist = folder / "jaga_test_artifact-1.0.tar.gz"
    files = {
        "setup.py": setup_py.encode(),
        "PKG-INFO": b"Metadata-Version: 2.1\nName: jaga-test-artifact\nVersion: 1.0\n",
        "pkg/__init__.py": b"",
        "pkg/model.bin": member,
    }
    with tarfile.open(sdist, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"jaga_test_artifact-1.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return sdist


HARMLESS_SETUP = (
    "from setuptools import setup\n"
    "setup(name='jaga-test-artifact', version='1.0', packages=['pkg'])\n"
)


@pytest.fixture
def package_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder pip takes as its only package index (pip honours the user's configuration,
    here its environment variables): the real pip, offline."""
    links = tmp_path / "index"
    links.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    return links


def test_pypi_member_is_fetched_with_pip(package_index: Path, tmp_path: Path) -> None:
    sdist = write_sdist(package_index, HARMLESS_SETUP, PAYLOAD)
    source = pypi_source(sdist, "jaga_test_artifact-1.0/pkg/model.bin", sha256_bytes(PAYLOAD))
    assert SourceFetcher(tmp_path / "cache").fetch(source).read_bytes() == PAYLOAD


def test_an_sdist_that_is_not_the_pinned_one_runs_no_code(
    package_index: Path, tmp_path: Path
) -> None:
    """pip prepares an sdist's metadata by running its build code: a file the index serves
    in place of the pinned one must be refused before that, not after."""
    pinned = write_sdist(tmp_path / "pinned", HARMLESS_SETUP, PAYLOAD)
    source = pypi_source(pinned, "jaga_test_artifact-1.0/pkg/model.bin", sha256_bytes(PAYLOAD))
    ran = tmp_path / "build-code-ran"
    write_sdist(package_index, f"open({str(ran)!r}, 'w').close()\n" + HARMLESS_SETUP, PAYLOAD)
    with pytest.raises(ChecksumMismatchError, match=source.artifact_sha256):
        SourceFetcher(tmp_path / "cache").fetch(source)
    assert not ran.exists()
    assert no_partial_files(tmp_path / "cache")


def test_a_mirror_folder_that_does_not_exist_is_refused(
    package_index: Path, tmp_path: Path
) -> None:
    """Not taken as "no mirror": pip would then go to the network, and an air-gapped device
    wait on its timeouts."""
    sdist = write_sdist(package_index, HARMLESS_SETUP, PAYLOAD)
    source = pypi_source(sdist, "jaga_test_artifact-1.0/pkg/model.bin", sha256_bytes(PAYLOAD))
    missing = tmp_path / "no-such-mirror"
    with pytest.raises(SourceUnavailableError, match=f"mirror folder {missing} does not exist"):
        SourceFetcher(tmp_path / "cache", missing).fetch(source)
    assert not (tmp_path / "cache").exists()
