"""Schema version 17: a fish observation of another hub than the registered one.

A catch is the hub's it was recorded for or pulled from. The outbox holds the entries of
a catch recorded here for the hub they were queued for (``outbox.for_hub``, schema 15), but
a catch pulled from the hub (another boat's) has no entry: after a move to another hub, its
review would be queued with nothing to hold it, and go to the new hub, another
organisation's, which never had the catch, while the old hub never heard of the review. A
registration with another hub stamps the catches held so far with the old hub
(``sync.store.outbox_hub``); an entry queued about a stamped catch is held for that hub
(``sync.store.outbox.Outbox.hub_holding``), and a registration back with it clears the
stamp. NULL, every catch before this version: nothing kept says which hub a catch pulled
before a move came from.
"""

SQL = """
ALTER TABLE fish_observations ADD COLUMN for_hub TEXT;
"""
