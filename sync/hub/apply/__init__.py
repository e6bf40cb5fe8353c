"""Applying pushed outbox entries: idempotency, conflict rules, and the change log.

``push.apply_batch`` is the entry point; one module per entity family holds the rules.
"""
