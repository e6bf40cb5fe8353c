"""Counts in messages: "1 person", "2 people", never "1 people"."""

from __future__ import annotations


def counted(count: int, one: str, many: str | None = None) -> str:
    """``count`` with the noun it counts: ``one`` for exactly 1, else ``many`` (``one`` and
    an s, where not given)."""
    return f"{count} {one if count == 1 else many or one + 's'}"


def people(count: int) -> str:
    return counted(count, "person", "people")


def entries(count: int) -> str:
    return counted(count, "entry", "entries")


def audit_entries(count: int) -> str:
    return counted(count, "audit entry", "audit entries")


def catches(count: int) -> str:
    return counted(count, "catch", "catches")
