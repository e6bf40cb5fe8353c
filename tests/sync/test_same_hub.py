"""Two registrations are one hub when both hubs' ids are known and equal, whatever their
addresses; either unknown (a hub before ids, a registration saved before), the address
decides as it did (``sync.store.hub_keys.same_hub``)."""

from __future__ import annotations

import pytest

from sync.store.hub_keys import hub_stamp, same_hub

X, Y = "6f9a0c1e-1111-4a2b-8c3d-000000000001", "6f9a0c1e-1111-4a2b-8c3d-000000000002"


@pytest.mark.parametrize(
    ("old", "new", "same"),
    [
        (("https://hub.example", X), ("https://hub2.example:8443", X), True),  # moved
        (("https://hub.example", X), ("https://hub.example", Y), False),  # another at the address
        (("https://hub.example", None), ("https://HUB.example:443/", X), True),  # address
        (("https://hub.example", X), ("https://hub2.example", None), False),  # address
        (("https://hub.example", X.upper()), ("https://hub2.example", X), True),
    ],
)
def test_hubs_are_told_apart_by_id_else_by_address(
    old: tuple[str, str | None], new: tuple[str, str | None], same: bool
) -> None:
    assert same_hub(*old, *new) is same


def test_a_stamp_names_the_hub_by_id_when_known() -> None:
    assert hub_stamp("https://HUB.example", X) == X
    assert hub_stamp("https://HUB.example", None) == "https://hub.example:443"
