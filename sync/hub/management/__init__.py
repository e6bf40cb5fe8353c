"""The hub's Django management commands (``jaga hub manage NAME``)."""
