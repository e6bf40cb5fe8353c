"""Development tools: reference comparisons and measurements (not part of the app)."""
