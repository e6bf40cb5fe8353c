"""What packaging/systemd/hub.env.example holds in place of each secret it names.

The file is public (it ships in the repository), so a value that is still its placeholder
guards nothing: the metrics token and ``DATABASE_URL``'s password are refused while they
are (``sync.hub.metrics_http``, ``sync.hub.dburl``). Only the whole value is compared (in
any case): a real password that happens to contain the word (``Exchange-Meter-7Qz!``) is
the operator's own.
"""

from __future__ import annotations

PLACEHOLDER = "CHANGE-ME"
METRICS_TOKEN_PLACEHOLDER = "CHANGE-ME-to-a-long-random-token"


def is_placeholder(value: str, placeholder: str = PLACEHOLDER) -> bool:
    """Whether ``value`` is still the example's ``placeholder`` (in any case)."""
    return value.casefold() == placeholder.casefold()
