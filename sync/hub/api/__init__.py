"""The device API: DRF views over ``sync.protocol`` schemas, JSON errors with reasons."""
