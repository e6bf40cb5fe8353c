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

Unpacking trusts nothing in the archive: every name must be a relative path of plain
components (no ``..``, no absolute or drive paths, no backslashes or control characters),
every member a regular file or folder (no links, devices or pipes), names unique even
ignoring case, and the member count and the sum of the declared sizes under limits (``zipfile``
stops reading a member at its declared size and checks its CRC, so a member cannot unpack
to more than it declares). The
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
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sync.durable import fsync_path
from sync.errors import SyncError

MANIFEST = "manifest.json"
READABLE_PACK_SCHEMA = 3
"""The newest pack schema (the manifest's ``schema``) the classifier of this release reads:
``inference.fish.pack.MULTI_INPUT_PACK_SCHEMA``, which sync cannot import (a test holds them
equal). A device tells the hub this number at each pull (``PACK_SCHEMA_HEADER``), and the
hub announces to it only the packs it reads (``sync.hub.apply.changes``)."""
SPECIES = "species.json"  # {"species": [{"id": ..., "name": ...}, ...]}
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
# Names of unfinished work beside a destination (swept by whoever owns the folder).
STAGING_PREFIX = ".staging-"
RETIRED_PREFIX = ".retired-"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time ZIP can hold
_FILE_MODE = 0o100644
_UNIX = 3  # ZIP "version made by" host system, so the mode bits above are read as Unix
_COMPRESSION = zipfile.ZIP_DEFLATED
_LEVEL = 6
_COPY_CHUNK = 1024 * 1024
_MAX_PATH_CHARS = 1024
_MAX_PART_CHARS = 255
# inference.fish.pack_format checks the same rule when a pack is built (sync and inference
# are independent of each other, so it is written in both; a test keeps the two equal).
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\:]")


class PackArchiveError(SyncError):
    """A pack folder cannot be archived, or an archive is unsafe, damaged or too large.

    Nothing was written where the pack belongs.
    """


@dataclass(frozen=True)
class ArchiveLimits:
    """What an archive may unpack to. The defaults leave room for several models of a
    larger backbone; a test passes small ones."""

    max_members: int = 1000
    max_unpacked_bytes: int = 2 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class ArchiveMember:
    name: str  # relative POSIX path, checked by ``check_member_name``
    size: int
    is_folder: bool


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
        with _open_zip(data) as archive:
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
            info.create_system = _UNIX
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
    _refuse_clashes((name, False) for name, _ in found)
    return found


# --- reading ---------------------------------------------------------------------------


def check_member_name(name: str) -> str:
    """``name`` if it is a safe relative path inside the pack, else ``PackArchiveError``."""
    parts = name.split("/")
    unsafe = (
        not name
        or len(name) > _MAX_PATH_CHARS
        or name.startswith("/")
        or _BAD_CHARS.search(name) is not None
        or any(part in ("", ".", "..") or len(part) > _MAX_PART_CHARS for part in parts)
    )
    if unsafe:
        raise PackArchiveError(f"unsafe name in the pack archive: {name!r}")
    return name


def inspect_archive(
    source: Path | bytes, limits: ArchiveLimits | None = None
) -> list[ArchiveMember]:
    """Check every member's name, type and declared size without unpacking anything."""
    with _open_zip(source) as archive:
        return [member for member, _ in _checked_members(archive, limits or ArchiveLimits())]


def check_manifest_files(source: Path | bytes, limits: ArchiveLimits | None = None) -> None:
    """Every file the archive's ``manifest.json`` lists (``files``: name -> sha256) is in it
    with that sha256. A device refuses a pack that fails this when it loads it; checked when
    the hub publishes, such a pack never reaches a device. (Only the manifest's own rule:
    what the files hold is the classifier's to judge, and sync never imports it.)"""
    with _open_zip(source) as archive:
        members = _checked_members(archive, limits or ArchiveLimits())
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
        with _open_zip(source) as archive:
            for member, info in _checked_members(archive, limits):
                _extract_one(archive, member, info, staging)
        staging.chmod(0o755)  # mkdtemp makes it private; the app reads the pack
        _sync_tree(staging)
        _swap_into_place(staging, destination)
        _sync_tree(destination.parent, recurse=False)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # nothing left after a successful swap
    return destination


def _open_zip(source: Path | bytes) -> zipfile.ZipFile:
    try:
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        if size > MAX_ARCHIVE_BYTES:
            raise PackArchiveError(f"the archive has {size} bytes; the most is {MAX_ARCHIVE_BYTES}")
        return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        raise PackArchiveError(f"not a readable pack archive: {error}") from error


def _checked_members(
    archive: zipfile.ZipFile, limits: ArchiveLimits
) -> list[tuple[ArchiveMember, zipfile.ZipInfo]]:
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise PackArchiveError(
            f"the archive has {len(infos)} members; the most is {limits.max_members}"
        )
    checked = [(_checked_member(info), info) for info in infos]
    members = [member for member, _ in checked]
    declared = sum(member.size for member in members)
    if declared > limits.max_unpacked_bytes:
        raise PackArchiveError(
            f"the archive unpacks to {declared} bytes; the most is {limits.max_unpacked_bytes}"
        )
    if not any(not member.is_folder for member in members):
        raise PackArchiveError("the archive holds no files")
    _refuse_clashes((member.name, member.is_folder) for member in members)
    return checked


def _checked_member(info: zipfile.ZipInfo) -> ArchiveMember:
    is_folder = info.filename.endswith("/")
    name = check_member_name(info.filename.removesuffix("/") if is_folder else info.filename)
    if info.flag_bits & 0x1:
        raise PackArchiveError(f"{name} is encrypted in the archive")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise PackArchiveError(f"{name} uses an unsupported compression ({info.compress_type})")
    kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == _UNIX else 0
    allowed = (0, stat.S_IFDIR) if is_folder else (0, stat.S_IFREG)
    if kind not in allowed:
        raise PackArchiveError(f"{name} is a link or special file in the archive; refused")
    if is_folder and info.file_size:
        raise PackArchiveError(f"{name} is a folder with content in the archive")
    return ArchiveMember(name, info.file_size, is_folder)


def _refuse_clashes(members: Iterable[tuple[str, bool]]) -> None:
    """Refuse two members (name, is a folder) that would land on one path, also on a
    case-insensitive disk or after Unicode normalisation, and a file where another member
    needs a folder."""
    seen: dict[str, str] = {}
    files: set[str] = set()
    folders: set[str] = set()
    for name, is_folder in members:
        key = unicodedata.normalize("NFC", name).casefold()
        if key in seen:
            raise PackArchiveError(f"the archive names one path twice: {seen[key]!r} and {name!r}")
        seen[key] = name
        folders.update(str(parent) for parent in PurePosixPath(key).parents if str(parent) != ".")
        (folders if is_folder else files).add(key)
    clash = files & folders
    if clash:
        raise PackArchiveError(f"the archive uses {sorted(clash)[0]!r} as a file and a folder")


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
