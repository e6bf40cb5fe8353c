"""An operator's passphrase, held in one buffer that can be overwritten.

A ``str`` cannot be overwritten: every copy of the passphrase Python made (the one the
environment gave, each one handed to scrypt) stayed in the process's memory until reused,
and the app held its own for as long as it ran (``tests/desktop/test_catch_closed_memory``
found them). So a ``Passphrase`` keeps the text as UTF-8 in a ``bytearray``, and every part
of the app that opens the store holds the same object: ``forget`` overwrites it once, for
all of them, when the app quits. The text is made only while a key is derived from it
(``revealed``), and overwritten at once after (``sync.store.key_memory.overwrite``).

What this does not reach: a ``str`` the caller built it from (a prompt's answer, a test's
constant) is the caller's; the copies OpenSSL's scrypt makes of its input (none was found).
"""

from __future__ import annotations

import hmac
from types import TracebackType

from sync.errors import KeySourceError
from sync.store.key_memory import overwrite, wipe, zero

FORGOTTEN = "the passphrase was forgotten: the app is quitting, or the store was locked"


class Passphrase:
    """An operator's passphrase, as typed (each key slot says how it is normalised). Its repr
    never shows the secret; two are equal when their texts are."""

    __slots__ = ("_utf8",)
    __hash__ = None  # type: ignore[assignment]  # mutable: forgetting changes it

    def __init__(self, secret: str | bytes | bytearray) -> None:
        if isinstance(secret, str):
            try:
                encoded = secret.encode("utf-8")
            except UnicodeEncodeError:  # surrogates: an environment that was not UTF-8
                raise KeySourceError("the passphrase is not UTF-8 text") from None
            self._utf8 = bytearray(encoded)
            wipe(encoded)
        else:
            self._utf8 = bytearray(secret)
        if not self._utf8:
            raise KeySourceError("the passphrase is empty")

    def __repr__(self) -> str:
        return "Passphrase()"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Passphrase):
            return NotImplemented
        return hmac.compare_digest(self._utf8, other._utf8)

    def revealed(self) -> Revealed:
        """The text, for the ``with`` block only: overwritten when it ends, so it is to be
        neither kept nor used after. :class:`KeySourceError` once it was forgotten."""
        return Revealed(self._utf8)

    def forget(self) -> None:
        """Overwrite the passphrase: every holder of this object can no longer open a store."""
        zero(self._utf8)

    @property
    def forgotten(self) -> bool:
        return not self._utf8


class Revealed:
    """``Passphrase.revealed``'s context manager."""

    def __init__(self, utf8: bytearray) -> None:
        self._utf8 = utf8
        self._text: str | None = None

    def __enter__(self) -> str:
        if not self._utf8:
            raise KeySourceError(FORGOTTEN)
        text = self._utf8.decode("utf-8")
        self._text = text
        return text

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        text, self._text = self._text, None
        if text is not None:
            overwrite(text)
