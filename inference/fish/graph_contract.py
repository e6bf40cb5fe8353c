"""The species pack's ONNX names, apart from the code that builds the graph.

``export`` builds packs with ``onnx`` (the ``models`` extra); ``classify`` runs them with ONNX
Runtime alone. Keeping the names here lets a device without the extra import the classifier.
"""

from __future__ import annotations

INPUT_NAME = "input"
# The sides a pack may declare: EfficientNet-Lite reduces its input 32 times, so below 64 px
# its last stages see 2 x 2 pixels; above 512 a crop is only upsampled at more cost.
INPUT_SIZE_RANGE = (64, 512)
FEATURES = "features"
SPECIES_LOGITS = "species_logits"
PROBABILITIES = "probabilities"
OUTPUTS = (FEATURES, SPECIES_LOGITS, PROBABILITIES)
# [N]: the best cosine similarity of a crop's standardised features to the species
# prototypes (inference/fish/head.py); packs whose head carries prototypes give it, and
# fine-tuned packs, from their own features (inference/fish/finetune_familiarity.py).
FAMILIARITY = "familiarity"
# The backbone's outputs a head may read (inference.fish.taps), here so that `jaga fish`'s
# parser offers them without loading numpy.
LAST_BLOCK_DEPTHWISE = "last_block_depthwise"
KNOWN_TAPS = (FEATURES, LAST_BLOCK_DEPTHWISE)
DEFAULT_TAPS: tuple[str, ...] = (FEATURES, LAST_BLOCK_DEPTHWISE)


def input_names(sides: tuple[int, ...]) -> tuple[str, ...]:
    """The graph input of each side: ``input`` for the first (every pack has it), then
    ``input_<side>`` for the others (a combined pack of members trained at other sides)."""
    return (INPUT_NAME, *(f"{INPUT_NAME}_{side}" for side in sides[1:]))
