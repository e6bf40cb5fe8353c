"""An operator's action on many things, told in audit entries small enough to travel.

One entry listing every item of a large action (``requeue --all``, ``retry-uploads --all``)
would outgrow what an audit entry may carry to the hub, and the chain could be anchored no
further than it: such an action is told in parts, each naming its number and how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def audit_parts(
    items: Sequence[Any], per_entry: int, *, counted: str, listed: str
) -> list[dict[str, Any]]:
    """The details of the entries telling an action on ``items``: one listing them all up to
    ``per_entry`` (``{counted: N, listed: items}``), else one per part, each with ``part``
    and ``parts``; none for an action on nothing."""
    parts = [list(items[start : start + per_entry]) for start in range(0, len(items), per_entry)]
    if len(parts) == 1:
        return [{counted: len(items), listed: parts[0]}]
    return [
        {counted: len(items), "part": number, "parts": len(parts), listed: part}
        for number, part in enumerate(parts, start=1)
    ]
