"""Schema version 16: an access decision recorded while registered with another hub.

A decision is the hub's it was recorded for, like its outbox entry (``outbox.for_hub``,
schema 15). Acknowledged, the entry goes, but the decision stays until retention deletes it,
and a restored hub's renewal queues the site's decisions again (``sync.store.resend``): after
a move to another hub whose site has the same slug, it would queue the old hub's decisions
for the new one. A registration with another hub stamps the decisions recorded so far with
the old hub (``sync.store.outbox_hub``); a renewal queues only decisions with no stamp, and a
registration back with that hub clears it. NULL, every decision before this version.
"""

SQL = """
ALTER TABLE access_events ADD COLUMN for_hub TEXT;
"""
