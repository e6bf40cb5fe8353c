"""The kiosk's one error: something an operator can fix, said in one line."""

from __future__ import annotations


class KioskError(Exception):
    """A photo, an identity or a source the kiosk cannot use; the message names it and what
    is wrong. Nothing was written."""
