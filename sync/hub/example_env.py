"""What packaging/systemd/hub.env.example holds in place of each secret it names.

The file is public (it ships in the repository), so a value that still holds its placeholder
guards nothing: the metrics token and ``DATABASE_URL``'s password are refused while they
do (``sync.hub.metrics_http``, ``sync.hub.dburl``).
"""

from __future__ import annotations

PLACEHOLDER = "CHANGE-ME"


def holds_placeholder(value: str) -> bool:
    """Whether ``value`` still holds the example's placeholder (in any case)."""
    return PLACEHOLDER.lower() in value.lower()
