"""Where the store's key comes from, and the plaintext key header beside the database.

The database key is 32 random-looking bytes handed to SQLCipher as a *raw* key, so SQLCipher
skips its own PBKDF2 and the cost of guessing lives in one place we chose:

* a **passphrase** goes through scrypt (memory-hard; in the standard library) with a random
  salt; the salt and the cost parameters are stored in the header;
* a **key file** (written by ``jaga store init --create-key-file``) holds the key itself, as 64
  hex characters; the deployment protects the file (mode 0600, a TPM-sealed mount, ...).

The header ``<store>.kdf.json`` holds no secret: the KDF parameters and a *key check*, an HMAC
of a constant under the derived key. The check lets a wrong key be told apart from a damaged
or foreign file without touching the database. It gives an attacker nothing the encrypted
first page does not already give (both need one scrypt run per guess).

A passphrase is normalised before scrypt, because one passphrase reaches us as different code
points from different keyboards and systems ("é" as U+00E9 or as "e" + U+0301, Hangul as
syllables or conjoining jamo, a space as U+0020 or a no-break space). The rule is the mapping
of RFC 8265's OpaqueString profile, the IETF's profile for passwords: every non-ASCII space
(general category Zs) becomes U+0020, then NFC. NFC only joins canonically equivalent text, the
same characters however encoded; NFKC or NFKD (SASLprep, NIST SP 800-63B) would also fold
characters a user may mean, "²" into "2", full width into half width. A slot written this way
says so in the header (``"normalization": "opaque-string"`` in its ``kdf``); a slot without the
field predates the rule and derives from the code points as typed, so every store and backup
made before still opens with what its owner always typed (and, failing that, with its NFC and
NFD forms: one more scrypt run each, only for a passphrase those change). ``jaga store rekey``,
even to the same passphrase, writes a normalised slot.

A passphrase change writes the new slot as ``pending`` before re-encrypting, so a crash in
between leaves a header that still opens the database with whichever key it really has.

What scrypt may cost on this machine (the bounds a slot's parameters are checked against) is
``sync.store.scrypt_cost``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from sync.durable import replace_private
from sync.errors import KeySourceError, NotAStoreError, StoreIOError, WrongKeyError
from sync.regular_file import read_small_file
from sync.store.key_memory import KEY_BYTES, overwrite, wipe
from sync.store.passphrase import Passphrase
from sync.store.scrypt_cost import MAX_SCRYPT_MEMORY, SCRYPT_R, check_scrypt_cost, scrypt_memory

_log = logging.getLogger(__name__)

HEADER_FORMAT = "jaga-store-key-header"
HEADER_VERSION = 1
_KEY_CHECK_LABEL = b"jaga-store key check v1"

SourceKind = Literal["passphrase", "key_file"]
# How a slot turns the typed passphrase into scrypt's input; a slot without one is as typed.
Normalization = Literal["opaque-string"]
NORMALIZATION: Normalization = "opaque-string"


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost and salt. The default (N=2^17, r=8, p=1: 128 MiB) follows OWASP's advice."""

    salt: bytes
    n: int = 2**17
    r: int = SCRYPT_R
    p: int = 1

    def __post_init__(self) -> None:
        check_scrypt_cost(self.n, self.r, self.p)
        if len(self.salt) < 16:
            raise ValueError("scrypt salt must be at least 16 bytes")

    @classmethod
    def fresh(cls, n: int = 2**17, r: int = SCRYPT_R, p: int = 1) -> ScryptParams:
        """New parameters with a random salt."""
        return cls(salt=secrets.token_bytes(16), n=n, r=r, p=p)

    def derive(self, passphrase: str) -> bytes:
        """scrypt over these exact code points: normalising is the slot's rule, not this."""
        memory = scrypt_memory(self.n, self.r, self.p)  # at most MAX_SCRYPT_MEMORY: checked
        encoded = passphrase.encode("utf-8")
        try:
            return hashlib.scrypt(
                encoded,
                salt=self.salt,
                n=self.n,
                r=self.r,
                p=self.p,
                maxmem=min(memory + 1024 * 1024, MAX_SCRYPT_MEMORY),
                dklen=KEY_BYTES,
            )
        finally:
            wipe(encoded)  # not left in freed memory (``sync.store.key_memory``)


@dataclass(frozen=True)
class KeyFile:
    """A file holding the raw key as 64 hex characters."""

    path: Path


KeySource = Passphrase | KeyFile


@dataclass(frozen=True)
class KeySlot:
    """How one key is obtained, and its check value."""

    kind: SourceKind
    key_check: str
    scrypt: ScryptParams | None = None
    normalization: Normalization | None = None  # None: the passphrase as typed (legacy)


