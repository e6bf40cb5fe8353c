"""Reading a species pack archive safely: every member's name, type and declared size is
checked before anything is read from it.

Nothing in the archive is trusted: every name must be a relative path of plain components
(no ``..``, no absolute or drive paths, no backslashes or control characters), every member a
regular file or folder (no links, devices or pipes), names unique even ignoring case, and the
member count and the sum of the declared sizes under limits (``zipfile`` stops reading a
member at its declared size and checks its CRC, so a member cannot unpack to more than it
declares). ``sync.species_packs`` writes, checks and unpacks packs on top of this, and
re-exports its public names.
"""

from __future__ import annotations

import io
import re
import stat
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sync.errors import SyncError

MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
UNIX_SYSTEM = 3  # ZIP "version made by" host system, so a member's mode bits are read as Unix
_MAX_PATH_CHARS = 1024
_MAX_PART_CHARS = 255
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
    with open_zip(source) as archive:
        return [member for member, _ in checked_members(archive, limits or ArchiveLimits())]


def open_zip(source: Path | bytes) -> zipfile.ZipFile:
    """The archive, opened for reading; ``PackArchiveError`` if too large or no ZIP."""
    try:
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        if size > MAX_ARCHIVE_BYTES:
            raise PackArchiveError(f"the archive has {size} bytes; the most is {MAX_ARCHIVE_BYTES}")
        return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        raise PackArchiveError(f"not a readable pack archive: {error}") from error


def checked_members(
    archive: zipfile.ZipFile, limits: ArchiveLimits
) -> list[tuple[ArchiveMember, zipfile.ZipInfo]]:
    """Every member, checked (name, type, sizes, clashes), with the entry to read it by."""
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
    refuse_clashes((member.name, member.is_folder) for member in members)
    return checked


def _checked_member(info: zipfile.ZipInfo) -> ArchiveMember:
    is_folder = info.filename.endswith("/")
    name = check_member_name(info.filename.removesuffix("/") if is_folder else info.filename)
    if info.flag_bits & 0x1:
        raise PackArchiveError(f"{name} is encrypted in the archive")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise PackArchiveError(f"{name} uses an unsupported compression ({info.compress_type})")
    kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == UNIX_SYSTEM else 0
    allowed = (0, stat.S_IFDIR) if is_folder else (0, stat.S_IFREG)
    if kind not in allowed:
        raise PackArchiveError(f"{name} is a link or special file in the archive; refused")
    if is_folder and info.file_size:
        raise PackArchiveError(f"{name} is a folder with content in the archive")
    return ArchiveMember(name, info.file_size, is_folder)


def refuse_clashes(members: Iterable[tuple[str, bool]]) -> None:
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
