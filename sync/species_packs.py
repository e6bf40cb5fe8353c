"""A species pack folder as one archive: written the same way every time, unpacked safely.

The hub stores and serves a pack as opaque bytes with their sha256; a device checks the
bytes against the announcement it pulled, then unpacks them here. Sync never imports the
classifier, so little here knows what a pack holds: a pack is a folder of regular files
(the classifier's ``load_pack`` verifies them against its own manifest when the app loads it),
and only its species list is read (the hub compares it with the last published pack's).

The archive is a ZIP file whose members are the folder's files, by their relative POSIX
paths, sorted, each deflated, stamped 1980-01-01 00:00 with mode 0644 and no extra fields:
the same folder gives the same bytes (and sha256) whatever its files' times, owners or
permissions. Folders are implied by the paths (an empty folder is not kept).

Unpacking trusts nothing in the archive: every member's name, type and declared size is
checked first (``sync.species_pack_members``, whose public names are re-exported here). The
files go into a new hidden folder beside the destination, which is renamed into place only
when all of them are written and flushed: a reader never sees half a pack, and a failure
leaves the destination as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

from sync.durable import fsync_path
from sync.species_pack_members import (
    MAX_ARCHIVE_BYTES,
    UNIX_SYSTEM,
    ArchiveLimits,
    ArchiveMember,
    PackArchiveError,
    check_member_name,
    checked_members,
    inspect_archive,
    open_zip,
    refuse_clashes,
)

__all__ = [
    "MANIFEST",
    "MAX_ARCHIVE_BYTES",
    "READABLE_PACK_SCHEMA",
    "RETIRED_PREFIX",
    "SPECIES",
    "STAGING_PREFIX",
    "ArchiveLimits",
    "ArchiveMember",
    "PackArchiveError",
    "archive_pack",
    "archive_schema",
    "archive_species",
    "check_folder_files",
    "check_manifest_files",
    "check_member_name",
    "check_version",
    "extract_archive",
    "inspect_archive",
    "manifest_version",
    "pack_files",
]

MANIFEST = "manifest.json"
READABLE_PACK_SCHEMA = 3
"""The newest pack schema (the manifest's ``schema``) the classifier of this release reads:
``inference.fish.pack.MULTI_INPUT_PACK_SCHEMA``, which sync cannot import (a test holds them
equal). A device tells the hub this number at each pull (``PACK_SCHEMA_HEADER``), and the
hub announces to it only the packs it reads (``sync.hub.apply.changes``)."""
SPECIES = "species.json"  # {"species": [{"id": ..., "name": ...}, ...]}
# Names of unfinished work beside a destination (swept by whoever owns the folder).
STAGING_PREFIX = ".staging-"
RETIRED_PREFIX = ".retired-"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time ZIP can hold
_FILE_MODE = 0o100644
_COMPRESSION = zipfile.ZIP_DEFLATED
_LEVEL = 6
_COPY_CHUNK = 1024 * 1024
# inference.fish.pack_format checks the same rule when a pack is built (sync and inference
# are independent of each other, so it is written in both; a test keeps the two equal).
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


def check_version(version: str) -> str:
    """A pack version is also the folder it unpacks into on a device, so it is a plain
    name: letters, digits and ``. _ + -``, starting with a letter or digit, ≤ 128 chars."""
    if not _VERSION.fullmatch(version):  # not match: its $ also matches before a final newline
        raise PackArchiveError(
            f"a species pack version is 1-128 letters, digits, '.', '_', '+' or '-', starting"
            f" with a letter or digit (it names a folder on every device), not {version!r}"
        )
    return version


def manifest_version(folder: Path) -> str:
    """The ``version`` a pack folder's ``manifest.json`` gives itself (read as plain JSON)."""
    path = folder / MANIFEST
    try:
        body: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PackArchiveError(f"{folder} has no {MANIFEST}; is it a species pack?") from None
    except (OSError, ValueError) as error:
        raise PackArchiveError(f"cannot read {path}: {error}") from error
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, str):
        raise PackArchiveError(f"{path} names no version; pass one explicitly")
    return version


