"""Every environment variable ``jaga`` reads is named in the README.

``main`` lists them all (it checks each is UTF-8, or holds a path); one the README never names
is a setting nobody can find. Only the variable ``jaga`` sets for itself is left out.
"""

from __future__ import annotations

import re
from pathlib import Path

from main import PATH_VARIABLES, TEXT_VARIABLES

README = Path(__file__).resolve().parents[1] / "README.md"
# Set by the hub's own start for its child processes (sync.hub.bootstrap), not by a user.
INTERNAL = {"JAGA_HUB_THROWAWAY_KEY"}


def test_the_readme_names_every_variable_jaga_reads() -> None:
    named = set(re.findall(r"\b(?:JAGA_[A-Z0-9_]*[A-Z0-9]|DATABASE_URL)\b", README.read_text()))
    missing = (TEXT_VARIABLES | PATH_VARIABLES) - INTERNAL - named
    assert not missing, f"not in the README: {sorted(missing)}"
