"""A store's pages as SQLCipher 4 writes them, decrypted with the store's raw key: what the
file and its write-ahead log still hold, free pages and old WAL frames included, where no SQL
reaches. (AES-256-CBC through libcrypto, which SQLCipher itself uses.)"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

PAGE_SIZE = 4096
_RESERVED = 80  # per page: a 16-byte IV, then a 64-byte HMAC
_SALT = 16  # the first page starts with the file's salt, not ciphertext
_WAL_HEADER, _FRAME_HEADER = 32, 24

_crypto = ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3")
_crypto.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
_crypto.EVP_aes_256_cbc.restype = ctypes.c_void_p
_crypto.EVP_DecryptInit_ex.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_char_p] * 2
_crypto.EVP_CIPHER_CTX_set_padding.argtypes = [ctypes.c_void_p, ctypes.c_int]
_crypto.EVP_DecryptUpdate.argtypes = [
    ctypes.c_void_p,
    ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_int),
    ctypes.c_char_p,
    ctypes.c_int,
]
_crypto.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]


def _decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    context = _crypto.EVP_CIPHER_CTX_new()
    try:
        _crypto.EVP_DecryptInit_ex(context, _crypto.EVP_aes_256_cbc(), None, key, iv)
        _crypto.EVP_CIPHER_CTX_set_padding(context, 0)
        out, written = ctypes.create_string_buffer(len(data) + 32), ctypes.c_int(0)
        _crypto.EVP_DecryptUpdate(context, out, ctypes.byref(written), data, len(data))
        return out.raw[: written.value]
    finally:
        _crypto.EVP_CIPHER_CTX_free(context)


def _page(key: bytes, raw: bytes, first: bool) -> bytes:
    iv = raw[PAGE_SIZE - _RESERVED : PAGE_SIZE - _RESERVED + 16]
    return _decrypt(key, iv, raw[_SALT if first else 0 : PAGE_SIZE - _RESERVED])


def file_pages(key: bytes, db: Path) -> list[bytes]:
    content = db.read_bytes()
    return [
        _page(key, content[at : at + PAGE_SIZE], at == 0)
        for at in range(0, len(content) - PAGE_SIZE + 1, PAGE_SIZE)
    ]


def wal_pages(key: bytes, db: Path) -> list[bytes]:
    wal = db.with_name(db.name + "-wal")
    content = wal.read_bytes() if wal.exists() else b""
    found, at = [], _WAL_HEADER
    while at + _FRAME_HEADER + PAGE_SIZE <= len(content):
        number = int.from_bytes(content[at : at + 4], "big")
        start = at + _FRAME_HEADER
        found.append(_page(key, content[start : start + PAGE_SIZE], number == 1))
        at = start + PAGE_SIZE
    return found


def pages_holding(key: bytes, db: Path, needle: bytes) -> tuple[int, int]:
    """How many pages of the file, and of its WAL, hold ``needle``."""
    return (
        sum(needle in page for page in file_pages(key, db)),
        sum(needle in page for page in wal_pages(key, db)),
    )