@dataclass(frozen=True)
class KeyHeader:
    """The plaintext header: the current key slot and, during a rekey, the pending one."""

    current: KeySlot
    pending: KeySlot | None = None


HEADER_SUFFIX = ".kdf.json"
# A key file is 64 hex characters and a newline; twice that leaves room for an editor's CRLF
# and spaces, and refuses by its size, unread, a video or a backup named by mistake.
MAX_KEY_FILE_BYTES = 128
# A header is a few hundred bytes; one far larger is not ours (and is not read whole).
MAX_HEADER_BYTES = 64 * 1024


def header_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + HEADER_SUFFIX)


def create_key_file(path: Path) -> KeyFile:
    """Write a new random key file readable by its owner only; refuse to overwrite one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeySourceError(f"key file {path} already exists; not overwriting it") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return KeyFile(path)


def new_slot(source: KeySource, scrypt_n: int = 2**17) -> tuple[KeySlot, bytes]:
    """A fresh slot (new salt for a passphrase) and the key it yields."""
    if isinstance(source, Passphrase):
        params = ScryptParams.fresh(n=scrypt_n)
        with source.revealed() as secret:
            normalized = normalize_passphrase(secret)
            try:
                key = params.derive(normalized)
            finally:
                if normalized is not secret:  # the secret is ``revealed``'s to overwrite
                    overwrite(normalized)
        return KeySlot("passphrase", _key_check(key), params, NORMALIZATION), key
    key = _read_key_file(source.path)
    return KeySlot("key_file", _key_check(key)), key


def normalize_passphrase(secret: str) -> str:
    """RFC 8265 OpaqueString's mapping: non-ASCII spaces to U+0020, then NFC."""
    spaced = "".join(" " if unicodedata.category(c) == "Zs" else c for c in secret)
    normalized = unicodedata.normalize("NFC", spaced)
    if normalized is not spaced:  # a copy of a passphrase: not left in freed memory
        overwrite(spaced)
    return normalized


def same_passphrase(first: str, second: str) -> bool:
    """Whether two typings are one passphrase under the rule new slots derive with."""
    return normalize_passphrase(first) == normalize_passphrase(second)


def unlock_slot(slot: KeySlot, source: KeySource) -> bytes:
    """The key this source yields for ``slot``; WrongKeyError if the check does not match."""
    for key in _keys_for(slot, source):
        if hmac.compare_digest(_key_check(key), slot.key_check):
            return key
    raise WrongKeyError(_wrong_key_message(slot))


def unlock(header: KeyHeader, source: KeySource) -> list[tuple[bytes, KeyHeader]]:
    """Keys this source yields, each with the header to keep if the database opens with it.

    Normally one key. After an interrupted rekey the source may match the pending slot; the
    caller tries each candidate against the database and rewrites the header to the winner.
    """
    candidates: list[tuple[bytes, KeyHeader]] = []
    errors: list[WrongKeyError | KeySourceError] = []
    for slot in (header.current, header.pending):
        if slot is None:
            continue
        if slot.kind != source_kind(source):
            # A change between a passphrase and a key file leaves one slot of each kind: the
            # other kind's slot is simply not this source's, never a reason to stop.
            errors.append(KeySourceError(_other_kind_message(slot)))
            continue
        try:
            candidates.append((unlock_slot(slot, source), KeyHeader(current=slot)))
        except WrongKeyError as error:
            errors.append(error)
    if not candidates:
        raise errors[0]
    return candidates


def source_kind(source: KeySource) -> SourceKind:
    return "passphrase" if isinstance(source, Passphrase) else "key_file"


def with_pending(header: KeyHeader, slot: KeySlot) -> KeyHeader:
    return replace(header, pending=slot)