def archive_schema(data: bytes) -> int:
    """The pack schema the archive's ``manifest.json`` gives (read as plain JSON), or 1 when
    it gives none the hub can read (an archive ``publish_pack_archive`` did not check): 1 is
    what every device reads, and the classifier judges the pack when it loads it."""
    try:
        with open_zip(data) as archive:
            schema = json.loads(archive.read(MANIFEST)).get("schema")
    except (PackArchiveError, KeyError, ValueError, AttributeError, zipfile.BadZipFile, zlib.error):
        return 1
    return schema if isinstance(schema, int) and not isinstance(schema, bool) and schema >= 1 else 1


# --- writing ---------------------------------------------------------------------------


def archive_pack(folder: Path) -> bytes:
    """The archive of every regular file under ``folder`` (deterministic, see above)."""
    members = pack_files(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in members:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.create_system = UNIX_SYSTEM
            info.external_attr = _FILE_MODE << 16
            try:
                data = path.read_bytes()
            except OSError as error:
                raise PackArchiveError(f"cannot read {path}: {error}") from error
            archive.writestr(info, data, compress_type=_COMPRESSION, compresslevel=_LEVEL)
    data = buffer.getvalue()
    if len(data) > MAX_ARCHIVE_BYTES:
        raise PackArchiveError(
            f"{folder} archives to {len(data)} bytes; the most is {MAX_ARCHIVE_BYTES}"
        )
    return data


def pack_files(folder: Path) -> list[tuple[str, Path]]:
    """(archive name, file) for every file under ``folder``, sorted by name. A link or any
    other special file is refused rather than skipped: a pack that relies on one would
    arrive incomplete."""
    if not folder.is_dir():
        raise PackArchiveError(f"{folder} is not a folder")
    found: list[tuple[str, Path]] = []
    for root, folders, files in os.walk(folder):
        for entry in [*folders, *files]:
            path = Path(root) / entry
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            name = path.relative_to(folder).as_posix()
            if not stat.S_ISREG(mode):
                raise PackArchiveError(f"{path} is a link or special file; a pack holds files")
            found.append((check_member_name(name), path))
    if not found:
        raise PackArchiveError(f"{folder} holds no files")
    found.sort()
    refuse_clashes((name, False) for name, _ in found)
    return found


# --- reading ---------------------------------------------------------------------------


def check_manifest_files(source: Path | bytes, limits: ArchiveLimits | None = None) -> None:
    """Every file the archive's ``manifest.json`` lists (``files``: name -> sha256) is in it
    with that sha256. A device refuses a pack that fails this when it loads it; checked when
    the hub publishes, such a pack never reaches a device. (Only the manifest's own rule:
    what the files hold is the classifier's to judge, and sync never imports it.)"""
    with open_zip(source) as archive:
        members = checked_members(archive, limits or ArchiveLimits())
        checked = {member.name: info for member, info in members}
        if MANIFEST not in checked:
            raise PackArchiveError(f"the archive has no {MANIFEST} at its top; is it a pack?")
        try:
            listed = _listed_files(archive.read(checked[MANIFEST]))
        except (zipfile.BadZipFile, zlib.error) as error:
            raise PackArchiveError(f"its {MANIFEST} is damaged: {error}") from None
        for name, expected in sorted(listed.items()):
            info = checked.get(name)
            if info is None or info.is_dir():
                raise PackArchiveError(f"{MANIFEST} lists {name}, which the archive lacks")
            try:
                with archive.open(info) as member:
                    actual = _sha256_of(member)
            except (zipfile.BadZipFile, zlib.error, EOFError) as error:
                raise PackArchiveError(f"{name} is damaged in the archive: {error}") from error
            if actual != expected:
                raise PackArchiveError(
                    f"{name} does not match the sha256 its {MANIFEST} gives: the pack would be "
                    "refused by every device"
                )


def archive_species(source: bytes) -> dict[str, str]:
    """The species a pack archive's ``species.json`` lists, id -> name; empty when it lists
    none or cannot be read (publishing checks what it must before this is asked)."""
    try:
        with zipfile.ZipFile(io.BytesIO(source)) as archive:
            listed = json.loads(archive.read(SPECIES))["species"]
        return {str(entry["id"]): str(entry.get("name", entry["id"])) for entry in listed}
    except (zipfile.BadZipFile, zlib.error, KeyError, TypeError, ValueError, AttributeError):
        return {}


def check_folder_files(folder: Path) -> None:
    """The same rule for an unpacked pack: every file its ``manifest.json`` lists is in
    ``folder`` with that sha256. A pack that passed it when it was unpacked and fails it
    now was damaged on this disk (a failing card, a stray write)."""
    try:
        listed = _listed_files((folder / MANIFEST).read_bytes())
        for name, expected in sorted(listed.items()):
            with (folder / check_member_name(name)).open("rb") as file:
                if _sha256_of(file) != expected:
                    raise PackArchiveError(
                        f"{folder / name} does not match the sha256 its {MANIFEST} gives"
                    )
    except OSError as error:  # a file gone, or unreadable
        raise PackArchiveError(f"cannot read the pack in {folder}: {error}") from error


def _listed_files(manifest: bytes) -> dict[str, str]:
    """The ``files`` a pack's manifest lists: name -> sha256."""
    try:
        files = json.loads(manifest)["files"]
        return {str(name): str(digest) for name, digest in dict(files).items()}
    except (KeyError, TypeError, ValueError) as error:
        raise PackArchiveError(
            f"its {MANIFEST} lists no files with their sha256: {error}"
        ) from None


def _sha256_of(source: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := source.read(_COPY_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def extract_archive(
    source: Path | bytes, destination: Path, limits: ArchiveLimits | None = None
) -> Path:
    """Unpack ``source`` into ``destination`` (replaced whole if it exists), atomically.

    Raises ``PackArchiveError`` for an unsafe or damaged archive and ``OSError`` when the
    disk fails; either way ``destination`` is as it was and no staging folder is left.
    """
    limits = limits or ArchiveLimits()
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{destination.name}-", dir=destination.parent)
    )
    try:
        with open_zip(source) as archive:
            for member, info in checked_members(archive, limits):
                _extract_one(archive, member, info, staging)
        staging.chmod(0o755)  # mkdtemp makes it private; the app reads the pack
        _sync_tree(staging)
        _swap_into_place(staging, destination)
        _sync_tree(destination.parent, recurse=False)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # nothing left after a successful swap
    return destination


def _extract_one(
    archive: zipfile.ZipFile,
    member: ArchiveMember,
    info: zipfile.ZipInfo,
    staging: Path,
) -> None:
    target = staging.joinpath(*member.name.split("/"))
    if member.is_folder:
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        return
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        with archive.open(info) as source, target.open("xb") as sink:
            _copy(source, sink)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        raise PackArchiveError(f"{member.name} is damaged in the archive: {error}") from error
    target.chmod(0o644)


def _copy(source: IO[bytes], sink: IO[bytes]) -> None:
    while chunk := source.read(_COPY_CHUNK):
        sink.write(chunk)
    sink.flush()
    os.fsync(sink.fileno())


def _sync_tree(folder: Path, *, recurse: bool = True) -> None:
    """Make folder entries durable before and after the rename (a power cut on a boat must
    not leave a pack whose names exist but whose files are empty). Best effort: some file
    systems cannot fsync a folder."""
    folders = [Path(root) for root, _, _ in os.walk(folder)] if recurse else [folder]
    for path in folders:
        with contextlib.suppress(OSError):
            fsync_path(path)


def _swap_into_place(staging: Path, destination: Path) -> None:
    if not destination.exists():
        staging.rename(destination)
        return
    if destination.is_symlink() or not destination.is_dir():
        raise PackArchiveError(f"{destination} exists and is not a folder; not replacing it")
    retired = Path(
        tempfile.mkdtemp(prefix=f"{RETIRED_PREFIX}{destination.name}-", dir=destination.parent)
    )
    destination.rename(retired / "pack")
    try:
        staging.rename(destination)
    except OSError:
        (retired / "pack").rename(destination)  # the old pack back where it was
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)
