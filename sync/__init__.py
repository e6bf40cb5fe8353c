"""Records at rest and in transit: the encrypted store, the outbox, the wire protocol, sync."""