def read_header(db_path: Path) -> KeyHeader:
    path = header_path(db_path)
    try:
        document = json.loads(
            read_small_file(path, "a key header", MAX_HEADER_BYTES, NotAStoreError).decode()
        )
    except FileNotFoundError:
        raise NotAStoreError(
            f"{db_path} has no key header ({path.name}): not a Jaga store, or the header was lost"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NotAStoreError(f"{path} is not a readable Jaga key header: {error}") from None
    try:
        return _header_from_json(document)
    except (KeyError, TypeError, ValueError) as error:
        raise NotAStoreError(
            f"{path} is not a valid Jaga key header (damaged, or not one): {error!r}"
        ) from None


def write_header(db_path: Path, header: KeyHeader) -> None:
    """Replace the header atomically (temp file, fsync, rename, fsync the folder).

    The temporary file is made anew (0600), never opened through what is at its name: in a
    folder others may write to (a USB stick, /tmp), a link planted there would otherwise
    have the header written over the file it points to.
    """
    path = header_path(db_path)
    text = json.dumps(_header_to_json(header), indent=2, sort_keys=True) + "\n"
    try:
        replace_private(path, text)
    except OSError as error:
        raise StoreIOError(f"cannot write the key header {path}: {error}") from error


def _keys_for(slot: KeySlot, source: KeySource) -> Iterator[bytes]:
    """The keys ``source`` may give for a slot of its own kind (``unlock`` passes others
    over), most likely first; derived one at a time, as the caller asks for the next."""
    if isinstance(source, KeyFile):
        yield _read_key_file(source.path)
        return
    if slot.scrypt is None:  # a passphrase slot always has its parameters (_slot_from_json)
        raise KeySourceError(_other_kind_message(slot))
    with source.revealed() as secret:
        texts = _scrypt_inputs(slot, secret)
        try:
            for text in texts:
                yield slot.scrypt.derive(text)
        finally:  # the forms made of it: the secret itself is ``revealed``'s to overwrite
            for made in texts:
                if made is not secret:
                    overwrite(made)


def _scrypt_inputs(slot: KeySlot, secret: str) -> tuple[str, ...]:
    if slot.normalization == NORMALIZATION:
        return (normalize_passphrase(secret),)
    # A legacy slot took the code points as typed when it was made: try those first, then
    # the forms another system may have delivered the same text in (no extra run when the
    # passphrase has none, as an ASCII one).
    forms = (secret, unicodedata.normalize("NFC", secret), unicodedata.normalize("NFD", secret))
    return tuple(dict.fromkeys(forms))


def _other_kind_message(slot: KeySlot) -> str:
    if slot.kind == "passphrase":
        return "this store is opened with a passphrase, not a key file"
    return "this store is opened with a key file (--key-file), not a passphrase"


def _read_key_file(path: Path) -> bytes:
    try:
        data = read_small_file(path, "a key file", MAX_KEY_FILE_BYTES, KeySourceError)
        text = data.decode("ascii").strip()
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as error:
        raise KeySourceError(f"cannot read key file {path}: {error}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise KeySourceError(f"key file {path} must hold {KEY_BYTES * 2} hex characters")
    if mode & 0o077:
        _log.warning("key file %s is readable by other users (mode %o)", path, mode & 0o777)
    return key


def _key_check(key: bytes) -> str:
    return hmac.new(key, _KEY_CHECK_LABEL, hashlib.sha256).hexdigest()[:32]


def _wrong_key_message(slot: KeySlot) -> str:
    what = "passphrase" if slot.kind == "passphrase" else "key file"
    return f"wrong {what}: it does not open this store (nothing was changed)"


def _slot_to_json(slot: KeySlot) -> dict[str, Any]:
    document: dict[str, Any] = {"kind": slot.kind, "key_check": slot.key_check}
    if slot.scrypt is not None:
        document["kdf"] = {
            "name": "scrypt",
            "salt": base64.b64encode(slot.scrypt.salt).decode("ascii"),
            "n": slot.scrypt.n,
            "r": slot.scrypt.r,
            "p": slot.scrypt.p,
        }
        if slot.normalization is not None:
            document["kdf"]["normalization"] = slot.normalization
    return document


def _slot_from_json(document: dict[str, Any]) -> KeySlot:
    kind = document["kind"]
    if kind not in ("passphrase", "key_file"):
        raise ValueError(f"unknown key kind {kind!r}")
    scrypt, normalization = None, None
    if kind == "passphrase":
        kdf = document["kdf"]
        if kdf["name"] != "scrypt":
            raise ValueError(f"unknown KDF {kdf['name']!r}")
        salt = base64.b64decode(kdf["salt"], validate=True)
        scrypt = ScryptParams(salt=salt, n=int(kdf["n"]), r=int(kdf["r"]), p=int(kdf["p"]))
        normalization = kdf.get("normalization")
        if normalization not in (None, NORMALIZATION):
            raise ValueError(f"unknown passphrase normalization {normalization!r}")
    return KeySlot(kind, str(document["key_check"]), scrypt, normalization)


def _header_to_json(header: KeyHeader) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": HEADER_FORMAT,
        "version": HEADER_VERSION,
        "current": _slot_to_json(header.current),
    }
    if header.pending is not None:
        document["pending"] = _slot_to_json(header.pending)
    return document


def _header_from_json(document: dict[str, Any]) -> KeyHeader:
    if document.get("format") != HEADER_FORMAT:
        raise ValueError("not a Jaga key header")
    if document.get("version") != HEADER_VERSION:
        raise ValueError(f"unsupported key header version {document.get('version')!r}")
    pending = document.get("pending")
    return KeyHeader(
        current=_slot_from_json(document["current"]),
        pending=_slot_from_json(pending) if pending is not None else None,
    )
