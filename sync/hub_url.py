"""A hub's URL as ``jaga sync register`` keeps it, for the store and for what is said."""

from __future__ import annotations


def kept_hub_url(url: str) -> str:
    """``url`` without its trailing slashes, as ``jaga sync register`` keeps it
    (``sync.client.config.check_hub_url``): one typed with a slash and one read back from a
    store print alike. Whether two URLs name one hub is ``sync.store.hub_keys.hub_key``'s
    question (case and default port too)."""
    return url.rstrip("/")
