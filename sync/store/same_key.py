"""A key change to the key the store already has is refused before anything is written.

An operator who types the current passphrase again (or names a copy of the current key
file) meant another key: a change that "succeeded" would leave them believing an old,
perhaps leaked, key no longer opens the store. Two cases still change something and are
taken: a legacy slot, which derives from the passphrase as typed (the same passphrase
normalises it, ``sync.store.keys``), and another scrypt cost for the same passphrase (the
only way to raise it).
"""

from __future__ import annotations

from sync.errors import SameKeyError, WrongKeyError
from sync.store.keys import NORMALIZATION, KeyHeader, KeySource, unlock_slot
from sync.store.passphrase import Passphrase


def refuse_same_key(header: KeyHeader, new_source: KeySource, scrypt_n: int) -> None:
    """:class:`SameKeyError` when ``new_source`` yields the store's current key and the
    change would derive it the same way."""
    current = header.current
    if current.kind != ("passphrase" if isinstance(new_source, Passphrase) else "key_file"):
        return  # from a passphrase to a key file, or back: a change
    if isinstance(new_source, Passphrase) and (
        current.normalization != NORMALIZATION
        or current.scrypt is None
        or current.scrypt.n != scrypt_n
    ):
        return
    try:
        unlock_slot(current, new_source)
    except WrongKeyError:
        return
    if isinstance(new_source, Passphrase):
        raise SameKeyError("the new passphrase is the store's passphrase already: nothing changed")
    raise SameKeyError(
        f"the new key file holds the store's key already ({new_source.path}): nothing changed"
    )
