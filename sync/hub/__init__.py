"""The central hub: a Django project over PostgreSQL with pgvector, served by gunicorn.

Devices push their outbox and pull their site's change log through a small JSON API whose
schemas are ``sync.protocol``; operators use the Django admin (devices, people with
erasure, the fish review queue, species packs). ``jaga hub run`` starts it
(``sync.hub.cli``); ``sync.hub.search`` is the 1:N template search across sites.
"""
