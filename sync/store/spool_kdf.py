"""The catch spool's key: derived from the store's key, so that holding it yields no more.

The Catch panel holds the spool's key for as long as it runs (``sync.store.spool_key``):
a memory dump of the panel must not give the store's key with it. The spool is therefore
encrypted under HKDF-SHA256 (RFC 5869) of the store's key, with a fixed, versioned ``info``:
one-way (the spool's key never gives the store's back) and the same for every holder of the
store's key, so the store's key change, backup and restore move the spool as before. The
store's key is 256 random bits or scrypt's output, so no salt is needed (RFC 5869, 3.1:
HashLen zeros). An earlier release kept the spool under the store's raw key:
``pending_catches`` re-encrypts such a spool at its first open with the store's key.
"""

from __future__ import annotations

import hashlib
import hmac

from sync.store.key_memory import KEY_BYTES

# Versioned: a later format of the spool's key is another ``info``, never another meaning.
SPOOL_KEY_INFO = b"jaga spool v2"
_HASH = hashlib.sha256


def spool_key_from(store_key: bytes) -> bytes:
    """The spool's key for the store whose key is ``store_key``."""
    if len(store_key) != KEY_BYTES:
        raise ValueError(f"a store key is {KEY_BYTES} bytes, not {len(store_key)}")
    return hkdf_sha256(store_key, salt=b"", info=SPOOL_KEY_INFO, length=KEY_BYTES)


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869's extract-then-expand with SHA-256 (``cryptography`` is no dependency)."""
    size = _HASH().digest_size
    if not 0 < length <= 255 * size:
        raise ValueError(f"HKDF-SHA256 gives 1 to {255 * size} bytes, not {length}")
    prk = hmac.new(salt or bytes(size), ikm, _HASH).digest()
    block, okm = b"", b""
    for counter in range(1, -(-length // size) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), _HASH).digest()
        okm += block
    return okm[:length]
