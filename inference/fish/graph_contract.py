"""The species pack's ONNX names, apart from the code that builds the graph.

``export`` builds packs with ``onnx`` (the ``models`` extra); ``classify`` runs them with ONNX
Runtime alone. Keeping the names here lets a device without the extra import the classifier.
"""

from __future__ import annotations

INPUT_NAME = "input"
FEATURES = "features"
SPECIES_LOGITS = "species_logits"
PROBABILITIES = "probabilities"
OUTPUTS = (FEATURES, SPECIES_LOGITS, PROBABILITIES)
