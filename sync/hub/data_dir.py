"""Where the hub keeps its data folder unless told (``--data``): Django's secret key, the
erasure journal, published species packs, the embedded database."""

from __future__ import annotations

from pathlib import Path

import platformdirs


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("jaga")) / "hub"
