"""Small file helpers shared by the pack installer: hashing and atomic writes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from inference.errors import ChecksumMismatchError

_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_checked(path: Path, expected: str, what: str) -> bytes:
    """The whole of ``path``, which must hash to ``expected``.

    Read once, so that the bytes checked are the bytes used: hashing a file and then letting
    another reader open it by name again would use, unchecked, a file replaced in between.
    """
    data = path.read_bytes()
    actual = sha256_hex(data)
    if actual != expected:
        raise ChecksumMismatchError(
            f"{what}: sha256 of {path} is {actual}, expected {expected}; it is not loaded"
        )
    return data


def check_sha256(path: Path, expected: str, what: str, shown_as: str | None = None) -> None:
    """Raise if ``path`` does not hash to ``expected``; the message names ``shown_as``
    (default: the file's name), for a temporary copy of a file the user must replace."""
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumMismatchError(
            f"{what}: sha256 of {shown_as or path.name} is {actual}, expected {expected}"
        )


@contextlib.contextmanager
def temporary_sibling(final: Path) -> Iterator[Path]:
    """A temporary path next to ``final``, removed unless it was moved into place.

    Writing next to the destination keeps ``os.replace`` atomic (same file system), and
    the ``finally`` removes the partial file on any error, Ctrl-C included (not on SIGTERM:
    see ``remove_leftover_temporaries``). An ``OSError`` about writing it names ``final``.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    # Named before it exists, made inside the ``try``: a Ctrl-C the instant after it is
    # made (mkstemp would return first) still finds the ``finally`` that removes it.
    temporary = final.parent / f".{final.name}.{secrets.token_hex(8)}.part"
    ours = True
    try:
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            ours = False  # another's file of that name, never ours to remove
            raise
        yield temporary
    except OSError as exc:
        raise _naming_final(exc, temporary, final) from exc
    finally:
        if ours:
            temporary.unlink(missing_ok=True)


def _naming_final(exc: OSError, temporary: Path, final: Path) -> OSError:
    """``exc`` as the user should read it: a failed ``write()`` names no file, and the
    temporary is gone by the time anyone reads the message; ``final`` is what was being
    written. An error about some other file (a source being read) is left as it is."""
    named = {exc.filename, exc.filename2} - {None}
    if named and str(temporary) not in named:
        return exc
    return OSError(exc.errno, exc.strerror or str(exc), str(final))


def remove_leftover_temporaries(folder: Path) -> int:
    """Remove the temporaries ``temporary_sibling`` made directly in ``folder``; the count.

    SIGTERM or SIGHUP end the process without running ``finally``, so an install stopped
    that way leaves its partial files behind. Only call this under the pack's install lock:
    a running install's temporaries look just the same.
    """
    leftovers = list(folder.glob(".*.part")) if folder.is_dir() else []
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def replace_durably(temporary: Path, final: Path) -> None:
    """Flush ``temporary`` to disk and move it over ``final`` in one step, with the mode
    any new file gets: ``mkstemp`` makes it private (0600) and the move keeps that, so a
    pack built by root or an admin could not be read by the user the app runs as."""
    temporary.chmod(0o666 & ~_umask())
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    temporary.replace(final)
    fsync_directory(final.parent)


def _umask() -> int:
    # os.umask can only read the mask by setting it, which races with any other thread
    # creating a file meanwhile; Linux shows it without changing it.
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json_atomically(data: object, final: Path) -> None:
    with temporary_sibling(final) as temporary:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        replace_durably(temporary, final)


def sync_folder(folder: Path) -> None:
    """Flush every file directly in ``folder``, then the folder's own entries, to disk: a
    folder about to be renamed into place must not hold names whose contents a power cut
    would lose."""
    for path in folder.iterdir():
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    fsync_directory(folder)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
