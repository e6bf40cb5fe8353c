"""The keys of the files kept beside a store, derived from the store's key, so that holding
one yields no more: the catch spool's, and the kiosk's journal of waiting decisions'.

The Catch panel holds the spool's key for as long as it runs (``sync.store.spool_key``):
a memory dump of the panel must not give the store's key with it. The spool is therefore
encrypted under HKDF-SHA256 (RFC 5869) of the store's key, with a fixed, versioned ``info``:
one-way (the spool's key never gives the store's back) and the same for every holder of the
store's key, so the store's key change, backup and restore move the spool as before. The
store's key is 256 random bits or scrypt's output, so no salt is needed (RFC 5869, 3.1:
HashLen zeros). An earlier release kept the spool under the store's raw key:
``pending_catches`` re-encrypts such a spool at its first open with the store's key. The
kiosk holds its journal's key the same way, for the same reason (``kiosk_journal``): its own
``info``, so that neither file's key opens the other.
"""

from __future__ import annotations

import hashlib
import hmac

from sync.store.key_memory import KEY_BYTES, wipe

# Versioned: a later format of a file's key is another ``info``, never another meaning.
SPOOL_KEY_INFO = b"jaga spool v2"
JOURNAL_KEY_INFO = b"jaga kiosk journal v2"
_HASH = hashlib.sha256


def spool_key_from(store_key: bytes) -> bytes:
    """The spool's key for the store whose key is ``store_key``."""
    return derived_key(store_key, SPOOL_KEY_INFO)


def journal_key_from(store_key: bytes) -> bytes:
    """The kiosk journal's key for the store whose key is ``store_key``."""
    return derived_key(store_key, JOURNAL_KEY_INFO)


def derived_key(store_key: bytes, info: bytes) -> bytes:
    """The key of the file beside the store that ``info`` names."""
    if len(store_key) != KEY_BYTES:
        raise ValueError(f"a store key is {KEY_BYTES} bytes, not {len(store_key)}")
    return hkdf_sha256(store_key, salt=b"", info=info, length=KEY_BYTES)


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
    wipe(prk)  # it gives every key derived from ``ikm``: not left in freed memory
    return okm[:length]  # one block (a key's 32 bytes): ``okm`` itself, not a copy
